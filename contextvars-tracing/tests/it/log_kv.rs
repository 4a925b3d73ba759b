//! `ContextLog` with a capturing `log::Log`, called directly (the global
//! logger is exercised in `tests/log_global.rs`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use contextvars::{Context, ContextVar};
use contextvars_tracing::{ContextFields, ContextLog};
use log::kv::{Error, Key, Value, VisitSource};
use log::{Level, Log, Metadata, Record};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");

/// What the inner logger saw of one record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) message: String,
    pub(crate) kvs: Vec<(String, String)>,
    pub(crate) get_request_id: Option<String>,
    pub(crate) count: usize,
}

impl Seen {
    fn of(record: &Record<'_>) -> Seen {
        struct Collect(Vec<(String, String)>);
        impl<'kvs> VisitSource<'kvs> for Collect {
            fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
                self.0.push((key.to_string(), value.to_string()));
                Ok(())
            }
        }
        let mut collect = Collect(Vec::new());
        record.key_values().visit(&mut collect).unwrap();
        Seen {
            message: record.args().to_string(),
            kvs: collect.0,
            get_request_id: record
                .key_values()
                .get(Key::from_str("request_id"))
                .map(|v| v.to_string()),
            count: record.key_values().count(),
        }
    }

    fn kvs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Records what it is given; enabled for `Info` and above.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    flushes: AtomicUsize,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Log for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        self.seen.lock().unwrap().push(Seen::of(record));
    }

    fn flush(&self) {
        self.flushes.fetch_add(1, Ordering::SeqCst);
    }
}

fn log_info(logger: &dyn Log, message: &str, own: &[(&str, i64)]) {
    logger.log(
        &Record::builder()
            .args(format_args!("{message}"))
            .level(Level::Info)
            .target("app")
            .key_values(&own)
            .build(),
    );
}

fn logger() -> ContextLog<Recorder> {
    ContextLog::new(
        ContextFields::new().var(&REQUEST_ID).var(&USER),
        Recorder::default(),
    )
}

#[test]
fn context_values_follow_the_records_own_key_values() {
    let logger = logger();
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        USER.set("ada");
        log_info(&logger, "handled", &[("attempt", 2)]);
    });
    assert_eq!(
        logger.inner().seen(),
        [Seen {
            message: "handled".into(),
            kvs: Seen::kvs(&[("attempt", "2"), ("request_id", "abc"), ("user", "ada")]),
            get_request_id: Some("abc".into()),
            count: 3,
        }]
    );
}

#[test]
fn unset_variables_are_omitted_and_contexts_are_separate() {
    let logger = logger();
    Context::new().run(|| {
        log_info(&logger, "nothing", &[]);
        for id in ["r1", "r2"] {
            Context::new().run(|| {
                REQUEST_ID.set(id.into());
                log_info(&logger, id, &[]);
            });
        }
        USER.set("ada");
        log_info(&logger, "user only", &[]);
    });
    let seen: Vec<_> = logger
        .inner()
        .seen()
        .into_iter()
        .map(|s| (s.message, s.kvs))
        .collect();
    assert_eq!(
        seen,
        [
            ("nothing".into(), vec![]),
            ("r1".into(), Seen::kvs(&[("request_id", "r1")])),
            ("r2".into(), Seen::kvs(&[("request_id", "r2")])),
            ("user only".into(), Seen::kvs(&[("user", "ada")])),
        ]
    );
}

#[test]
fn the_records_own_key_wins_and_the_context_field_is_left_out() {
    let logger = ContextLog::new(
        ContextFields::new().field("request_id", &USER, |v, f| f.write_str(v)),
        Recorder::default(),
    );
    Context::new().run(|| {
        USER.set("from-context");
        logger.log(
            &Record::builder()
                .args(format_args!("m"))
                .level(Level::Info)
                .key_values(&[("request_id", "own")])
                .build(),
        );
    });
    let seen = &logger.inner().seen()[0];
    assert_eq!(seen.kvs, Seen::kvs(&[("request_id", "own")]));
    assert_eq!(seen.get_request_id.as_deref(), Some("own"));
    assert_eq!(seen.count, 1);
}

