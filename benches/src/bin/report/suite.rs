//! The report's benchmarks, group by group.
//!
//! Every routine takes an iteration count and returns the time of the timed
//! loop only; contexts, wrappers and runtimes are set up outside of it.
//! `contextvars` rows run in a context that binds the first `n` of
//! [`vars`](contextvars_benches::fixtures::vars) (entered with
//! `Context::run` around the loop) and use the last of them
//! ([`target`]): see `fixtures`.

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contextvars::runtime::Task;
use contextvars::{child_context, copy_context, ContextVar, WithContext};
use contextvars_benches::fixtures::{
    context_with, otel_context, otel_text_context, poll_noop, sketch_read, sketch_read_unchecked,
    target, text_context_with, with_sketch_entry, AlwaysPending, OtelText, OtelValue, Ready512,
    DEFAULTED, SIZES, TEXT, TEXT_VALUE, TLS_ARC, TLS_CELL, TL_ARC, TL_U64,
};
use contextvars_benches::harness::{time_loop, Bench, Group, Routine};
use tokio::runtime::{Builder, Runtime};

/// "1 var", "4 vars", …
fn vars_label(n: usize) -> String {
    if n == 1 {
        "1 var".into()
    } else {
        format!("{n} vars")
    }
}

fn routine(f: impl FnMut(u64) -> Duration + 'static) -> Routine {
    Box::new(f)
}

/// Every group, in the order of the report.
pub(crate) fn groups() -> Vec<Group> {
    let mut groups = vec![
        get(),
        set_reset(),
        copy(),
        run(),
        poll(),
        spawn_current_thread(),
        task_polls(),
        spawn_multi_thread(),
        crate::http::in_process(),
    ];
    groups.extend(auto());
    groups
}

/// Runs `f` with an OpenTelemetry context of one entry attached.
fn in_otel_context<R>(f: impl FnOnce() -> R) -> R {
    let _guard = otel_context().attach();
    f()
}

/// Runs `f` in `TLS_ARC` holding a value.
fn with_tls_arc<R>(f: impl FnOnce() -> R) -> R {
    TLS_ARC.with(|slot| *slot.borrow_mut() = Some(Arc::new(1)));
    let r = f();
    TLS_ARC.with(|slot| slot.borrow_mut().take());
    r
}

