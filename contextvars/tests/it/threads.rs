//! Threads: inheritance of the spawner's context, shared contexts, and
//! stress with many threads.
//!
//! Synchronization is always by channel or barrier; the only sleeps are the
//! random short ones of CPython's `test_context_threads_1`, which shuffle
//! interleavings and never order anything.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use contextvars::thread::Builder;
use contextvars::{copy_context, Context, ContextVar, EnterError};

use crate::{panic_message, Rng};

#[test]
fn each_thread_sees_only_its_own_values() {
    // CPython's test_context_threads_1: 10 threads x 10 rounds of set, short
    // random sleep, check.
    static CVAR: ContextVar<u32> = ContextVar::new("cvar");

    CVAR.set(u32::MAX);
    let start = Arc::new(Barrier::new(10));
    let handles: Vec<_> = (0..10u32)
        .map(|num| {
            let start = start.clone();
            contextvars::thread::spawn(move || {
                let inherited = CVAR.get();
                start.wait();
                assert_eq!(inherited, u32::MAX, "inherited from the spawner");
                let mut rng = Rng::new(u64::from(num));
                for i in 0..10 {
                    CVAR.set(num * 100 + i);
                    std::thread::sleep(Duration::from_micros(rng.next() % 2_000));
                    assert_eq!(CVAR.get(), num * 100 + i);
                }
                num
            })
        })
        .collect();
    let results: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, (0..10).collect::<Vec<_>>());
    assert_eq!(CVAR.get(), u32::MAX);
}

#[test]
fn copies_of_one_context_run_concurrently() {
    static V: ContextVar<usize> = ContextVar::new("v");

    const THREADS: usize = 8;
    let base = Context::new();
    base.run(|| V.set(usize::MAX));
    // Both barriers are crossed by every thread, entered or not, so that a
    // failure cannot leave the others waiting forever.
    let all_inside = Arc::new(Barrier::new(THREADS));
    let all_set = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let copy = base.copy();
            let (all_inside, all_set) = (all_inside.clone(), all_set.clone());
            std::thread::spawn(move || {
                let result = copy.try_run(|| {
                    assert_eq!(V.get(), usize::MAX);
                    // Every copy is entered at the same time.
                    all_inside.wait();
                    V.set(i);
                    all_set.wait();
                    V.get()
                });
                if result.is_err() {
                    all_inside.wait();
                    all_set.wait();
                }
                (result, copy.get(&V).map(|v| *v))
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), (Ok(i), Some(i)));
    }
    assert_eq!(base.get(&V).as_deref(), Some(&usize::MAX));
}

