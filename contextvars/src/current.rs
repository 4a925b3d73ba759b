//! The current context of each thread.
//!
//! Every thread has one slot holding the map of the context that is current
//! on it, and the id of that context. Entering a context swaps its map into
//! the slot; exiting swaps it back out. Nothing else touches the slot.
//!
//! # Invariants
//!
//! * No user code runs while the slot's map is taken out of it, and nothing
//!   is dropped then: replaced bindings and maps are returned to the caller,
//!   which drops them after the map is back. A value's `Drop` may therefore
//!   read and write context variables.
//! * Readers that call user code ([`ContextVar::with`](crate::ContextVar::with))
//!   hold a clone of the binding they read (a copy of an inline value, or a
//!   reference count of a shared one), not the map: a write while such a
//!   reader is active changes the map in place, and the reader's `&T` stays
//!   valid.
//!
//! # Teardown
//!
//! Once the thread-local has been destroyed (in other thread-locals'
//! destructors at thread exit), the thread has no current context: reads see
//! no value, writes are discarded, and entering a context fails with
//! [`EnterError::ThreadShuttingDown`](crate::EnterError::ThreadShuttingDown).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::binding::Binding;
use crate::map::Map;
use crate::sync::IdCounter;

/// Id of the current context when the thread-local has been destroyed.
pub(crate) const TORN_DOWN: u64 = u64::MAX;

/// Source of context ids (shared by `Context`s and threads' base contexts).
#[cfg(not(loom))]
pub(crate) static CONTEXT_IDS: IdCounter = IdCounter::new();
#[cfg(loom)]
loom::lazy_static! {
    pub(crate) static ref CONTEXT_IDS: IdCounter = IdCounter::new();
}

/// How many context ids a thread takes from [`CONTEXT_IDS`] at a time.
#[cfg(not(loom))]
const ID_BLOCK: u64 = 1024;