fn get() -> Group {
    let mut b = vec![
        Bench::baseline(
            "tls.cell.get",
            "Cell",
            "thread_local! Cell<u64> get (const init)",
            routine(|n| time_loop(n, |_| TLS_CELL.with(Cell::get))),
        ),
        Bench::baseline(
            "tls.refcell.read",
            "RefCell",
            "thread_local! RefCell<Option<Arc<u64>>> borrow + read",
            routine(|n| {
                with_tls_arc(|| time_loop(n, |_| TLS_ARC.with(|s| s.borrow().as_deref().copied())))
            }),
        ),
        Bench::info(
            "tls.refcell.clone",
            "thread_local! RefCell<Option<Arc<u64>>> borrow + Arc clone (+drop)",
            routine(|n| with_tls_arc(|| time_loop(n, |_| TLS_ARC.with(|s| s.borrow().clone())))),
        ),
        Bench::baseline(
            "tl.with",
            "task_local",
            "task_local u64: KEY.with(|v| *v) inside sync_scope",
            routine(|n| TL_U64.sync_scope(1, || time_loop(n, |_| TL_U64.with(|v| *v)))),
        ),
        Bench::info(
            "tl.arc.clone",
            "task_local Arc<u64>: KEY.with(|a| a.clone()) (+drop)",
            routine(|n| {
                TL_ARC.sync_scope(Arc::new(1), || time_loop(n, |_| TL_ARC.with(Arc::clone)))
            }),
        ),
        Bench::info(
            "sketch.safe_read",
            "reference: least safe map read (thread-local RefCell of [(id, Arc<dyn Any>)], find, \
             downcast; no writes under a reader, no copies) [1 entry]",
            routine(|n| {
                let id = black_box(7);
                with_sketch_entry(id, || time_loop(n, |_| sketch_read(id)))
            }),
        ),
        Bench::info(
            "sketch.unchecked_read",
            "reference: the same with unsafe code (thread-local raw pointer, unchecked cast; \
             no writes under a reader, no copies) [1 entry]",
            routine(|n| {
                let id = black_box(7);
                with_sketch_entry(id, || time_loop(n, |_| sketch_read_unchecked(id)))
            }),
        ),
        Bench::baseline(
            "otel.map_current",
            "OTel",
            "OTel Context::map_current(|c| c.get::<T>().copied()), T a u64 newtype [1 entry]",
            routine(|n| {
                in_otel_context(|| {
                    time_loop(n, |_| {
                        opentelemetry::Context::map_current(|c| c.get::<OtelValue>().copied())
                    })
                })
            }),
        ),
        Bench::info(
            "otel.current",
            "OTel Context::current() (+drop) [1 entry]",
            routine(|n| in_otel_context(|| time_loop(n, |_| opentelemetry::Context::current()))),
        ),
        Bench::info(
            "otel.current.get",
            "OTel Context::current().get::<T>() (+drop) [1 entry]",
            routine(|n| {
                in_otel_context(|| {
                    time_loop(n, |_| {
                        opentelemetry::Context::current()
                            .get::<OtelValue>()
                            .map(|v| v.0)
                    })
                })
            }),
        ),
    ];
    for size in SIZES {
        let ctx = context_with(size);
        let var = target(size);
        b.push(Bench::ours(
            format!("get.value.{size}"),
            format!("u64 var.get(), by value [{}]", vars_label(size)),
            routine(move |n| ctx.run(|| time_loop(n, |_| black_box(var).get()))),
        ));
    }
    for size in SIZES {
        let ctx = context_with(size);
        let var = target(size);
        b.push(Bench::ours(
            format!("get.with.{size}"),
            format!("u64 var.with(|v| *v), borrowed [{}]", vars_label(size)),
            routine(move |n| ctx.run(|| time_loop(n, |_| black_box(var).with(|v| *v)))),
        ));
    }
    for size in SIZES {
        let ctx = text_context_with(size);
        b.push(Bench::ours(
            format!("get.arc.{size}"),
            format!(
                "String var.get_arc(), the shared Arc<String> (+drop) [{}]",
                vars_label(size)
            ),
            routine(move |n| ctx.run(|| time_loop(n, |_| black_box(&TEXT).get_arc()))),
        ));
    }
    let ctx = text_context_with(1);
    b.push(Bench::ours(
        "get.clone_string.1",
        format!(
            "String var.get(), a clone of {:?} (allocates its buffer) [1 var]",
            TEXT_VALUE
        ),
        routine(move |n| ctx.run(|| time_loop(n, |_| black_box(&TEXT).get()))),
    ));
    for size in [1, 1024] {
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("get_default.value.{size}"),
            format!("unset, default: u64 var.get() [{}]", vars_label(size)),
            routine(move |n| ctx.run(|| time_loop(n, |_| black_box(&DEFAULTED).get()))),
        ));
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("get_default.with.{size}"),
            format!(
                "unset, default: u64 var.with(|v| *v) [{}]",
                vars_label(size)
            ),
            routine(move |n| ctx.run(|| time_loop(n, |_| black_box(&DEFAULTED).with(|v| *v)))),
        ));
    }
    Group {
        title: "get: read a variable of the current context".into(),
        note: "OTel rows read the current OpenTelemetry context with one entry attached (a \
               u64 newtype). Ours read the last variable bound in a context of N variables: \
               a u64 (stored inline) by value and borrowed, a String (shared behind an Arc) \
               as its Arc and as a clone."
            .into(),
        benches: b,
    }
}

