//! A global allocator that counts allocations, on every thread, while a
//! probe runs.
//!
//! Counting is off during the timed repetitions: then each call costs one
//! relaxed load of a flag on top of the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, counting `alloc`, `alloc_zeroed` and `realloc`
/// calls while [`count_allocs`] runs.
pub(crate) struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);

#[inline]
fn record() {
    if ENABLED.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, which
// implements `GlobalAlloc` correctly, and returns its result unchanged; the
// counting only touches two atomics and never allocates or unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract (a
        // layout of non-zero size), which is all `System.alloc` needs.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, that is by `System`
        // (every path above forwards to it), with `layout`, as our caller
        // guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: `ptr` was allocated by `System` with `layout` (see
        // `dealloc`), and our caller guarantees `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns how many allocations it made, on any thread.
///
/// Background threads (an idle tokio worker) are counted too; the report
/// takes the difference of two runs of different lengths, so a constant
/// background cost cancels out.
pub(crate) fn count_allocs(f: &mut dyn FnMut()) -> u64 {
    COUNT.store(0, Ordering::SeqCst);
    ENABLED.store(true, Ordering::SeqCst);
    f();
    ENABLED.store(false, Ordering::SeqCst);
    COUNT.load(Ordering::SeqCst)
}
