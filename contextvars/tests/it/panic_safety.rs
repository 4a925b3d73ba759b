//! A panic never leaves a context entered or a value set, and is never
//! swallowed or turned into an abort.
//!
//! Python's `Context.run` exits the context when the callable raises, and the
//! changes made before the exception stay in the context; `with var.set(v):`
//! resets on every exit path. The Rust equivalents restore in `Drop` guards.

use std::sync::{mpsc, Arc};

use contextvars::{copy_context, Context, ContextVar, EnterError, ResetError};

use crate::{catch, panic_message, Payload};

#[test]
fn panic_in_run_restores_the_callers_context() {
    static A: ContextVar<&str> = ContextVar::new("a");
    static B: ContextVar<&str> = ContextVar::new("b");

    A.set("caller");
    let ctx = copy_context();
    let err = catch(|| {
        ctx.run(|| {
            A.set("inside");
            B.set("inside");
            std::panic::panic_any(Payload(1))
        })
    })
    .unwrap_err();

    // The payload is the one the closure panicked with.
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(1)));
    // The caller's values are back, and nothing set inside leaked out.
    assert_eq!(A.get(), "caller");
    assert!(B.try_get().is_err());
    // The context recorded the changes made before the panic (CPython keeps
    // them too)...
    assert_eq!(ctx.get(&A).as_deref(), Some(&"inside"));
    assert_eq!(ctx.get(&B).as_deref(), Some(&"inside"));
    // ...and was exited: it can be entered again, here and on another thread.
    assert_eq!(ctx.try_run(|| (A.get(), B.get())), Ok(("inside", "inside")));
    let elsewhere = std::thread::scope(|s| s.spawn(|| ctx.try_run(|| B.get())).join().unwrap());
    assert_eq!(elsewhere, Ok("inside"));
}

#[test]
fn panic_in_innermost_of_nested_runs_is_caught_in_the_middle() {
    static V: ContextVar<u32> = ContextVar::new("v");

    V.set(0);
    let (outer, middle, inner) = (Context::new(), Context::new(), Context::new());
    let seen_in_outer = outer.run(|| {
        V.set(1);
        let seen_in_middle = middle.run(|| {
            V.set(2);
            let err = catch(|| {
                inner.run(|| {
                    V.set(3);
                    panic!("innermost")
                })
            })
            .unwrap_err();
            assert_eq!(panic_message(&*err), "innermost");
            // Back in `middle`, as it was before the panicking run.
            assert_eq!(V.get(), 2);
            V.set(22);
            V.get()
        });
        assert_eq!(seen_in_middle, 22);
        V.get()
    });

    assert_eq!(seen_in_outer, 1);
    assert_eq!(V.get(), 0);
    assert_eq!(outer.get(&V).as_deref(), Some(&1));
    assert_eq!(middle.get(&V).as_deref(), Some(&22));
    assert_eq!(inner.get(&V).as_deref(), Some(&3));
    assert_eq!(inner.try_run(|| V.get()), Ok(3));
}

#[test]
fn panic_in_innermost_of_nested_runs_unwinds_through_every_level() {
    static V: ContextVar<u32> = ContextVar::new("v");
    static DEPTH: ContextVar<u32> = ContextVar::with_default("depth", || 0);

    V.set(0);
    let (outer, middle, inner) = (Context::new(), Context::new(), Context::new());
    let err = catch(|| {
        outer.run(|| {
            V.set(1);
            let _depth = DEPTH.set(1).into_guard();
            middle.run(|| {
                V.set(2);
                let _depth = DEPTH.set(2).into_guard();
                inner.run(|| {
                    V.set(3);
                    DEPTH.set(3);
                    std::panic::panic_any(Payload(3))
                })
            })
        })
    })
    .unwrap_err();

    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(3)));
    assert_eq!(V.get(), 0);
    assert_eq!(DEPTH.get(), 0);
    // Each level kept its own `set`; the guards of the outer two were reset
    // (in their own context), the unguarded set of the innermost was not.
    for (ctx, v, depth) in [(&outer, 1, None), (&middle, 2, None), (&inner, 3, Some(3))] {
        assert_eq!(ctx.get(&V).as_deref(), Some(&v));
        assert_eq!(ctx.get(&DEPTH).as_deref(), depth.as_ref());
        // None of them is left entered.
        assert_eq!(ctx.try_run(|| V.get()), Ok(v));
    }
}