#[test]
fn shared_context_is_entered_by_one_thread_at_a_time() {
    static COUNTER: ContextVar<usize> = ContextVar::new("counter");

    const THREADS: usize = 8;
    const ENTRIES: usize = 50;
    let ctx = Arc::new(Context::new());
    ctx.run(|| COUNTER.set(0));
    let inside = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (ctx, inside, refused, start) =
                (ctx.clone(), inside.clone(), refused.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut entered = 0;
                while entered < ENTRIES {
                    let result = ctx.try_run(|| {
                        assert_eq!(
                            inside.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two threads inside"
                        );
                        // A read-modify-write spread over a yield: two
                        // threads inside at once would lose updates.
                        let n = COUNTER.get();
                        std::thread::yield_now();
                        COUNTER.set(n + 1);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    });
                    match result {
                        Ok(()) => entered += 1,
                        Err(EnterError::AlreadyEntered) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(ctx.get(&COUNTER).as_deref(), Some(&(THREADS * ENTRIES)));
    println!(
        "{} entries, {} refused while another thread was inside",
        THREADS * ENTRIES,
        refused.load(Ordering::Relaxed)
    );
}

#[test]
fn read_only_runs_of_a_shared_context_keep_the_writers_changes() {
    // A run that sets nothing stores nothing back: interleaved with runs
    // that write, it must never put back an older map.
    static COUNTER: ContextVar<usize> = ContextVar::new("counter");
    static SCRATCH: ContextVar<usize> = ContextVar::new("scratch");

    const WRITERS: usize = 4;
    const READERS: usize = 4;
    const ENTRIES: usize = 50;
    let ctx = Arc::new(Context::new());
    ctx.run(|| COUNTER.set(0));
    let start = Arc::new(Barrier::new(WRITERS + READERS));
    let handles: Vec<_> = (0..WRITERS + READERS)
        .map(|i| {
            let (ctx, start) = (ctx.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut entered = 0;
                while entered < ENTRIES {
                    let result = ctx.try_run(|| {
                        let n = COUNTER.get();
                        std::thread::yield_now();
                        if i < WRITERS {
                            COUNTER.set(n + 1);
                        } else if i % 2 == 0 {
                            // Changed and changed back: stored back, same contents.
                            let token = SCRATCH.set(i);
                            SCRATCH.reset(&token).unwrap();
                        }
                        assert!(COUNTER.get() >= n);
                    });
                    match result {
                        Ok(()) => entered += 1,
                        Err(EnterError::AlreadyEntered) => std::thread::yield_now(),
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(ctx.get(&COUNTER).as_deref(), Some(&(WRITERS * ENTRIES)));
    assert_eq!(ctx.get(&SCRATCH), None);
    assert_eq!(ctx.len(), 1);
}

#[test]
fn spawn_inherits_a_copy_taken_at_spawn() {
    static V: ContextVar<&str> = ContextVar::new("v");
    static CHILD_ONLY: ContextVar<&str> = ContextVar::new("child_only");

    V.set("before spawn");
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (set_tx, set_rx) = mpsc::channel::<()>();
    let (checked_tx, checked_rx) = mpsc::channel::<()>();
    let handle = contextvars::thread::spawn(move || {
        // Wait until the spawner has changed its value.
        go_rx.recv().unwrap();
        let seen = V.get();
        V.set("child");
        CHILD_ONLY.set("child");
        set_tx.send(()).unwrap();
        // Wait until the spawner has looked, then look again.
        checked_rx.recv().unwrap();
        (seen, V.get())
    });
    V.set("after spawn");
    go_tx.send(()).unwrap();
    set_rx.recv().unwrap();
    // The child's changes are made, and not visible here.
    assert_eq!(V.get(), "after spawn");
    assert!(CHILD_ONLY.try_get().is_err());
    checked_tx.send(()).unwrap();
    assert_eq!(handle.join().unwrap(), ("before spawn", "child"));
    assert_eq!(V.get(), "after spawn");
    assert!(CHILD_ONLY.try_get().is_err());
}

#[test]
fn plain_std_thread_starts_empty() {
    static V: ContextVar<&str> = ContextVar::new("v");

    V.set("spawner");
    let empty = std::thread::spawn(|| (V.try_get().is_err(), copy_context().is_empty()));
    assert_eq!(empty.join().unwrap(), (true, true));
}

#[test]
fn builder_empty_starts_with_no_values() {
    static V: ContextVar<&str> = ContextVar::new("v");
    static D: ContextVar<&str> = ContextVar::with_default("d", || "default");

    V.set("spawner");
    D.set("spawner");
    let handle = Builder::new()
        .empty()
        .spawn(|| {
            let seen = (V.try_get().is_err(), D.get(), copy_context().len());
            V.set("child");
            seen
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), (true, "default", 0));
    assert_eq!(V.get(), "spawner");

    // `inherit` undoes `empty`.
    let handle = Builder::new().empty().inherit().spawn(|| V.get()).unwrap();
    assert_eq!(handle.join().unwrap(), "spawner");
}

#[test]
fn builder_context_records_the_threads_changes() {
    static V: ContextVar<u32> = ContextVar::new("v");
    static ADDED: ContextVar<&str> = ContextVar::new("added");

    V.set(100);
    let ctx = Arc::new(Context::new());
    ctx.run(|| V.set(1));
    for expected in 1..=3 {
        let handle = Builder::new()
            .name(format!("shared-{expected}"))
            .context(ctx.clone())
            .spawn(move || {
                let seen = V.get();
                V.set(seen + 1);
                ADDED.set("by a thread");
                seen
            })
            .unwrap();
        assert_eq!(handle.join().unwrap(), expected);
    }
    assert_eq!(ctx.get(&V).as_deref(), Some(&4));
    assert_eq!(ctx.get(&ADDED).as_deref(), Some(&"by a thread"));
    assert_eq!(V.get(), 100);
    assert!(ADDED.try_get().is_err());

    // A context given by value works too; its changes are then unobservable
    // from outside, but the thread runs in it.
    let owned = Context::new();
    owned.run(|| V.set(7));
    let handle = Builder::new().context(owned).spawn(|| V.get()).unwrap();
    assert_eq!(handle.join().unwrap(), 7);
}

#[test]
fn second_thread_in_an_entered_shared_context_panics_without_running() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let first = Builder::new()
        .context(ctx.clone())
        .spawn(move || {
            V.set(1);
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            V.set(2);
        })
        .unwrap();
    entered_rx.recv().unwrap();

    // `first` is inside the context until released.
    let ran = Arc::new(AtomicBool::new(false));
    let second = Builder::new()
        .context(ctx.clone())
        .spawn({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        })
        .unwrap();
    let err = second.join().unwrap_err();
    let message = panic_message(&*err);
    assert!(message.contains("already entered"), "{message}");
    assert!(!ran.load(Ordering::SeqCst), "the closure must not run");

    release_tx.send(()).unwrap();
    first.join().unwrap();
    assert_eq!(ctx.get(&V).as_deref(), Some(&2));
    assert_eq!(ctx.try_run(|| V.get()), Ok(2));
}

#[test]
fn thread_given_a_context_the_spawner_is_in_panics() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    let err = ctx.run(|| {
        V.set(1);
        Builder::new()
            .context(ctx.clone())
            .spawn(|| {
                V.set(2);
            })
            .unwrap()
            .join()
            .unwrap_err()
    });
    assert!(panic_message(&*err).contains("already entered"));
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
}

#[test]
fn view_of_a_context_entered_on_another_thread_is_its_contents_at_entry() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    ctx.run(|| V.set(1));
    let (set_tx, set_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn({
        let ctx = ctx.clone();
        move || {
            ctx.run(|| {
                V.set(2);
                set_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
        }
    });
    set_rx.recv().unwrap();
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
    assert_eq!(ctx.copy().get(&V).as_deref(), Some(&1));
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(ctx.get(&V).as_deref(), Some(&2));
}

#[test]
fn spawn_scoped_inherits_a_copy_taken_at_spawn() {
    static V: ContextVar<&str> = ContextVar::new("v");

    V.set("before spawn");
    let mut seen = Vec::new();
    std::thread::scope(|s| {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let seen = &mut seen;
        let handle = contextvars::thread::spawn_scoped(s, move || {
            go_rx.recv().unwrap();
            // Borrows from the enclosing stack frame.
            seen.push(V.get());
            V.set("child");
            V.get()
        });
        V.set("after spawn");
        go_tx.send(()).unwrap();
        assert_eq!(handle.join().unwrap(), "child");
        assert_eq!(V.get(), "after spawn");
    });
    assert_eq!(seen, ["before spawn"]);
    assert_eq!(V.get(), "after spawn");
}

#[test]
fn builder_spawn_scoped_honours_the_start_context() {
    static V: ContextVar<&str> = ContextVar::new("v");

    V.set("spawner");
    let shared = Arc::new(Context::new());
    shared.run(|| V.set("shared"));
    let local = String::from("borrowed");
    std::thread::scope(|s| {
        let inherit = Builder::new()
            .spawn_scoped(s, || (V.get(), local.as_str()))
            .unwrap();
        let empty = Builder::new()
            .empty()
            .spawn_scoped(s, || V.try_get().is_err())
            .unwrap();
        let given = Builder::new()
            .context(shared.clone())
            .spawn_scoped(s, || {
                let seen = V.get();
                V.set("changed by a scoped thread");
                seen
            })
            .unwrap();
        assert_eq!(inherit.join().unwrap(), ("spawner", "borrowed"));
        assert!(empty.join().unwrap());
        assert_eq!(given.join().unwrap(), "shared");
    });
    assert_eq!(
        shared.get(&V).as_deref(),
        Some(&"changed by a scoped thread")
    );
    assert_eq!(V.get(), "spawner");
}

#[test]
fn overlapping_scoped_threads_in_one_shared_context_second_panics() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    std::thread::scope(|s| {
        // Made inside the scope, so that a failing assertion drops
        // `release_tx` and frees `first` instead of leaving the scope waiting.
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let first = Builder::new()
            .context(ctx.clone())
            .spawn_scoped(s, move || {
                V.set(1);
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .unwrap();
        entered_rx.recv().unwrap();
        let second = Builder::new()
            .context(ctx.clone())
            .spawn_scoped(s, || {
                V.set(2);
            })
            .unwrap();
        let err = second.join().unwrap_err();
        assert!(panic_message(&*err).contains("already entered"));
        release_tx.send(()).unwrap();
        first.join().unwrap();
    });
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
}
