//! A value set in a task survives the task's `.await`s, including an await
//! after which the task is resumed on another worker thread (asyncio: a
//! task's every step runs in its one context, rule A2).

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{is_multi_thread, spin_until};
use contextvars::{copy_context, ContextVar};
use tokio::sync::oneshot;

static VALUE: ContextVar<u64> = ContextVar::new("value");

/// Set, then `yield_now`, `sleep` and an await on another task; the value
/// is there after each.
async fn set_survives_yield_sleep_and_join() {
    let task = contextvars_tokio::spawn(async {
        VALUE.set(1);
        tokio::task::yield_now().await;
        assert_eq!(VALUE.get(), 1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(VALUE.get(), 1);
        VALUE.set(2);
        let other = contextvars_tokio::spawn(async {
            VALUE.set(3);
            tokio::task::yield_now().await;
            VALUE.get()
        });
        assert_eq!(other.await.expect("other"), 3);
        VALUE.get()
    });
    assert_eq!(task.await.expect("task"), 2);
    assert_eq!(VALUE.get_opt(), None);
}
on_both_runtimes!(set_survives_yield_sleep_and_join);

/// Awaits a oneshot that is completed from a plain OS thread, so that the
/// wakeup comes from outside the runtime, then runs `after_resume` right
/// away (in the same poll) and returns whether the task was resumed on
/// another thread than the one it was suspended on, with the result of
/// `after_resume`.
///
/// On the multi-thread runtime the current worker is first kept busy by a
/// task that spins (in the worker's LIFO slot, which the other worker cannot
/// steal) until the awaiting task has resumed. The OS thread completes the
/// oneshot only once that task has started, i.e. once the awaiting task is
/// suspended: the woken task then goes to the runtime's shared queue and is
/// resumed by the other, idle, worker.
async fn resume_on_another_worker<R>(after_resume: impl FnOnce() -> R) -> (bool, R) {
    let resumed = Arc::new(AtomicBool::new(false));
    let hog_started = Arc::new(AtomicBool::new(false));
    let multi_thread = is_multi_thread();
    let hog = if multi_thread {
        let resumed = resumed.clone();
        let hog_started = hog_started.clone();
        Some(tokio::spawn(async move {
            hog_started.store(true, Ordering::SeqCst);
            // Bounded: if the awaiting task was not moved, it resumes here
            // once the hog gives up.
            spin_until(Duration::from_secs(2), || resumed.load(Ordering::SeqCst));
        }))
    } else {
        None
    };
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        if multi_thread {
            spin_until(Duration::from_secs(2), || {
                hog_started.load(Ordering::SeqCst)
            });
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = tx.send(());
    });
    let before = std::thread::current().id();
    rx.await.expect("the OS thread sends");
    let moved = std::thread::current().id() != before;
    let out = after_resume();
    resumed.store(true, Ordering::SeqCst);
    if let Some(hog) = hog {
        hog.await.expect("hog");
    }
    (moved, out)
}

/// Set, then await until the task has been resumed on another worker
/// thread (three times, at most 50 attempts). Right after each such
/// await, `get` returns the task's value and a token made before it resets
/// (tokens are bound to the task's context, not to a thread); a value set
/// after a migration survives the next one. On the current-thread runtime
/// there is a single thread, and the same awaits must keep the value too.
async fn set_survives_worker_migration() {
    let task = contextvars_tokio::spawn(async {
        let mut migrations = 0;
        let mut wrong = Vec::new();
        for attempt in 0..50u64 {
            VALUE.set(attempt);
            let token = VALUE.set(attempt + 1000);
            let (moved, at_resume) = resume_on_another_worker(|| {
                let seen = VALUE.get();
                let reset = VALUE.reset(&token);
                (seen, reset, VALUE.get(), copy_context().len())
            })
            .await;
            if at_resume != (attempt + 1000, Ok(()), attempt, 1) {
                wrong.push((attempt, at_resume));
            }
            tokio::task::yield_now().await;
            if VALUE.get() != attempt {
                wrong.push((attempt, (VALUE.get(), Ok(()), 0, 0)));
            }
            if moved {
                migrations += 1;
                if migrations == 3 {
                    break;
                }
            }
        }
        (migrations, wrong)
    });
    let (migrations, wrong) = task.await.expect("task");
    assert_eq!(
        wrong,
        [],
        "(attempt, (seen, reset, seen after reset, context size)) after resuming"
    );
    if is_multi_thread() {
        assert_eq!(migrations, 3, "the task was not moved to another worker");
    } else {
        assert_eq!(migrations, 0);
    }
    assert_eq!(VALUE.get_opt(), None);
}
on_both_runtimes!(set_survives_worker_migration);

/// Many tasks, each with its own value, migrating at the same time: every
/// task still sees its own value after each await.
async fn concurrent_tasks_keep_their_values_across_migrations() {
    let handles: Vec<_> = (0..8u64)
        .map(|task| {
            contextvars_tokio::spawn(async move {
                let mut wrong = 0;
                for round in 0..5 {
                    VALUE.set(task * 100 + round);
                    // Without the hog: 8 tasks on 2 workers get moved by
                    // the wakeups from OS threads and by work stealing.
                    let (tx, rx) = oneshot::channel();
                    std::thread::spawn(move || {
                        let _ = tx.send(());
                    });
                    rx.await.expect("sent");
                    tokio::task::yield_now().await;
                    if VALUE.get() != task * 100 + round {
                        wrong += 1;
                    }
                }
                wrong
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.expect("task"), 0);
    }
}
on_both_runtimes!(concurrent_tasks_keep_their_values_across_migrations);

/// Set, then a round trip through the blocking pool (both the propagating
/// `contextvars_tokio::spawn_blocking` and tokio's own): the wakeup comes
/// from a blocking-pool thread, and the value is still there.
async fn set_survives_spawn_blocking_round_trip() {
    let task = contextvars_tokio::spawn(async {
        VALUE.set(7);
        let seen_in_blocking = contextvars_tokio::spawn_blocking(|| VALUE.get())
            .await
            .expect("blocking");
        assert_eq!(seen_in_blocking, 7);
        assert_eq!(VALUE.get(), 7);
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)))
            .await
            .expect("blocking");
        assert_eq!(VALUE.get(), 7);
        VALUE.set(8);
        tokio::task::spawn_blocking(|| ()).await.expect("blocking");
        VALUE.get()
    });
    assert_eq!(task.await.expect("task"), 8);
    assert_eq!(VALUE.get_opt(), None);
}
on_both_runtimes!(set_survives_spawn_blocking_round_trip);