/// A fresh context id, unique in the process.
///
/// Each thread hands out ids from a block of its own and takes a new block
/// from the shared counter when it runs out, so that making contexts on
/// many threads at once (every spawn does) does not make them all write to
/// one cache line.
#[inline]
pub(crate) fn next_context_id() -> u64 {
    #[cfg(not(loom))]
    {
        thread_local! {
            // No destructor: usable until the thread is gone.
            static BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        BLOCK.with(|block| {
            let (next, end) = block.get();
            if next < end {
                block.set((next + 1, end));
                next
            } else {
                let start = CONTEXT_IDS.next_block(ID_BLOCK);
                block.set((start + 1, start + ID_BLOCK));
                start
            }
        })
    }
    #[cfg(loom)]
    CONTEXT_IDS.next()
}

/// In declaration order (`repr(C)`): `base_id` before `base_map` while
/// `map` comes before `id`, so that the compiler cannot merge the two moves
/// of an exit to the base context into one 16-byte load, which would have
/// to wait for the 8-byte store of `base_map` made at entry (a failed store
/// forward: about a third of a poll's time).
#[repr(C)]
struct Slot {
    /// The current map.
    ///
    /// A plain cell: every access takes the map out, works on it without
    /// running user code or dropping user values, and puts it back (see
    /// [`Slot::with_map`]).
    map: Cell<Map>,
    /// Id of the current context; 0 for a thread's base context until a token
    /// first needs its id (then kept in `base_id` too).
    id: Cell<u64>,
    /// The async task (as told by the registered task probe) that entered
    /// the current context; [`NO_TASK`] for a thread's base context and for
    /// contexts entered outside of any task.
    task: Cell<u64>,
    /// Number of contexts entered on the thread (0: the base context is
    /// current).
    depth: Cell<usize>,
    /// The base context's map while another context is current, and its id
    /// (0 until a token first needs it) at all times; its task is always
    /// [`NO_TASK`]. Kept apart from `outer`, in plain cells, so that entering
    /// a context from the base context (as every task poll does) and exiting
    /// back to it cost a few word-sized moves.
    base_id: Cell<u64>,
    base_map: Cell<Map>,
    /// The contexts entered below the current one, except the base context,
    /// innermost last: their ids, their maps as they were when the next
    /// context was entered, and the tasks that entered them.
    outer: RefCell<Vec<Frame>>,
}

/// A context entered below the current one.
#[derive(Debug, Default)]
struct Frame {
    id: u64,
    map: Map,
    task: u64,
}

/// The task of a context entered outside of any async task.
pub(crate) const NO_TASK: u64 = 0;

thread_local! {
    static CURRENT: Slot = const {
        Slot {
            map: Cell::new(Map::EMPTY),
            id: Cell::new(0),
            task: Cell::new(NO_TASK),
            depth: Cell::new(0),
            base_map: Cell::new(Map::EMPTY),
            base_id: Cell::new(0),
            outer: RefCell::new(Vec::new()),
        }
    };
}

/// Looks up variable `id` in the current context and clones its binding.
///
/// Returns `None` when it is unset or the thread-local is gone.
#[inline]
pub(crate) fn get(id: u64) -> Option<Binding> {
    CURRENT
        .try_with(|slot| slot.with_map(|map| map.get(id).cloned()))
        .ok()
        .flatten()
}

/// Applies `f` to the binding of variable `id` in the current context
/// (`None` when unset, or after teardown). `f` must not run user code: the
/// map is borrowed from the slot while it runs.
#[inline]
pub(crate) fn peek<R>(id: u64, f: impl FnOnce(Option<&Binding>) -> R) -> R {
    let mut f = Some(f);
    let done = CURRENT.try_with(|slot| {
        let f = f.take().expect("called once");
        slot.with_map(|map| f(map.get(id)))
    });
    match done {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called after teardown"))(None),
    }
}

/// The task that entered the current context ([`NO_TASK`] for a base
/// context), or `None` after teardown.
pub(crate) fn entering_task() -> Option<u64> {
    CURRENT.try_with(|slot| slot.task.get()).ok()
}

/// Whether the thread's own (base) context is current: no context entered.
/// False after teardown.
#[cfg(feature = "tokio")]
#[inline]
pub(crate) fn in_base_context() -> bool {
    CURRENT
        .try_with(|slot| slot.depth.get() == 0)
        .unwrap_or(false)
}

/// Whether the thread-local slot is usable (not destroyed yet).
pub(crate) fn is_alive() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// A snapshot (O(1) copy) of the current map. Empty after teardown.
pub(crate) fn snapshot() -> Map {
    CURRENT
        .try_with(|slot| slot.with_map(Map::clone))
        .unwrap_or_default()
}

/// Applies `f` to the current map and the current context's id (assigned
/// now if it is a base context that had none), and returns its result.
///
/// After teardown `f` is dropped without being called, and this returns
/// `None`.
#[inline]
pub(crate) fn update<R>(f: impl FnOnce(&mut Map, u64) -> R) -> Option<R> {
    CURRENT
        .try_with(move |slot| {
            let id = match slot.id.get() {
                0 => {
                    // Only the base context has no id until now.
                    let id = next_context_id();
                    slot.id.set(id);
                    slot.base_id.set(id);
                    id
                }
                id => id,
            };
            let mut map = slot.map.take();
            let r = f(&mut map, id);
            slot.put_back(map);
            r
        })
        .ok()
}

/// Proof that a context was entered, to be handed back to [`exit`].
#[derive(Debug)]
pub(crate) struct Entered {
    /// Number of contexts entered on the thread, this one included.
    depth: NonZeroUsize,
}

/// Makes `map` (the map of context `id`) current on this thread, entered by
/// async task `task` ([`NO_TASK`] if none).
///
/// The previous context's id and map are pushed on the thread's stack of
/// entered contexts, where [`entered_map`] can still read them (the base
/// context's, in cells of its own).
///
/// Returns `Err(map)` after teardown.
#[inline]
pub(crate) fn enter(map: Map, id: u64, task: u64) -> Result<Entered, Map> {
    let mut map = Some(map);
    CURRENT
        .try_with(|slot| enter_slot(slot, map.take().expect("called once"), id, task))
        .map_err(|_| map.take().expect("not taken by the failed access"))
}

/// [`enter`] on the slot, already accessed.
#[inline(always)]
fn enter_slot(slot: &Slot, map: Map, id: u64, task: u64) -> Entered {
    let prev_map = swap_current(slot, map);
    let depth = slot.depth.get() + 1;
    slot.depth.set(depth);
    if depth == 1 {
        // Empty since the last exit took the base map back. The base
        // context's id is in `base_id` already, and its task is `NO_TASK`.
        put_back(&slot.base_map, prev_map);
    } else {
        enter_nested(slot, prev_map);
    }
    slot.id.set(id);
    slot.task.set(task);
    Entered {
        depth: NonZeroUsize::new(depth).expect("depth + 1 > 0"),
    }
}

/// Pushes the context that was current (its map is `prev_map`) on the
/// stack, to enter another one above it.
#[cold]
fn enter_nested(slot: &Slot, prev_map: Map) {
    let frame = Frame {
        id: slot.id.get(),
        map: prev_map,
        task: slot.task.get(),
    };
    slot.outer.borrow_mut().push(frame);
}

/// Runs `f` with `*map`, the map of context `id`, entered on this thread on
/// behalf of async task `task` ([`NO_TASK`] if none), and puts the map back
/// into `*map`, with `f`'s changes, when `f` returns or panics: [`enter`]
/// and [`exit`] in one access to the thread-local, for the hot path of
/// every poll of a task.
///
/// Returns `None`, without calling `f`, after teardown.
#[inline]
pub(crate) fn run_entered<R>(
    map: &mut Map,
    id: u64,
    task: u64,
    f: impl FnOnce() -> R,
) -> Option<R> {
    /// Exits on every way out of `f`.
    struct Exit<'a> {
        slot: &'a Slot,
        map: &'a mut Map,
        entered: Entered,
    }

    impl Drop for Exit<'_> {
        #[inline(always)]
        fn drop(&mut self) {
            let depth = self.entered.depth.get();
            if self.slot.depth.get() == depth {
                // `*self.map` is the empty map `run_entered` left there: no
                // drop to run.
                let empty = std::mem::replace(self.map, restore_previous(self.slot, depth));
                debug_assert!(empty.len() == 0);
                std::mem::forget(empty);
            } else {
                let map = &mut *self.map;
                exit_out_of_order(depth, |exited| {
                    if let Some(exited) = exited {
                        *map = exited;
                    }
                });
            }
        }
    }

    let mut f = Some(f);
    CURRENT
        .try_with(|slot| {
            let entered = enter_slot(slot, std::mem::take(map), id, task);
            let _exit = Exit {
                slot,
                map: &mut *map,
                entered,
            };
            (f.take().expect("called once"))()
        })
        .ok()
}