#[test]
fn records_the_inner_logger_does_not_want_are_neither_rendered_nor_forwarded() {
    static RENDERS: AtomicUsize = AtomicUsize::new(0);
    let logger = ContextLog::new(
        ContextFields::new().field("request_id", &REQUEST_ID, |v, f| {
            RENDERS.fetch_add(1, Ordering::SeqCst);
            f.write_str(v)
        }),
        Recorder::default(),
    );
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        let debug = Record::builder()
            .args(format_args!("debug"))
            .level(Level::Debug)
            .build();
        assert!(!logger.enabled(debug.metadata()));
        logger.log(&debug);
        assert_eq!(RENDERS.load(Ordering::SeqCst), 0);
        log_info(&logger, "info", &[]);
        assert_eq!(RENDERS.load(Ordering::SeqCst), 1);
    });
    let seen = logger.inner().seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].message, "info");
    logger.flush();
    assert_eq!(logger.inner().flushes.load(Ordering::SeqCst), 1);
}

#[test]
fn values_are_raw_by_default_and_text_escaped_on_request() {
    let raw = logger();
    let escaped = logger().escape_values(true);
    Context::new().run(|| {
        REQUEST_ID.set("abc\r\nuser=root".into());
        USER.set("ada");
        log_info(&raw, "m", &[]);
        log_info(&escaped, "m", &[]);
    });
    assert_eq!(
        raw.inner().seen()[0].kvs,
        Seen::kvs(&[("request_id", "abc\r\nuser=root"), ("user", "ada")])
    );
    assert_eq!(
        escaped.inner().seen()[0].kvs,
        Seen::kvs(&[("request_id", r#""abc\r\nuser=root""#), ("user", "ada")])
    );
}

#[test]
fn a_field_that_fails_to_render_is_left_out() {
    let logger = ContextLog::new(
        ContextFields::new()
            .field("broken", &REQUEST_ID, |_, _| Err(fmt::Error))
            .var(&USER),
        Recorder::default(),
    );
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        USER.set("ada");
        log_info(&logger, "m", &[]);
    });
    assert_eq!(logger.inner().seen()[0].kvs, Seen::kvs(&[("user", "ada")]));
}

#[test]
fn large_values_pass_whole() {
    let big = "z".repeat(1 << 20);
    let logger = logger();
    Context::new().run(|| {
        REQUEST_ID.set(big.clone());
        log_info(&logger, "big", &[]);
        REQUEST_ID.set("small".into());
        log_info(&logger, "small", &[]);
    });
    let seen = logger.inner().seen();
    assert_eq!(seen[0].kvs, Seen::kvs(&[("request_id", &big)]));
    assert_eq!(seen[1].kvs, Seen::kvs(&[("request_id", "small")]));
}

/// An inner logger that, given "outer", logs "inner" through the same
/// `ContextLog` before recording: a logger that logs while logging.
struct Reentrant(Recorder);

static REENTRANT: LazyLock<ContextLog<Reentrant>> = LazyLock::new(|| {
    ContextLog::new(
        ContextFields::new().var(&REQUEST_ID),
        Reentrant(Recorder::default()),
    )
});

impl Log for Reentrant {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if record.args().to_string() == "outer" {
            Context::new().run(|| {
                REQUEST_ID.set("nested".into());
                log_info(&*REENTRANT, "inner", &[]);
            });
        }
        self.0.log(record);
    }

    fn flush(&self) {}
}

#[test]
fn a_logger_that_logs_while_logging_gets_both_records_right() {
    Context::new().run(|| {
        REQUEST_ID.set("outer-id".into());
        log_info(&*REENTRANT, "outer", &[]);
    });
    let seen: Vec<_> = REENTRANT
        .inner()
        .0
        .seen()
        .into_iter()
        .map(|s| (s.message, s.kvs))
        .collect();
    assert_eq!(
        seen,
        [
            ("inner".into(), Seen::kvs(&[("request_id", "nested")])),
            ("outer".into(), Seen::kvs(&[("request_id", "outer-id")])),
        ]
    );
}

#[test]
fn threads_each_see_their_own_values() {
    const THREADS: usize = 8;
    const RECORDS: usize = 200;
    let logger = logger();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let logger = &logger;
            scope.spawn(move || {
                REQUEST_ID.set(format!("req-{t}"));
                for _ in 0..RECORDS {
                    log_info(logger, &format!("from-{t}"), &[]);
                }
            });
        }
    });
    let seen = logger.inner().seen();
    assert_eq!(seen.len(), THREADS * RECORDS);
    for s in seen {
        let t = s.message.strip_prefix("from-").unwrap();
        assert_eq!(s.kvs, Seen::kvs(&[("request_id", &format!("req-{t}"))]));
    }
}
