//! divan benchmarks of `contextvars` and its alternatives:
//! `cargo bench -p contextvars-benches` (filter with a substring, e.g.
//! `cargo bench -p contextvars-benches -- get`).
//!
//! divan's allocation profiler is the global allocator, so every row also
//! shows allocations per iteration. For the side-by-side table with ratios,
//! see the `report` binary (`cargo run --release -p contextvars-benches --bin
//! report`), which uses the same fixtures.
//!
//! `contextvars` benchmarks run in a context that binds the first `n` of
//! `fixtures::vars()` (`u64`s, stored inline) and read or write the last of
//! them, or in one whose last variable is `fixtures::TEXT` (a `String`,
//! shared behind an `Arc`).

use std::hint::black_box;
use std::sync::Arc;

use contextvars::{copy_context, Context, FutureExt as _, WithContext};
use contextvars_benches::fixtures::{
    context_with, otel_context, otel_text_context, poll_noop, target, text_context_with,
    AlwaysPending, OtelText, OtelValue, Ready512, DEFAULTED, SIZES, TEXT, TLS_ARC, TLS_CELL,
    TL_ARC, TL_U64,
};
use divan::Bencher;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    // Linked with contextvars-tokio, `set` asks tokio whether it runs in a
    // task (the core's `tokio` feature), as in a deployed service.
    let _ = contextvars_benches::fixtures::vars();
    divan::main();
}

/// Reading a variable of the current context.
mod get {
    use super::*;

    #[divan::bench(args = SIZES)]
    fn with_borrow(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        let var = target(n);
        ctx.run(|| bencher.bench_local(|| black_box(var).with(|v| *v)));
    }

    /// `get()` of a `u64`: a copy of the inline value.
    #[divan::bench(args = SIZES)]
    fn value(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        let var = target(n);
        ctx.run(|| bencher.bench_local(|| black_box(var).get()));
    }

    /// `get_arc()` of a `String`: the shared `Arc`.
    #[divan::bench(args = SIZES)]
    fn get_arc(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = text_context_with(n);
        ctx.run(|| bencher.bench_local(|| black_box(&TEXT).get_arc()));
    }

    #[divan::bench(args = SIZES)]
    fn unset_default(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        ctx.run(|| bencher.bench_local(|| black_box(&DEFAULTED).get()));
    }

    #[divan::bench]
    fn tls_cell(bencher: Bencher<'_, '_>) {
        bencher.bench_local(|| TLS_CELL.with(std::cell::Cell::get));
    }

    #[divan::bench]
    fn tls_refcell_read(bencher: Bencher<'_, '_>) {
        TLS_ARC.with(|s| *s.borrow_mut() = Some(Arc::new(1)));
        bencher.bench_local(|| TLS_ARC.with(|s| s.borrow().as_deref().copied()));
    }

    #[divan::bench]
    fn task_local_with(bencher: Bencher<'_, '_>) {
        TL_U64.sync_scope(1, || bencher.bench_local(|| TL_U64.with(|v| *v)));
    }

    #[divan::bench]
    fn otel_map_current(bencher: Bencher<'_, '_>) {
        let _guard = otel_context().attach();
        bencher
            .bench_local(|| opentelemetry::Context::map_current(|c| c.get::<OtelValue>().copied()));
    }

    #[divan::bench]
    fn otel_current_get(bencher: Bencher<'_, '_>) {
        let _guard = otel_context().attach();
        bencher.bench_local(|| {
            opentelemetry::Context::current()
                .get::<OtelValue>()
                .map(|v| v.0)
        });
    }
}

/// Writing a variable and undoing it.
mod set_reset {
    use super::*;

    /// A `u64`, stored inline: no allocation.
    #[divan::bench(args = SIZES)]
    fn inline_unshared(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        let var = target(n);
        ctx.run(|| {
            bencher.bench_local(|| {
                let token = var.set(black_box(5));
                var.reset(&token)
            })
        });
    }

    /// A `String`: the value's `Arc` is allocated.
    #[divan::bench(args = SIZES)]
    fn arc_unshared(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = text_context_with(n);
        ctx.run(|| {
            bencher.bench_local(|| {
                let token = TEXT.set(black_box(String::new()));
                TEXT.reset(&token)
            })
        });
    }

