//! `ContextLog` installed as the global logger, fed by the `log` macros from
//! contexts, threads and tokio tasks. One test: the logger is process-wide.

use std::sync::{LazyLock, Mutex};

use contextvars::{Context, ContextVar};
use contextvars_tracing::{ContextFields, ContextLog};
use log::kv::{Error, Key, Value, VisitSource};
use log::{Log, Metadata, Record};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static TASK: ContextVar<usize> = ContextVar::new("task");

/// A record as the backend saw it: message and key-values.
type Line = (String, Vec<(String, String)>);

/// Keeps the message and key-values of every record, like a backend that
/// prints `message k=v…`.
struct Lines(Mutex<Vec<Line>>);

impl Log for Lines {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        struct Collect(Vec<(String, String)>);
        impl<'kvs> VisitSource<'kvs> for Collect {
            fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
                self.0.push((key.to_string(), value.to_string()));
                Ok(())
            }
        }
        let mut kvs = Collect(Vec::new());
        record.key_values().visit(&mut kvs).unwrap();
        self.0
            .lock()
            .unwrap()
            .push((record.args().to_string(), kvs.0));
    }

    fn flush(&self) {}
}

static LOGGER: LazyLock<ContextLog<Lines>> = LazyLock::new(|| {
    ContextLog::new(
        ContextFields::new().var(&REQUEST_ID).var(&TASK),
        Lines(Mutex::new(Vec::new())),
    )
});

fn take() -> Vec<Line> {
    std::mem::take(&mut *LOGGER.inner().0.lock().unwrap())
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn log_macros_see_the_context_in_contexts_threads_and_tasks() {
    log::set_logger(&*LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);

    // Contexts, a record's own key-values, a filtered-out level.
    Context::new().run(|| {
        log::info!("no context");
        Context::new().run(|| {
            REQUEST_ID.set("abc".into());
            log::info!(attempt = 2; "handled");
            log::debug!("filtered out");
        });
    });
    assert_eq!(
        take(),
        [
            ("no context".into(), vec![]),
            (
                "handled".into(),
                kv(&[("attempt", "2"), ("request_id", "abc")])
            ),
        ]
    );

    // Threads spawned in copies of the context.
    Context::new().run(|| {
        REQUEST_ID.set("parent".into());
        let handles: Vec<_> = (0..8)
            .map(|task| {
                contextvars::thread::spawn(move || {
                    TASK.set(task);
                    for _ in 0..50 {
                        log::info!("thread {task}");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    let lines = take();
    assert_eq!(lines.len(), 8 * 50);
    for (message, kvs) in lines {
        let task = message.strip_prefix("thread ").unwrap();
        assert_eq!(kvs, kv(&[("request_id", "parent"), ("task", task)]));
    }

    // Tokio tasks on a multi-thread runtime.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(contextvars_tokio::root(async {
        let handles: Vec<_> = (0..100)
            .map(|task| {
                contextvars_tokio::spawn(async move {
                    REQUEST_ID.set(format!("req-{task}"));
                    TASK.set(task);
                    for _ in 0..5 {
                        log::info!("task {task}");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    }));
    let lines = take();
    assert_eq!(lines.len(), 100 * 5);
    for (message, kvs) in lines {
        let task = message.strip_prefix("task ").unwrap();
        assert_eq!(
            kvs,
            kv(&[("request_id", &format!("req-{task}")), ("task", task)])
        );
    }
}
