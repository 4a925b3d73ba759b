//! Automatic mode (`--cfg tokio_unstable`): tasks spawned with plain
//! `tokio::spawn` — as libraries do — run in a copy of their spawner's
//! context, and no per-task state outlives its task.
#![cfg(tokio_unstable)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use contextvars::ContextVar;
use contextvars_tokio::TaskContexts;
use tokio::runtime::{Builder, Runtime};

static REQUEST: ContextVar<u64> = ContextVar::new("request");
static DROPS_SEEN: ContextVar<u64> = ContextVar::new("drops_seen");

fn runtimes() -> Vec<(&'static str, Runtime, TaskContexts)> {
    let make = |mut builder: Builder| {
        let contexts = TaskContexts::new();
        let rt = contexts.install(builder.enable_time()).build().unwrap();
        (rt, contexts)
    };
    let (ct, ct_contexts) = make(Builder::new_current_thread());
    let mut mt = Builder::new_multi_thread();
    mt.worker_threads(2);
    let (mt, mt_contexts) = make(mt);
    vec![
        ("current_thread", ct, ct_contexts),
        ("multi_thread", mt, mt_contexts),
    ]
}

/// A tiny deterministic generator for sleep lengths.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn plain_spawn_inherits_a_copy_at_spawn_time() {
    for (flavor, rt, contexts) in runtimes() {
        rt.block_on(contextvars_tokio::root(async {
            REQUEST.set(1);
            let child = tokio::spawn(async {
                let inherited = REQUEST.get();
                REQUEST.set(2);
                tokio::task::yield_now().await;
                (inherited, REQUEST.get())
            });
            REQUEST.set(3); // after the spawn: not seen by the child
            assert_eq!(child.await.unwrap(), (1, 2), "{flavor}");
            assert_eq!(REQUEST.get(), 3, "{flavor}: the child's set leaked");
        }));
        drop(rt);
        assert_eq!(contexts.live(), 0, "{flavor}");
    }
}

#[test]
fn many_plain_tasks_sharing_workers_see_only_their_own_values() {
    for (flavor, rt, contexts) in runtimes() {
        let mismatches = Arc::new(AtomicUsize::new(0));
        rt.block_on(contextvars_tokio::root(async {
            let mut handles = Vec::new();
            for task in 0..500u64 {
                let mismatches = mismatches.clone();
                handles.push(tokio::spawn(async move {
                    let mut rng = task + 1;
                    for round in 0..10 {
                        let mine = task * 100 + round;
                        REQUEST.set(mine);
                        let nap = xorshift(&mut rng) % 3;
                        tokio::time::sleep(Duration::from_micros(nap * 300)).await;
                        if REQUEST.get() != mine {
                            mismatches.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            for handle in handles {
                handle.await.unwrap();
            }
            assert!(
                REQUEST.try_get().is_err(),
                "{flavor}: a task's set leaked to main"
            );
        }));
        assert_eq!(mismatches.load(Ordering::Relaxed), 0, "{flavor}");
        // A worker releases a finished task's context in its after-poll hook,
        // which may run just after the task's output reached its awaiter:
        // shut the runtime down (joining the workers) before counting.
        drop(rt);
        assert_eq!(contexts.live(), 0, "{flavor}");
    }
}

#[test]
fn nested_spawns_inherit_from_their_direct_parent() {
    for (flavor, rt, contexts) in runtimes() {
        rt.block_on(contextvars_tokio::root(async {
            REQUEST.set(10);
            let seen = tokio::spawn(async {
                REQUEST.set(REQUEST.get() + 1);
                tokio::spawn(async { REQUEST.get() }).await.unwrap()
            })
            .await
            .unwrap();
            assert_eq!(seen, 11, "{flavor}");
            assert_eq!(REQUEST.get(), 10, "{flavor}");
        }));
        drop(rt);
        assert_eq!(contexts.live(), 0, "{flavor}");
    }
}

struct ReadsOnDrop(Arc<AtomicUsize>);

impl Drop for ReadsOnDrop {
    fn drop(&mut self) {
        let seen = DROPS_SEEN.try_get().map_or(0, |v| v as usize);
        self.0.store(seen, Ordering::SeqCst);
    }
}

#[test]
fn aborted_panicked_and_pending_tasks_leave_no_context_behind() {
    for (flavor, rt, contexts) in runtimes() {
        let seen_at_abort = Arc::new(AtomicUsize::new(0));
        rt.block_on(contextvars_tokio::root(async {
            // Aborted mid-await: its future is dropped inside its context.
            let probe = ReadsOnDrop(seen_at_abort.clone());
            let aborted = tokio::spawn(async move {
                DROPS_SEEN.set(42);
                let _probe = probe;
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            aborted.abort();
            assert!(aborted.await.unwrap_err().is_cancelled(), "{flavor}");

            // Panics mid-poll after a set.
            let panicked = tokio::spawn(async {
                REQUEST.set(99);
                panic!("boom");
            });
            assert!(panicked.await.unwrap_err().is_panic(), "{flavor}");

            // Aborted before it was ever polled.
            let never_polled = tokio::spawn(async {});
            never_polled.abort();
            let _ = never_polled.await;

            // Probes on every worker: nothing of the above is current there.
            let mut probes = Vec::new();
            for _ in 0..64 {
                probes.push(tokio::spawn(async {
                    tokio::task::yield_now().await;
                    REQUEST.try_get().is_err() && contextvars::copy_context().is_empty()
                }));
            }
            for probe in probes {
                assert!(probe.await.unwrap(), "{flavor}: residue on a worker");
            }
            // Pending forever: dropped with the runtime below.
            tokio::spawn(async {
                REQUEST.set(7);
                std::future::pending::<()>().await;
            });
            tokio::task::yield_now().await;
        }));
        assert_eq!(seen_at_abort.load(Ordering::SeqCst), 42, "{flavor}");
        drop(rt);
        assert_eq!(
            contexts.live(),
            0,
            "{flavor}: contexts outlived their tasks"
        );
    }
}

#[test]
fn set_survives_awaits_across_worker_migration() {
    let contexts = TaskContexts::new();
    let rt = contexts
        .install(Builder::new_multi_thread().worker_threads(2).enable_time())
        .build()
        .unwrap();
    rt.block_on(contextvars_tokio::root(async {
        let handle = tokio::spawn(async {
            REQUEST.set(5);
            let start = std::thread::current().id();
            let mut migrated = false;
            for _ in 0..10_000 {
                // A blocking round trip makes the task resume wherever a
                // worker is free.
                tokio::task::spawn_blocking(|| ()).await.unwrap();
                if std::thread::current().id() != start {
                    migrated = true;
                }
                assert_eq!(REQUEST.get(), 5);
                if migrated {
                    break;
                }
            }
            migrated
        });
        // Whether or not the scheduler moved the task, the value held; when
        // it did move, it held across threads.
        let _migrated = handle.await.unwrap();
    }));
}

#[test]
fn join_set_and_library_spawns_are_covered() {
    for (flavor, rt, contexts) in runtimes() {
        rt.block_on(contextvars_tokio::root(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..8u64 {
                REQUEST.set(i);
                set.spawn(async move {
                    tokio::task::yield_now().await;
                    REQUEST.get() == i
                });
            }
            while let Some(ok) = set.join_next().await {
                assert!(ok.unwrap(), "{flavor}");
            }
        }));
        drop(rt);
        assert_eq!(contexts.live(), 0, "{flavor}");
    }
}