#[test]
fn panic_in_run_entered_from_a_with_closure_restores_the_callers_context() {
    // Entering a context while a `with` reader shares the current map takes a
    // different path in the thread-local slot than entering from plain code.
    static V: ContextVar<String> = ContextVar::new("v");

    V.set("caller".to_string());
    let ctx = Context::new();
    V.with(|caller_value| {
        let err = catch(|| {
            ctx.run(|| {
                V.set("inside".to_string());
                panic!("in run")
            })
        })
        .unwrap_err();
        assert_eq!(panic_message(&*err), "in run");
        assert_eq!(V.get(), "caller");
        assert_eq!(caller_value, "caller");
    });
    assert_eq!(V.get(), "caller");
    assert_eq!(ctx.get(&V).as_deref().map(String::as_str), Some("inside"));
    assert_eq!(ctx.try_run(|| V.get().len()), Ok("inside".len()));
}

#[test]
fn panic_inside_with_leaves_the_variable_usable() {
    static V: ContextVar<u32> = ContextVar::new("v");

    V.set(1);
    let err = catch(|| V.with(|_| -> u32 { panic!("in with") })).unwrap_err();
    assert_eq!(panic_message(&*err), "in with");
    // The thread-local is not left borrowed: reads and writes still work.
    assert_eq!(V.get(), 1);
    V.set(2);
    assert_eq!(V.get(), 2);
}

#[test]
fn panic_in_scope_restores_the_value_and_propagates_the_payload() {
    static V: ContextVar<&str> = ContextVar::with_default("v", || "default");

    let err = catch(|| {
        V.scope("scoped", || {
            assert_eq!(V.get(), "scoped");
            std::panic::panic_any(Payload(7))
        })
    })
    .unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(7)));
    // Back to "no value" (so the default shows), not to the default as a value.
    assert_eq!(V.get(), "default");
    assert!(V.get_opt().is_none());

    V.set("outer");
    let err = catch(|| {
        V.scope("scoped", || {
            V.set("set inside the scope");
            panic!("with a set inside")
        })
    })
    .unwrap_err();
    assert_eq!(panic_message(&*err), "with a set inside");
    assert_eq!(V.get(), "outer");
}

#[test]
fn panic_with_token_guards_alive_restores_every_value() {
    static A: ContextVar<u32> = ContextVar::new("a");
    static B: ContextVar<u32> = ContextVar::new("b");

    A.set(1);
    let err = catch(|| {
        let _a = A.set(10).into_guard();
        let _b = B.set(20).into_guard();
        A.set(11);
        B.set(21);
        std::panic::panic_any(Payload(8))
    })
    .unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(8)));
    assert_eq!(A.get(), 1);
    assert!(B.try_get().is_err());
}

#[test]
fn failing_guard_reset_during_a_panic_keeps_the_original_panic() {
    // A guard whose reset fails while the thread is already panicking must
    // neither panic again (a panic during unwinding aborts the process, which
    // would kill this whole test binary) nor replace the payload.
    static V: ContextVar<u32> = ContextVar::new("v");

    // Token already used by an explicit reset.
    let err = catch(|| {
        let guard = V.set(1).into_guard();
        V.reset(guard.token()).unwrap();
        std::panic::panic_any(Payload(9))
    })
    .unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(9)));
    assert!(V.try_get().is_err());

    // Guard made in another context, dropped in the caller's.
    let ctx = Context::new();
    V.set(5);
    let err = catch(|| {
        let _guard = ctx.run(|| V.set(1).into_guard());
        std::panic::panic_any(Payload(10))
    })
    .unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(10)));
    // The failed reset changed nothing, in either context.
    assert_eq!(V.get(), 5);
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
}

