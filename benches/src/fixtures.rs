//! What the benchmarks measure: variables, contexts of a given size, an
//! always-pending future, a 512-byte ready future, and the keys of the
//! baselines.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll, Waker};

use contextvars::{Context, ContextVar};

/// The context sizes (number of variables set) that every size-dependent
/// benchmark runs at.
pub const SIZES: [usize; 5] = [1, 4, 16, 64, 1024];

/// The largest size in [`SIZES`].
pub const MAX_VARS: usize = 1024;

/// [`MAX_VARS`] variables, whose ids increase with their index.
///
/// A context of `n` variables binds the first `n` of them.
pub fn vars() -> &'static [ContextVar<u64>] {
    static VARS: OnceLock<&'static [ContextVar<u64>]> = OnceLock::new();
    VARS.get_or_init(|| {
        let vars: Vec<ContextVar<u64>> = (0..MAX_VARS)
            .map(|i| ContextVar::new(Box::leak(format!("var{i}").into_boxed_str())))
            .collect();
        let vars: &'static [ContextVar<u64>] = Box::leak(vars.into_boxed_slice());
        // Ids are assigned on first use: assign them in index order, and
        // give `DEFAULTED` a larger id than all of them, so that looking it
        // up scans a whole small map before missing (the worst case).
        for var in vars {
            let _ = var.key();
        }
        let _ = TEXT.key();
        let _ = DEFAULTED.key();
        vars
    })
}

/// The variable that the benchmarks read and write in a context of `n`
/// variables: the last one bound, which is the worst case of the small map's
/// linear search.
///
/// # Panics
///
/// Panics if `n` is 0 or above [`MAX_VARS`].
pub fn target(n: usize) -> &'static ContextVar<u64> {
    &vars()[n - 1]
}

/// A variable with a default that no benchmark ever sets: reading it misses
/// the context's map and falls back to the default.
pub static DEFAULTED: ContextVar<u64> = ContextVar::with_default("defaulted", || 7);

/// A variable of a type that is not stored inline: every value is shared
/// behind an `Arc`. Its id is larger than those of [`vars`].
pub static TEXT: ContextVar<String> = ContextVar::new("text");

/// The value [`text_context_with`] binds to [`TEXT`]: a short string, as a
/// user name or a tenant would be.
pub const TEXT_VALUE: &str = "user-42";

/// A new context in which the first `n` of [`vars`] are set.
pub fn context_with(n: usize) -> Context {
    let ctx = Context::new();
    ctx.run(|| {
        for (i, var) in vars()[..n].iter().enumerate() {
            drop(var.set(i as u64));
        }
    });
    ctx
}

/// A new context of `n` variables in which [`TEXT`] is the last one bound:
/// the first `n - 1` of [`vars`], then [`TEXT`] set to [`TEXT_VALUE`].
///
/// # Panics
///
/// Panics if `n` is 0 or above [`MAX_VARS`].
pub fn text_context_with(n: usize) -> Context {
    assert!((1..=MAX_VARS).contains(&n), "1 to {MAX_VARS} variables");
    let ctx = context_with(n - 1);
    ctx.run(|| drop(TEXT.set(TEXT_VALUE.to_owned())));
    ctx
}

/// A hand-written future that is never ready; each poll bumps a counter
/// (through [`black_box`], so that the poll is not optimized away).
///
/// Every per-poll benchmark wraps this same future, polled with
/// [`Waker::noop`] and no runtime.
#[derive(Debug, Default)]
pub struct AlwaysPending {
    polls: u64,
}

impl AlwaysPending {
    /// How many times it was polled.
    pub fn polls(&self) -> u64 {
        self.polls
    }
}

impl Future for AlwaysPending {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        self.polls = black_box(self.polls + 1);
        Poll::Pending
    }
}

/// A future of exactly 512 bytes, ready at its first poll: the task body of
/// the spawn benchmarks that compare the cost of spawning a future of a
/// realistic size (an `async fn` holding a few buffers or a request across
/// its awaits).
#[derive(Debug, Clone)]
pub struct Ready512 {
    payload: [u64; 64],
}

const _: () = assert!(std::mem::size_of::<Ready512>() == 512);

impl Default for Ready512 {
    fn default() -> Self {
        Ready512 { payload: [1; 64] }
    }
}

impl Future for Ready512 {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        black_box(&self.payload);
        Poll::Ready(())
    }
}

/// Polls `fut` once with [`Waker::noop`].
#[inline]
pub fn poll_noop<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut TaskContext::from_waker(Waker::noop()))
}