fn set_reset() -> Group {
    let mut b = vec![
        Bench::baseline(
            "tls.cell.set",
            "Cell",
            "thread_local! Cell<u64> set",
            routine(|n| time_loop(n, |i| TLS_CELL.with(|c| c.set(i)))),
        ),
        Bench::baseline(
            "tls.refcell.swap",
            "RefCell",
            "thread_local! RefCell<Option<Arc<u64>>> swap in + swap back",
            routine(|n| {
                let mut other = Some(Arc::new(2));
                with_tls_arc(|| {
                    time_loop(n, |_| {
                        TLS_ARC.with(|s| {
                            let prev = s.replace(other.take());
                            other = s.replace(prev);
                        })
                    })
                })
            }),
        ),
        Bench::baseline(
            "tl.sync_scope",
            "task_local",
            "task_local u64: KEY.sync_scope(v, || ()) (enter + exit)",
            routine(|n| time_loop(n, |i| TL_U64.sync_scope(i, || black_box(0)))),
        ),
        Bench::info(
            "tl.sync_scope.arc",
            "task_local Arc<u64>: KEY.sync_scope(arc.clone(), || ())",
            routine(|n| {
                let arc = Arc::new(1);
                time_loop(n, |_| TL_ARC.sync_scope(arc.clone(), || black_box(0)))
            }),
        ),
        Bench::info(
            "arc.new_drop",
            "reference: Arc::new(v) + drop (the allocation every write of a shared value pays)",
            routine(|n| time_loop(n, |i| drop(black_box(Arc::new(i))))),
        ),
        Bench::baseline(
            "otel.set_reset",
            "OTel u64",
            "OTel Context::current_with_value(v).attach() + drop guard, v a u64 newtype \
             [1 entry, same type]",
            routine(|n| {
                in_otel_context(|| {
                    time_loop(n, |i| {
                        drop(opentelemetry::Context::current_with_value(OtelValue(i)).attach())
                    })
                })
            }),
        ),
        Bench::baseline(
            "otel.set_reset.string",
            "OTel String",
            "OTel Context::current_with_value(v).attach() + drop guard, v a String newtype \
             of String::new() [1 entry, same type]",
            routine(|n| {
                let _guard = otel_text_context().attach();
                time_loop(n, |_| {
                    drop(
                        opentelemetry::Context::current_with_value(OtelText(String::new()))
                            .attach(),
                    )
                })
            }),
        ),
    ];
    for size in SIZES {
        let ctx = context_with(size);
        let var = target(size);
        b.push(Bench::ours(
            format!("set_reset.inline.unshared.{size}"),
            format!(
                "u64 (inline) var.reset(&var.set(v)), unshared context [{}]",
                vars_label(size)
            ),
            routine(move |n| {
                ctx.run(|| {
                    time_loop(n, |i| {
                        let token = var.set(i);
                        var.reset(&token)
                    })
                })
            }),
        ));
    }
    for size in SIZES {
        let ctx = text_context_with(size);
        b.push(Bench::ours(
            format!("set_reset.arc.unshared.{size}"),
            format!(
                "String (in an Arc) var.reset(&var.set(String::new())), unshared context [{}]",
                vars_label(size)
            ),
            routine(move |n| {
                ctx.run(|| {
                    time_loop(n, |_| {
                        let token = TEXT.set(String::new());
                        TEXT.reset(&token)
                    })
                })
            }),
        ));
    }
    for size in SIZES {
        let ctx = context_with(size);
        let var = target(size);
        b.push(Bench::ours(
            format!("set_reset.inline.after_copy.{size}"),
            format!(
                "u64 (inline): copy_context(); set; reset; drop copy [{}]",
                vars_label(size)
            ),
            routine(move |n| {
                ctx.run(|| {
                    time_loop(n, |i| {
                        let copy = copy_context();
                        let token = var.set(i);
                        let reset = var.reset(&token);
                        drop(copy);
                        reset
                    })
                })
            }),
        ));
    }
    for size in SIZES {
        let ctx = text_context_with(size);
        b.push(Bench::ours(
            format!("set_reset.arc.after_copy.{size}"),
            format!(
                "String (in an Arc): copy_context(); set; reset; drop copy [{}]",
                vars_label(size)
            ),
            routine(move |n| {
                ctx.run(|| {
                    time_loop(n, |_| {
                        let copy = copy_context();
                        let token = TEXT.set(String::new());
                        let reset = TEXT.reset(&token);
                        drop(copy);
                        reset
                    })
                })
            }),
        ));
    }
    let ctx = context_with(1);
    let var = target(1);
    b.push(Bench::ours(
        "scope.inline.1",
        "u64 (inline) var.scope(v, || ()) [1 var]",
        routine(move |n| ctx.run(|| time_loop(n, |i| var.scope(i, || black_box(0))))),
    ));
    Group {
        title: "set + reset: write a variable and undo it".into(),
        note: "Ours overwrite the last variable of a context of N variables: a u64, stored \
               inline in the map (no allocation), or a String, whose every value is put in a \
               new Arc (String::new() allocates no buffer, so the Arc is the one allocation). \
               \"unshared\" is the steady state of a context no copy shares; \"after copy\" \
               pays for copying the map on the first write. OTel overwrites an entry of the \
               same type in a context of one entry."
            .into(),
        benches: b,
    }
}