#[test]
fn guard_dropped_after_an_explicit_reset_panics_already_used() {
    static V: ContextVar<u32> = ContextVar::new("v");

    V.set(1);
    let err = catch(|| {
        let guard = V.set(2).into_guard();
        V.reset(guard.token()).unwrap();
        drop(guard);
    })
    .unwrap_err();
    let message = panic_message(&*err);
    assert!(message.contains("already been used"), "{message}");
    // The explicit reset happened once; the failing drop did nothing more.
    assert_eq!(V.get(), 1);
}

#[test]
fn guard_dropped_in_another_context_panics_and_changes_nothing() {
    static V: ContextVar<u32> = ContextVar::new("v");

    V.set(1);
    let ctx = Context::new();
    let guard = ctx.run(|| V.set(2).into_guard());
    let err = catch(move || drop(guard)).unwrap_err();
    let message = panic_message(&*err);
    assert!(message.contains("different Context"), "{message}");
    assert_eq!(V.get(), 1);
    assert_eq!(ctx.get(&V).as_deref(), Some(&2));
}

#[test]
fn try_run_on_a_context_entered_on_another_thread_is_already_entered() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn({
        let ctx = ctx.clone();
        move || {
            ctx.run(|| {
                V.set(1);
                entered_tx.send(()).unwrap();
                // Stay inside `run` until the main thread has tried to enter.
                release_rx.recv().unwrap();
                V.set(2);
            })
        }
    });
    entered_rx.recv().unwrap();

    V.set(100);
    let mut called = false;
    assert_eq!(
        ctx.try_run(|| called = true),
        Err(EnterError::AlreadyEntered)
    );
    assert!(
        !called,
        "`f` must not run when the context cannot be entered"
    );
    let err = catch(|| ctx.run(|| ())).unwrap_err();
    let message = panic_message(&*err);
    assert!(message.contains("already entered"), "{message}");
    // The failed attempts left this thread's context alone.
    assert_eq!(V.get(), 100);

    release_tx.send(()).unwrap();
    worker.join().unwrap();
    // The worker exited, leaving its changes in the context.
    assert_eq!(ctx.try_run(|| V.get()), Ok(2));
    assert_eq!(V.get(), 100);
}

#[test]
fn panic_in_a_thread_running_a_shared_context_exits_it() {
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Arc::new(Context::new());
    let handle = contextvars::thread::Builder::new()
        .context(ctx.clone())
        .spawn(|| {
            V.set(1);
            std::panic::panic_any(Payload(11))
        })
        .unwrap();
    let err = handle.join().unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(11)));
    assert_eq!(ctx.get(&V).as_deref(), Some(&1));
    assert_eq!(ctx.try_run(|| V.get()), Ok(1));
}

#[test]
fn panic_in_an_inheriting_thread_propagates_through_join() {
    static V: ContextVar<u32> = ContextVar::new("v");

    V.set(1);
    let handle = contextvars::thread::spawn(|| {
        V.set(2);
        std::panic::panic_any(Payload(12))
    });
    let err = handle.join().unwrap_err();
    assert_eq!(err.downcast_ref::<Payload>(), Some(&Payload(12)));
    assert_eq!(V.get(), 1);
}

#[test]
fn reset_error_leaves_the_token_usable() {
    // A reset refused for the wrong context does not consume the token: it
    // still works in the right context afterwards (CPython marks a token used
    // only on success).
    static V: ContextVar<u32> = ContextVar::new("v");

    let ctx = Context::new();
    let token = ctx.run(|| V.set(1));
    assert_eq!(V.reset(&token), Err(ResetError::WrongContext));
    assert!(!token.is_used());
    assert_eq!(ctx.run(|| V.reset(&token)), Ok(()));
    assert_eq!(ctx.get(&V), None);
}