/// Panics after an out-of-order exit (see [`exit`]), unless the thread is
/// already panicking.
#[cold]
fn report_out_of_order() {
    if !std::thread::panicking() {
        panic!(
            "contexts exited out of order: a context entered with `runtime::enter` \
             was still entered; it was exited too and its changes were discarded"
        );
    }
}

/// Undoes [`enter`]: restores the context that was current before it and
/// returns the exited context's map, with every change made while it was
/// current.
///
/// Scoped entries are strictly nested, but a [`runtime::Entered`](crate::runtime::Entered)
/// can outlive the scope it was made in. Then this exit finds contexts still
/// entered above its own: it exits them as well (discarding their changes),
/// so that the thread is back where it was before this entry, and reports
/// `out_of_order`. Their own exits later find nothing to do.
///
/// The map is `None` if the slot was destroyed while the context was entered
/// (only a thread-local destructor that enters a context can cause that), or
/// if an earlier out-of-order exit already exited this context.
///
/// `restore` receives the map (`None` if lost) and puts the exited
/// context's own state in order; it runs outside of any borrow of the slot.
/// After it, an out-of-order exit panics (unless the thread is already
/// panicking).
#[inline]
pub(crate) fn exit(entered: &Entered, restore: impl FnOnce(Option<Map>)) {
    let depth = entered.depth.get();
    // The common case: this context is the current one.
    let in_order = CURRENT.try_with(|slot| {
        if slot.depth.get() != depth {
            return None;
        }
        Some(restore_previous(slot, depth))
    });
    match in_order {
        Ok(Some(map)) => restore(Some(map)),
        _ => exit_out_of_order(depth, restore),
    }
}