fn copy() -> Group {
    let mut b = vec![
        Bench::baseline(
            "tls.refcell.clone",
            "RefCell",
            "thread_local! RefCell<Option<Arc<u64>>> borrow + Arc clone (+drop)",
            routine(|n| with_tls_arc(|| time_loop(n, |_| TLS_ARC.with(|s| s.borrow().clone())))),
        ),
        Bench::baseline(
            "tl.arc.clone",
            "task_local",
            "task_local Arc<u64>: KEY.with(|a| a.clone()) (+drop)",
            routine(|n| {
                TL_ARC.sync_scope(Arc::new(1), || time_loop(n, |_| TL_ARC.with(Arc::clone)))
            }),
        ),
        Bench::baseline(
            "otel.current",
            "OTel",
            "OTel Context::current() (+drop) [1 entry]",
            routine(|n| in_otel_context(|| time_loop(n, |_| opentelemetry::Context::current()))),
        ),
    ];
    for size in SIZES {
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("copy.{size}"),
            format!("copy_context() (+drop) [{}]", vars_label(size)),
            routine(move |n| ctx.run(|| time_loop(n, |_| copy_context()))),
        ));
    }
    // A variable children leave out: their map is a copy without it.
    static LOCAL: ContextVar<u64> = ContextVar::builder("local").not_inherited().build();
    for size in [1, 1024] {
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("child_context.{size}"),
            format!("child_context() (+drop) [{}]", vars_label(size)),
            routine(move |n| ctx.run(|| time_loop(n, |_| child_context()))),
        ));
        let ctx = context_with(size);
        ctx.run(|| LOCAL.set(1));
        b.push(Bench::ours(
            format!("child_context_local.{size}"),
            format!(
                "child_context() (+drop) [{} + 1 not inherited]",
                vars_label(size)
            ),
            routine(move |n| ctx.run(|| time_loop(n, |_| child_context()))),
        ));
    }
    Group {
        title: "copy_context: snapshot the current context".into(),
        note: "OTel's snapshot is Context::current(), a clone of the current context.".into(),
        benches: b,
    }
}

fn run() -> Group {
    let mut b = vec![
        Bench::baseline(
            "tl.sync_scope",
            "task_local",
            "task_local u64: KEY.sync_scope(v, || 0)",
            routine(|n| time_loop(n, |i| TL_U64.sync_scope(i, || black_box(0)))),
        ),
        Bench::baseline(
            "otel.attach",
            "OTel",
            "OTel cx.clone().attach() + drop guard [1 entry]",
            routine(|n| {
                let cx = otel_context();
                time_loop(n, |_| drop(cx.clone().attach()))
            }),
        ),
    ];
    for size in [1, 1024] {
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("run.{size}"),
            format!("ctx.run(|| 0) [{}]", vars_label(size)),
            routine(move |n| time_loop(n, |_| ctx.run(|| black_box(0)))),
        ));
    }
    let ctx = context_with(1);
    let var = target(1);
    b.push(Bench::ours(
        "run_with.1",
        "ctx.run(|| var.with(|v| *v)), u64 [1 var]",
        routine(move |n| time_loop(n, |_| ctx.run(|| var.with(|v| *v)))),
    ));
    Group {
        title: "Context::run: enter a context around a closure".into(),
        note: "Run from the thread's own context; the closure does nothing.".into(),
        benches: b,
    }
}