    #[divan::bench(args = SIZES)]
    fn inline_after_copy(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        let var = target(n);
        ctx.run(|| {
            bencher.bench_local(|| {
                let copy = copy_context();
                let token = var.set(black_box(5));
                let reset = var.reset(&token);
                drop(copy);
                reset
            })
        });
    }

    #[divan::bench(args = SIZES)]
    fn arc_after_copy(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = text_context_with(n);
        ctx.run(|| {
            bencher.bench_local(|| {
                let copy = copy_context();
                let token = TEXT.set(black_box(String::new()));
                let reset = TEXT.reset(&token);
                drop(copy);
                reset
            })
        });
    }

    #[divan::bench]
    fn tls_cell_set(bencher: Bencher<'_, '_>) {
        bencher.bench_local(|| TLS_CELL.with(|c| c.set(black_box(5))));
    }

    #[divan::bench]
    fn task_local_sync_scope(bencher: Bencher<'_, '_>) {
        bencher.bench_local(|| TL_U64.sync_scope(black_box(5), || black_box(0)));
    }

    #[divan::bench]
    fn otel_current_with_value_attach(bencher: Bencher<'_, '_>) {
        let _guard = otel_context().attach();
        bencher.bench_local(|| {
            drop(opentelemetry::Context::current_with_value(OtelValue(black_box(5))).attach())
        });
    }

    #[divan::bench]
    fn otel_current_with_value_attach_string(bencher: Bencher<'_, '_>) {
        let _guard = otel_text_context().attach();
        bencher.bench_local(|| {
            drop(
                opentelemetry::Context::current_with_value(OtelText(black_box(String::new())))
                    .attach(),
            )
        });
    }
}

/// Snapshotting the current context.
#[divan::bench(args = SIZES)]
fn copy_context_at(bencher: Bencher<'_, '_>, n: usize) {
    let ctx = context_with(n);
    ctx.run(|| bencher.bench_local(copy_context));
}

/// OpenTelemetry's snapshot: a clone of the current context.
#[divan::bench]
fn otel_context_current(bencher: Bencher<'_, '_>) {
    let _guard = otel_context().attach();
    bencher.bench_local(opentelemetry::Context::current);
}

/// Entering a context around a closure.
mod run {
    use super::*;

    #[divan::bench(args = [1, 1024])]
    fn context_run(bencher: Bencher<'_, '_>, n: usize) {
        let ctx = context_with(n);
        bencher.bench_local(|| ctx.run(|| black_box(0)));
    }

    #[divan::bench]
    fn otel_attach(bencher: Bencher<'_, '_>) {
        let cx = otel_context();
        bencher.bench_local(|| drop(cx.clone().attach()));
    }
}

/// One poll of a wrapper around an always-pending future (`Waker::noop()`,
/// no runtime).
mod per_poll {
    use std::future::Future;
    use std::pin::pin;

    use super::*;

    fn polls<F: Future>(bencher: Bencher<'_, '_>, fut: F) {
        let mut fut = pin!(fut);
        bencher.bench_local(|| poll_noop(fut.as_mut()).is_pending());
    }

    #[divan::bench]
    fn bare(bencher: Bencher<'_, '_>) {
        polls(bencher, AlwaysPending::default());
    }

    #[divan::bench]
    fn with_context_owned(bencher: Bencher<'_, '_>) {
        polls(
            bencher,
            AlwaysPending::default().with_context(context_with(1)),
        );
    }

    #[divan::bench]
    fn with_context_shared(bencher: Bencher<'_, '_>) {
        let ctx = Arc::new(context_with(1));
        polls(bencher, AlwaysPending::default().with_context(ctx));
    }

    #[divan::bench(args = [2, 4])]
    fn with_context_nested(bencher: Bencher<'_, '_>, depth: usize) {
        let ctx = context_with(1);
        let inner = WithContext::new(AlwaysPending::default(), ctx.copy());
        let inner = WithContext::new(inner, ctx.copy());
        if depth == 2 {
            polls(bencher, inner);
        } else {
            let inner = WithContext::new(inner, ctx.copy());
            polls(bencher, WithContext::new(inner, ctx.copy()));
        }
    }