/// Makes current again the context that was current before the entry at
/// `depth` (the base context for the first entry, else the frame that entry
/// pushed), and returns the map it replaces.
#[inline(always)]
fn restore_previous(slot: &Slot, depth: usize) -> Map {
    slot.depth.set(depth - 1);
    if depth == 1 {
        slot.id.set(slot.base_id.get());
        slot.task.set(NO_TASK);
        swap_current(slot, slot.base_map.take())
    } else {
        restore_outer(slot)
    }
}

/// [`restore_previous`] to a context entered below the current one.
#[cold]
fn restore_outer(slot: &Slot) -> Map {
    let frame = slot
        .outer
        .borrow_mut()
        .pop()
        .expect("one frame per entry above the first");
    slot.id.set(frame.id);
    slot.task.set(frame.task);
    swap_current(slot, frame.map)
}

/// [`exit`] when the context is not the current one: contexts entered
/// above it are still entered, or it was already exited, or the slot is
/// gone.
#[cold]
fn exit_out_of_order(depth: usize, restore: impl FnOnce(Option<Map>)) {
    let mut discarded: Vec<Frame> = Vec::new();
    let mut displaced = None;
    let mut out_of_order = false;
    let map = CURRENT
        .try_with(|slot| {
            let current_depth = slot.depth.get();
            if current_depth < depth {
                // Already exited by an out-of-order exit further down.
                return None;
            }
            out_of_order = true;
            // Frames above ours: `outer[depth - 1]` holds our map as it was
            // when the next context was entered (the live one, since we
            // could not change it after); the current map belongs to the
            // topmost.
            discarded = slot.outer.borrow_mut().split_off(depth - 1);
            displaced = Some(restore_previous(slot, depth));
            Some(std::mem::take(&mut discarded[0].map))
        })
        .ok()
        .flatten();
    restore(map);
    // Dropped here, outside of the slot's borrows.
    drop(discarded);
    drop(displaced);
    if out_of_order {
        report_out_of_order();
    }
}

/// The live contents of context `id` if it is entered on this thread: the
/// current map if it is the current context, else the map it had when the
/// context above it was entered (it cannot change until it is current again).
pub(crate) fn entered_map(id: u64) -> Option<Map> {
    CURRENT
        .try_with(|slot| {
            if slot.id.get() == id {
                return Some(slot.with_map(Map::clone));
            }
            let outer = slot.outer.borrow();
            outer
                .iter()
                .rev()
                .find(|frame| frame.id == id)
                .map(|frame| frame.map.clone())
        })
        .ok()
        .flatten()
}

impl Slot {
    /// Applies `f` to the current map. `f` must not run user code (it only
    /// clones or looks up).
    #[inline(always)]
    fn with_map<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        let map = self.map.take();
        let r = f(&map);
        self.put_back(map);
        r
    }

    /// Puts back the map taken out of the cell, which is still empty
    /// (nothing between can reach it).
    #[inline(always)]
    fn put_back(&self, map: Map) {
        put_back(&self.map, map);
    }
}

/// Puts `map` into a cell that is empty: no drop of its old value, as `set`
/// would do.
#[inline(always)]
fn put_back(cell: &Cell<Map>, map: Map) {
    let empty = cell.replace(map);
    debug_assert!(empty.len() == 0);
    std::mem::forget(empty);
}

/// Replaces the current map, returning the previous one.
#[inline(always)]
fn swap_current(slot: &Slot, map: Map) -> Map {
    slot.map.replace(map)
}

/// Polls the future in `inner`, run inside its context by the caller, and
/// drops it there once it completes: its destructors see its values.
///
/// # Panics
///
/// If the future already completed (`inner` is `None`), naming `wrapper`.
#[inline(always)]
pub(crate) fn poll_once_inside<F: Future>(
    mut inner: Pin<&mut Option<F>>,
    task_cx: &mut TaskContext<'_>,
    wrapper: &str,
) -> Poll<F::Output> {
    let Some(fut) = inner.as_mut().as_pin_mut() else {
        polled_after_completion(wrapper)
    };
    let poll = fut.poll(task_cx);
    if poll.is_ready() {
        inner.set(None);
    }
    poll
}

#[cold]
#[track_caller]
fn polled_after_completion(wrapper: &str) -> ! {
    panic!("`{wrapper}` polled after completion")
}