/// Times `n` polls of `fut`, which must stay pending.
fn time_polls<F: Future>(fut: F, n: u64) -> Duration {
    let mut fut = pin!(fut);
    time_loop(n, |_| poll_noop(fut.as_mut()).is_pending())
}

fn poll() -> Group {
    let mut b = vec![
        Bench::baseline(
            "poll.bare",
            "bare",
            "bare AlwaysPending future",
            routine(|n| time_polls(AlwaysPending::default(), n)),
        ),
        Bench::baseline(
            "poll.task_local",
            "task_local",
            "task_local u64: KEY.scope(v, fut)",
            routine(|n| time_polls(TL_U64.scope(1, AlwaysPending::default()), n)),
        ),
        Bench::info(
            "poll.task_local.arc",
            "task_local Arc<u64>: KEY.scope(arc, fut)",
            routine(|n| time_polls(TL_ARC.scope(Arc::new(1), AlwaysPending::default()), n)),
        ),
        Bench::info(
            "poll.task_local.4",
            "4 nested task_local u64 scopes",
            routine(|n| {
                let fut = AlwaysPending::default();
                let fut = TL_U64.scope(4, TL_U64.scope(3, TL_U64.scope(2, TL_U64.scope(1, fut))));
                time_polls(fut, n)
            }),
        ),
        Bench::baseline(
            "poll.otel",
            "OTel",
            "OTel fut.with_context(cx) [1 entry]",
            routine(|n| {
                time_polls(
                    opentelemetry::context::FutureExt::with_context(
                        AlwaysPending::default(),
                        otel_context(),
                    ),
                    n,
                )
            }),
        ),
    ];
    for size in [1, 1024] {
        let ctx = context_with(size);
        b.push(Bench::ours(
            format!("poll.with_context.{size}"),
            format!(
                "WithContext (owned context), a task's root future: the task probe asked at the first poll [{}]",
                vars_label(size)
            ),
            routine(move |n| {
                time_polls(
                    contextvars::FutureExt::with_context(AlwaysPending::default(), ctx.copy())
                        .task_root(),
                    n,
                )
            }),
        ));
    }
    let ctx = context_with(1);
    b.push(Bench::ours(
        "poll.task.1",
        "runtime::Task (what contextvars_tokio::spawn hands to tokio), no runtime: the task \
         probe asked at every poll finds no task [1 var]",
        routine(move |n| time_polls(Task::with_context(AlwaysPending::default(), ctx.copy()), n)),
    ));
    let ctx = context_with(1);
    b.push(Bench::ours(
        "poll.with_context.any_task",
        "WithContext (owned context), not a task's root: the task probe asked at every poll [1 var]",
        routine(move |n| {
            time_polls(
                contextvars::FutureExt::with_context(AlwaysPending::default(), ctx.copy()),
                n,
            )
        }),
    ));
    let ctx = Arc::new(context_with(1));
    b.push(Bench::ours(
        "poll.with_context.shared",
        "WithContext (shared Arc<Context>) [1 var]",
        routine(move |n| {
            time_polls(
                contextvars::FutureExt::with_context(AlwaysPending::default(), ctx.clone()),
                n,
            )
        }),
    ));
    let ctx = context_with(1);
    b.push(Bench::ours(
        "poll.with_context.nested2",
        "2 nested WithContext (owned) [1 var each]",
        routine(move |n| {
            let fut = WithContext::new(AlwaysPending::default(), ctx.copy());
            time_polls(WithContext::new(fut, ctx.copy()), n)
        }),
    ));
    let ctx = context_with(1);
    b.push(Bench::ours(
        "poll.with_context.nested4",
        "4 nested WithContext (owned) [1 var each]",
        routine(move |n| {
            let fut = WithContext::new(AlwaysPending::default(), ctx.copy());
            let fut = WithContext::new(fut, ctx.copy());
            let fut = WithContext::new(fut, ctx.copy());
            time_polls(WithContext::new(fut, ctx.copy()), n)
        }),
    ));
    Group {
        title: "per poll: a wrapper around an always-pending future".into(),
        note: "Gross time of one poll of the wrapper (the bare future's own poll included), \
               polled with Waker::noop() and no runtime. Overhead = row - bare."
            .into(),
        benches: b,
    }
}

