//! A count of the `Context`s alive in the process, for leak checks.
//!
//! Each thread counts in a counter of its own, which only that thread writes
//! (a plain load and store, no read-modify-write), so counting costs next to
//! nothing on the paths that make and drop contexts. Reading sums every
//! thread's counter; contexts made on one thread and dropped on another make
//! one counter go up and the other down, and the sum is right.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Every thread's counter, including those of threads that have exited.
static COUNTERS: Mutex<Vec<Arc<AtomicI64>>> = Mutex::new(Vec::new());
/// Changes made while a thread's own counter is unavailable (thread-local
/// teardown).
static FALLBACK: AtomicI64 = AtomicI64::new(0);

thread_local! {
    static COUNTER: Arc<AtomicI64> = {
        let counter = Arc::new(AtomicI64::new(0));
        COUNTERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(counter.clone());
        counter
    };
}

#[inline]
fn add(delta: i64) {
    let counted = COUNTER.try_with(|counter| {
        // Only this thread writes its counter: no atomic read-modify-write
        // is needed, readers see either value.
        counter.store(counter.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    });
    if counted.is_err() {
        FALLBACK.fetch_add(delta, Ordering::Relaxed);
    }
}

pub(crate) fn context_created() {
    add(1);
}

pub(crate) fn context_dropped() {
    add(-1);
}

/// The number of [`Context`](crate::Context) values alive in the process:
/// contexts you hold, copies owned by spawned tasks, threads and futures
/// ([`WithContext`](crate::WithContext)), and contexts entered right now.
/// Each thread's implicit base context is not a `Context` value and is not
/// counted.
///
/// Meant for leak checks in tests and soak runs: take it before a workload,
/// and again when every task of the workload has ended. The sum is exact
/// once no thread is making or dropping contexts; while they are, it may be
/// momentarily off by the contexts in flight.
///
/// # Examples
///
/// ```
/// use contextvars::{live_contexts, Context};
///
/// let before = live_contexts();
/// let ctx = Context::new();
/// let copy = ctx.copy();
/// assert_eq!(live_contexts(), before + 2);
/// drop((ctx, copy));
/// assert_eq!(live_contexts(), before);
/// ```
pub fn live_contexts() -> usize {
    let counters = COUNTERS.lock().unwrap_or_else(PoisonError::into_inner);
    let total: i64 = counters
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum::<i64>()
        + FALLBACK.load(Ordering::Relaxed);
    usize::try_from(total).unwrap_or(0)
}
