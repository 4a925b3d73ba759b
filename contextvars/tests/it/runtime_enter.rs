//! `runtime::enter`, the one entry that is not scoped: misuse is reported,
//! and never leaves a context on the thread.

use std::panic::{catch_unwind, AssertUnwindSafe};

use contextvars::{runtime, Context, ContextVar};

static V: ContextVar<&'static str> = ContextVar::new("runtime_enter_v");

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn enter_and_exit_in_order_records_changes() {
    Context::new().run(|| {
        V.set("caller");
        let outer = runtime::enter(Context::new()).unwrap();
        V.set("outer");
        let inner = runtime::enter(Context::new()).unwrap();
        V.set("inner");
        let inner = inner.exit();
        assert_eq!(V.get(), "outer");
        let outer = outer.exit();
        assert_eq!(V.get(), "caller");
        assert_eq!(inner.get(&V).as_deref(), Some(&"inner"));
        assert_eq!(outer.get(&V).as_deref(), Some(&"outer"));
    });
}

#[test]
fn exiting_the_outer_first_panics_and_restores_the_caller() {
    Context::new().run(|| {
        V.set("caller");
        let outer = runtime::enter(Context::new()).unwrap();
        V.set("outer");
        let inner = runtime::enter(Context::new()).unwrap();
        V.set("inner");
        let err = catch_unwind(AssertUnwindSafe(|| outer.exit())).unwrap_err();
        assert!(panic_message(&*err).contains("out of order"));
        // Both were exited: the caller's context is current again.
        assert_eq!(V.get(), "caller");
        // The inner one's later exit finds nothing to do, and does not panic.
        let inner = inner.exit();
        assert_eq!(V.get(), "caller");
        drop(inner);
    });
}

#[test]
fn an_entered_context_escaping_a_run_is_exited_with_it() {
    let ctx = Context::new();
    let mut escaped = None;
    Context::new().run(|| {
        V.set("caller");
        let err = catch_unwind(AssertUnwindSafe(|| {
            ctx.run(|| {
                V.set("in ctx");
                escaped = Some(runtime::enter(Context::new()).unwrap());
                V.set("escaped");
            })
        }))
        .unwrap_err();
        assert!(panic_message(&*err).contains("out of order"));
        assert_eq!(V.get(), "caller");
        // `ctx` is not left entered, and kept the changes made in it.
        assert_eq!(ctx.try_run(|| V.get()), Ok("in ctx"));
        // The escaped guard's drop does nothing more.
        drop(escaped.take());
        assert_eq!(V.get(), "caller");
    });
    assert_eq!(ctx.try_run(|| ()), Ok(()));
}