fn current_thread() -> Rc<Runtime> {
    Rc::new(
        Builder::new_current_thread()
            .build()
            .expect("a current_thread runtime"),
    )
}

fn multi_thread() -> Rc<Runtime> {
    Rc::new(
        Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a multi_thread runtime"),
    )
}

/// The body of a spawn benchmark: in a new context that binds one variable
/// (`contextvars_tokio::root`), times `n` sequential `spawn(..).await`s
/// made by `spawn_await`.
async fn spawn_loop<F, Fut>(n: u64, spawn_await: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    contextvars_tokio::root(async move {
        drop(target(1).set(1));
        let start = Instant::now();
        for _ in 0..n {
            spawn_await().await;
        }
        start.elapsed()
    })
    .await
}

async fn tokio_spawn() {
    tokio::spawn(async {}).await.expect("task completes");
}

async fn contextvars_spawn() {
    contextvars_tokio::spawn(async {})
        .await
        .expect("task completes");
}

async fn task_local_spawn() {
    tokio::spawn(TL_U64.scope(1, async {}))
        .await
        .expect("task completes");
}

async fn tokio_spawn_512() {
    tokio::spawn(Ready512::default())
        .await
        .expect("task completes");
}

async fn contextvars_spawn_512() {
    contextvars_tokio::spawn(Ready512::default())
        .await
        .expect("task completes");
}

/// The sizes of the futures the spawn rows hand to `tokio::spawn`: `async
/// {}` and [`Ready512`], bare and as `contextvars_tokio::spawn` wraps them
/// (`contextvars::runtime::Task`).
fn spawned_sizes() -> String {
    let empty = async {};
    let wrapped_empty = std::mem::size_of_val(&Task::new(async {}));
    let wrapped_512 = std::mem::size_of_val(&Task::new(Ready512::default()));
    format!(
        "Futures handed to tokio::spawn: async {{}} {} bytes, wrapped by \
         contextvars_tokio::spawn (runtime::Task) {wrapped_empty}; Ready512 {} bytes, \
         wrapped {wrapped_512}.",
        std::mem::size_of_val(&empty),
        std::mem::size_of::<Ready512>(),
    )
}

fn spawn_current_thread() -> Group {
    let rt = current_thread();
    let b = vec![
        Bench::baseline(
            "spawn.ct.tokio.empty",
            "tokio async {}",
            "tokio::spawn(async {}).await",
            routine({
                let rt = rt.clone();
                move |n| rt.block_on(spawn_loop(n, tokio_spawn))
            }),
        ),
        Bench::info(
            "spawn.ct.tokio.empty.bare",
            "tokio::spawn(async {}).await, bare block_on (no root context)",
            routine({
                let rt = rt.clone();
                move |n| {
                    rt.block_on(async move {
                        let start = Instant::now();
                        for _ in 0..n {
                            tokio_spawn().await;
                        }
                        start.elapsed()
                    })
                }
            }),
        ),
        Bench::info(
            "spawn.ct.task_local.empty",
            "tokio::spawn(TL.scope(v, async {})).await",
            routine({
                let rt = rt.clone();
                move |n| rt.block_on(spawn_loop(n, task_local_spawn))
            }),
        ),
        Bench::info(
            "spawn.ct.otel.empty",
            "OTel tokio::spawn(async {}.with_current_context()).await [1 entry]",
            routine({
                let rt = rt.clone();
                move |n| {
                    rt.block_on(async move {
                        let _guard = otel_context().attach();
                        spawn_loop(n, || async {
                            let fut =
                                opentelemetry::context::FutureExt::with_current_context(async {});
                            tokio::spawn(fut).await.expect("task completes");
                        })
                        .await
                    })
                }
            }),
        ),
        Bench::ours(
            "spawn.ct.contextvars.empty",
            "contextvars_tokio::spawn(async {}).await [1 var]",
            routine({
                let rt = rt.clone();
                move |n| rt.block_on(spawn_loop(n, contextvars_spawn))
            }),
        ),
        Bench::baseline(
            "spawn.ct.tokio.fut512",
            "tokio 512 B",
            "tokio::spawn(f).await, f a 512-byte future",
            routine({
                let rt = rt.clone();
                move |n| rt.block_on(spawn_loop(n, tokio_spawn_512))
            }),
        ),
        Bench::ours(
            "spawn.ct.contextvars.fut512",
            "contextvars_tokio::spawn(f).await, f a 512-byte future [1 var]",
            routine(move |n| rt.block_on(spawn_loop(n, contextvars_spawn_512))),
        ),
    ];
    Group {
        title: "spawn + await, current_thread runtime".into(),
        note: format!(
            "Sequential spawn(..).await from the block_on future, which (except in the \
             \"bare\" row) runs in a contextvars_tokio::root context binding one variable. {}",
            spawned_sizes()
        ),
        benches: b,
    }
}