    #[divan::bench]
    fn task_local_scope(bencher: Bencher<'_, '_>) {
        polls(bencher, TL_U64.scope(1, AlwaysPending::default()));
    }

    #[divan::bench]
    fn task_local_scope_arc(bencher: Bencher<'_, '_>) {
        polls(bencher, TL_ARC.scope(Arc::new(1), AlwaysPending::default()));
    }

    #[divan::bench]
    fn otel_with_context(bencher: Bencher<'_, '_>) {
        polls(
            bencher,
            opentelemetry::context::FutureExt::with_context(
                AlwaysPending::default(),
                otel_context(),
            ),
        );
    }
}

/// `spawn(..).await` through `contextvars-tokio` and plain tokio.
mod spawn {
    use tokio::runtime::{Builder, Runtime};

    use super::*;

    fn runtime(flavor: &str) -> Runtime {
        match flavor {
            "current_thread" => Builder::new_current_thread().build(),
            _ => Builder::new_multi_thread().worker_threads(2).build(),
        }
        .expect("a tokio runtime")
    }

    const FLAVORS: [&str; 2] = ["current_thread", "multi_thread"];

    #[divan::bench(args = FLAVORS)]
    fn tokio_spawn(bencher: Bencher<'_, '_>, flavor: &str) {
        let rt = runtime(flavor);
        let _enter = rt.enter();
        bencher.bench_local(|| {
            rt.block_on(async { tokio::spawn(async {}).await.expect("task completes") })
        });
    }

    #[divan::bench(args = FLAVORS)]
    fn contextvars_spawn(bencher: Bencher<'_, '_>, flavor: &str) {
        let rt = runtime(flavor);
        let _enter = rt.enter();
        // The spawner's context binds one variable.
        Context::new().run(|| {
            drop(target(1).set(1));
            bencher.bench_local(|| {
                rt.block_on(async {
                    contextvars_tokio::spawn(async {})
                        .await
                        .expect("task completes")
                })
            });
        });
    }

    /// `tokio::spawn(f).await`, `f` a 512-byte future.
    #[divan::bench(args = FLAVORS)]
    fn tokio_spawn_512(bencher: Bencher<'_, '_>, flavor: &str) {
        let rt = runtime(flavor);
        let _enter = rt.enter();
        bencher.bench_local(|| {
            rt.block_on(async {
                tokio::spawn(Ready512::default())
                    .await
                    .expect("task completes")
            })
        });
    }

    /// `contextvars_tokio::spawn(f).await`, `f` a 512-byte future.
    #[divan::bench(args = FLAVORS)]
    fn contextvars_spawn_512(bencher: Bencher<'_, '_>, flavor: &str) {
        let rt = runtime(flavor);
        let _enter = rt.enter();
        Context::new().run(|| {
            drop(target(1).set(1));
            bencher.bench_local(|| {
                rt.block_on(async {
                    contextvars_tokio::spawn(Ready512::default())
                        .await
                        .expect("task completes")
                })
            });
        });
    }
}

/// The automatic mode of `contextvars-tokio` (tokio's task hooks), per poll:
/// only built with `RUSTFLAGS="--cfg tokio_unstable"`.
#[cfg(tokio_unstable)]
mod automatic_mode {
    use tokio::runtime::Builder;

    use super::*;

    fn yields(bencher: Bencher<'_, '_>, rt: &tokio::runtime::Runtime) {
        bencher.bench_local(|| {
            rt.block_on(async {
                tokio::spawn(async {
                    for _ in 0..16 {
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .expect("task completes")
            })
        });
    }

    /// A task that yields 16 times on a plain runtime.
    #[divan::bench]
    fn plain_runtime_16_polls(bencher: Bencher<'_, '_>) {
        let rt = Builder::new_current_thread().build().expect("runtime");
        yields(bencher, &rt);
    }

    /// The same task on a runtime with the task hooks installed.
    #[divan::bench]
    fn task_hooks_16_polls(bencher: Bencher<'_, '_>) {
        let rt = contextvars_tokio::TaskContexts::new()
            .install(&mut Builder::new_current_thread())
            .build()
            .expect("runtime");
        yields(bencher, &rt);
    }
}
