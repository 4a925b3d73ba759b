//! The `tokio` feature on its own, with no integration crate and no setup
//! call: the library asks tokio which task a thread polls, so a `set` in a
//! task or a `block_on` future without a context of its own is refused, a
//! future wrapped with a context of its own can set, and plain threads keep
//! PEP 567's per-thread semantics.
#![cfg(all(feature = "tokio", not(loom)))]

use contextvars::{copy_context, Context, ContextVar, FutureExt, SetError};

static V: ContextVar<u32> = ContextVar::new("v");

fn runtimes() -> [tokio::runtime::Runtime; 2] {
    [
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime"),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime"),
    ]
}

#[test]
fn refused_in_plain_tasks_and_block_on_allowed_in_own_contexts() {
    for rt in runtimes() {
        let (in_block_on, in_task, in_wrapped_task, after) = rt.block_on(async {
            let in_block_on = V.try_set(1).err();
            let in_task = tokio::spawn(async { V.try_set(2).err() })
                .await
                .expect("task");
            let in_wrapped_task = tokio::spawn(
                async {
                    V.set(3);
                    tokio::task::yield_now().await;
                    V.get()
                }
                .with_context(Context::new()),
            )
            .await
            .expect("task");
            let after = tokio::spawn(async { copy_context().len() })
                .await
                .expect("task");
            (in_block_on, in_task, in_wrapped_task, after)
        });
        assert_eq!(in_block_on, Some(SetError::NoTaskContext));
        assert_eq!(in_task, Some(SetError::NoTaskContext));
        assert_eq!(in_wrapped_task, 3);
        assert_eq!(after, 0);
        let own = rt.block_on(
            async {
                V.set(4);
                V.get()
            }
            .with_current_context(),
        );
        assert_eq!(own, 4);
    }
    // Outside of any runtime: a plain thread.
    let token = V.set(5);
    assert_eq!(V.get(), 5);
    V.reset(&token).expect("reset");
    assert!(copy_context().is_empty());
}

#[test]
fn lookup_error_tells_why_a_plain_task_sees_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(rt.spawn(async { V.try_get().unwrap_err() }))
        .expect("task");
    assert!(err.in_task_without_context());
    assert!(err.to_string().contains("contextvars_tokio::spawn"));
    assert!(!V.try_get().unwrap_err().in_task_without_context());
}