/// Polls of a spawned task: each yields this many times before it ends.
const YIELDS: usize = 16;

/// A task body that yields [`YIELDS`] times (one poll each) and ends.
async fn yielding() {
    for _ in 0..YIELDS {
        tokio::task::yield_now().await;
    }
}

fn task_polls() -> Group {
    let rt = current_thread();
    let (rt1, rt2, rt3, rt4) = (rt.clone(), rt.clone(), rt.clone(), rt);
    let b = vec![
        Bench::baseline(
            "polls.ct.tokio",
            "tokio",
            "tokio::spawn(yielding()).await",
            routine(move |n| {
                rt1.block_on(spawn_loop(n, || async {
                    tokio::spawn(yielding()).await.expect("task completes");
                }))
            }),
        ),
        Bench::info(
            "polls.ct.task_local",
            "tokio::spawn(TL.scope(v, yielding())).await",
            routine(move |n| {
                rt2.block_on(spawn_loop(n, || async {
                    tokio::spawn(TL_U64.scope(1, yielding()))
                        .await
                        .expect("task completes");
                }))
            }),
        ),
        Bench::ours(
            "polls.ct.contextvars",
            "contextvars_tokio::spawn(yielding()).await [1 var]",
            routine(move |n| {
                rt3.block_on(spawn_loop(n, || async {
                    contextvars_tokio::spawn(yielding())
                        .await
                        .expect("task completes");
                }))
            }),
        ),
        Bench::ours(
            "polls.ct.with_current_context",
            "tokio::spawn(yielding().with_current_context()).await [1 var]",
            routine(move |n| {
                rt4.block_on(spawn_loop(n, || async {
                    tokio::spawn(contextvars::FutureExt::with_current_context(yielding()))
                        .await
                        .expect("task completes");
                }))
            }),
        ),
    ];
    Group {
        title: format!("task polls: spawn + {YIELDS} yields + await, current_thread runtime"),
        note: format!(
            "As the spawn rows, but the task yields {YIELDS} times (tokio::task::yield_now), \
             so it is polled {} times: the per-poll cost inside a runtime. \
             contextvars_tokio::spawn hands tokio a runtime::Task (the context's id and \
             map beside the future; the task probe, one read of tokio's thread-local, asked \
             at every poll); the last row wraps the same future in a WithContext that is not \
             marked as a task's root.",
            YIELDS + 1
        ),
        benches: b,
    }
}