/// The value type stored in OpenTelemetry contexts (which are keyed by type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtelValue(pub u64);

/// An OpenTelemetry context with one entry, an [`OtelValue`].
pub fn otel_context() -> opentelemetry::Context {
    opentelemetry::Context::new().with_value(OtelValue(1))
}

/// A `String` value type for OpenTelemetry contexts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelText(pub String);

/// An OpenTelemetry context with one entry, an [`OtelText`] holding
/// [`TEXT_VALUE`].
pub fn otel_text_context() -> opentelemetry::Context {
    opentelemetry::Context::new().with_value(OtelText(TEXT_VALUE.to_owned()))
}

/// An entry of the sketch's map: a variable id and a type-erased value.
type SketchEntry = (u64, Arc<dyn Any + Send + Sync>);

/// Reference point: the least a map-backed read can do in safe Rust. A
/// thread-local `RefCell` borrowed for the read, holding the entries in one
/// allocation right behind its pointer, a linear search by id and `Any`'s
/// checked downcast. It has none of what a real current context needs:
/// writes and context switches while a reader holds `&T` (the borrow would
/// make them fail), copies, teardown. It shows the floor a safe design
/// starts from, not a design.
#[inline]
pub fn sketch_read(id: u64) -> Option<u64> {
    SAFE_MAP_SKETCH
        .try_with(|map| {
            let map = map.try_borrow().ok()?;
            let entry = map.as_deref()?.iter().find(|entry| entry.0 == id)?;
            entry.1.downcast_ref::<u64>().copied()
        })
        .ok()
        .flatten()
}

/// Reference point: what `unsafe` code buys a map-backed read. As
/// [`sketch_read`], but the thread-local holds a plain pointer to the
/// entries (no borrow flag, no destructor to register) and the value is cast
/// to its type without `Any`'s check, trusting that an id is only ever bound
/// to one type. Like the safe sketch it has none of what a real current
/// context needs; it shows the floor an `unsafe` design starts from.
#[inline]
pub fn sketch_read_unchecked(id: u64) -> Option<u64> {
    let entries = UNSAFE_MAP_SKETCH.with(Cell::get);
    // SAFETY: the pointer is null or points into the entries that
    // `with_sketch_entry` keeps alive, unchanged, until it nulls the pointer
    // again; nothing writes to them while it is set.
    let entries = unsafe { entries.as_ref() }?;
    let entry = entries.iter().find(|entry| entry.0 == id)?;
    // SAFETY: `with_sketch_entry` binds its id to a `u64`, and the sketch
    // binds no other id.
    Some(unsafe { *Arc::as_ptr(&entry.1).cast::<u64>() })
}

/// Fills the maps [`sketch_read`] and [`sketch_read_unchecked`] read with
/// one entry, `(id, 1u64)`, and runs `f`.
pub fn with_sketch_entry<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let entries: Arc<[SketchEntry]> =
        Arc::new([(id, Arc::new(1u64) as Arc<dyn Any + Send + Sync>)]);
    UNSAFE_MAP_SKETCH.with(|map| map.set(Arc::as_ptr(&entries)));
    SAFE_MAP_SKETCH.with(|map| *map.borrow_mut() = Some(entries));
    let r = f();
    UNSAFE_MAP_SKETCH.with(|map| map.set(NO_ENTRIES));
    SAFE_MAP_SKETCH.with(|map| map.borrow_mut().take());
    r
}

/// The value of [`UNSAFE_MAP_SKETCH`] when it points to no entries.
const NO_ENTRIES: *const [SketchEntry] = std::ptr::slice_from_raw_parts(std::ptr::null(), 0);

thread_local! {
    /// The map [`sketch_read`] reads.
    static SAFE_MAP_SKETCH: RefCell<Option<Arc<[SketchEntry]>>> = const { RefCell::new(None) };
    /// The entries [`sketch_read_unchecked`] reads (those of
    /// `SAFE_MAP_SKETCH`), or null.
    static UNSAFE_MAP_SKETCH: Cell<*const [SketchEntry]> = const { Cell::new(NO_ENTRIES) };
    /// Baseline: the cheapest thread-local read.
    pub static TLS_CELL: Cell<u64> = const { Cell::new(1) };
    /// Baseline: a shared value in a thread-local, as a hand-rolled "current
    /// value" would hold it.
    pub static TLS_ARC: RefCell<Option<Arc<u64>>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// Baseline: a tokio task-local `u64`, the cheapest task-local value.
    pub static TL_U64: u64;
    /// Baseline: a tokio task-local `Arc<u64>`, the shape of a shared value.
    pub static TL_ARC: Arc<u64>;
}