fn spawn_multi_thread() -> Group {
    let rt = multi_thread();
    // The spawner is itself a worker task.
    fn from_worker<Fut>(rt: &Runtime, body: Fut) -> Duration
    where
        Fut: Future<Output = Duration> + Send + 'static,
    {
        rt.block_on(async move { tokio::spawn(body).await.expect("spawner completes") })
    }
    let b = vec![
        Bench::baseline(
            "spawn.mt.tokio.empty",
            "tokio async {}",
            "tokio::spawn(async {}).await",
            routine({
                let rt = rt.clone();
                move |n| from_worker(&rt, spawn_loop(n, tokio_spawn))
            }),
        ),
        Bench::info(
            "spawn.mt.task_local.empty",
            "tokio::spawn(TL.scope(v, async {})).await",
            routine({
                let rt = rt.clone();
                move |n| from_worker(&rt, spawn_loop(n, task_local_spawn))
            }),
        ),
        Bench::ours(
            "spawn.mt.contextvars.empty",
            "contextvars_tokio::spawn(async {}).await [1 var]",
            routine({
                let rt = rt.clone();
                move |n| from_worker(&rt, spawn_loop(n, contextvars_spawn))
            }),
        ),
        Bench::baseline(
            "spawn.mt.tokio.fut512",
            "tokio 512 B",
            "tokio::spawn(f).await, f a 512-byte future",
            routine({
                let rt = rt.clone();
                move |n| from_worker(&rt, spawn_loop(n, tokio_spawn_512))
            }),
        ),
        Bench::ours(
            "spawn.mt.contextvars.fut512",
            "contextvars_tokio::spawn(f).await, f a 512-byte future [1 var]",
            routine(move |n| from_worker(&rt, spawn_loop(n, contextvars_spawn_512))),
        ),
    ];
    Group {
        title: "spawn + await, multi_thread runtime (2 workers)".into(),
        note: "As on current_thread, but the spawning loop is itself a task on a worker. Noisy: \
               thread wake-ups make it bimodal."
            .into(),
        benches: b,
    }
}

#[cfg(not(tokio_unstable))]
fn auto() -> Option<Group> {
    None
}

/// Whether the automatic (task-hook) mode is measured in this build.
pub(crate) const AUTO_MODE: bool = cfg!(tokio_unstable);

#[cfg(tokio_unstable)]
fn auto() -> Option<Group> {
    use contextvars_tokio::TaskContexts;

    /// A task body that yields `n` times: `n` polls of the task.
    async fn yields(n: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
        start.elapsed()
    }

    let plain = current_thread();
    let auto = Rc::new(
        TaskContexts::new()
            .install(&mut Builder::new_current_thread())
            .build()
            .expect("a current_thread runtime with task hooks"),
    );
    let (plain1, plain2, plain3) = (plain.clone(), plain.clone(), plain);
    let (auto1, auto2) = (auto.clone(), auto);
    let in_root = |n: u64, spawn: fn(u64) -> tokio::task::JoinHandle<Duration>| {
        contextvars_tokio::root(async move {
            drop(target(1).set(1));
            spawn(n).await.expect("task completes")
        })
    };
    let b = vec![
        Bench::baseline(
            "auto.poll.plain",
            "tokio poll",
            "plain runtime: tokio::spawn'd task, per poll (yield_now loop)",
            routine(move |n| plain1.block_on(in_root(n, |n| tokio::spawn(yields(n))))),
        ),
        Bench::ours(
            "auto.poll.wrapped",
            "plain runtime: contextvars_tokio::spawn'd task, per poll [1 var]",
            routine(move |n| plain2.block_on(in_root(n, |n| contextvars_tokio::spawn(yields(n))))),
        ),
        Bench::ours(
            "auto.poll.hooks",
            "automatic mode: tokio::spawn'd task, per poll [1 var]",
            routine(move |n| auto1.block_on(in_root(n, |n| tokio::spawn(yields(n))))),
        ),
        Bench::baseline(
            "auto.spawn.plain",
            "tokio spawn",
            "plain runtime: tokio::spawn(async {}).await",
            routine(move |n| plain3.block_on(spawn_loop(n, tokio_spawn))),
        ),
        Bench::ours(
            "auto.spawn.hooks",
            "automatic mode: tokio::spawn(async {}).await [1 var]",
            routine(move |n| auto2.block_on(spawn_loop(n, tokio_spawn))),
        ),
    ];
    Some(Group {
        title: "automatic mode (tokio_unstable task hooks), current_thread runtime".into(),
        note: "Per-poll rows: one task yields n times (tokio::task::yield_now), so each \
               iteration is one poll of the task plus the scheduler's round trip."
            .into(),
        benches: b,
    })
}
