//! The current context of each thread.
//!
//! Every thread has one slot holding the map of the context that is current
//! on it, and the id of that context. Entering a context swaps its map into
//! the slot; exiting swaps it back out. Nothing else touches the slot.
//!
//! # Invariants
//!
//! * No user code runs while the slot's `RefCell` is borrowed, and nothing is
//!   dropped while it is borrowed: replaced bindings and maps are returned to
//!   the caller, which drops them after the borrow has ended. A value's `Drop`
//!   may therefore read and write context variables.
//! * Readers that call user code ([`ContextVar::with`](crate::ContextVar::with))
//!   hold an `Rc` of the map rather than a borrow. A write while such a reader
//!   is active copies the map (`Rc::make_mut`), so the reader's `&T` stays
//!   valid and the write still lands in the current context.
//!
//! # Teardown
//!
//! Once the thread-local has been destroyed (in other thread-locals'
//! destructors at thread exit), the thread has no current context: reads see
//! no value, writes are discarded, and entering a context fails with
//! [`EnterError::ThreadShuttingDown`](crate::EnterError::ThreadShuttingDown).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::context::Binding;
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

struct Slot {
    /// The current map. `None` until the thread first needs one.
    map: RefCell<Option<Rc<Map>>>,
    /// Id of the current context; 0 for a thread's base context until a token
    /// first needs its id.
    id: Cell<u64>,
    /// The contexts entered below the current one, innermost last: their ids
    /// and their maps as they were when the next context was entered.
    outer: RefCell<Vec<(u64, Map)>>,
}

thread_local! {
    static CURRENT: Slot = const {
        Slot {
            map: RefCell::new(None),
            id: Cell::new(0),
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
        .try_with(|slot| {
            let map = slot.map.borrow();
            map.as_deref().and_then(|m| m.get(id)).cloned()
        })
        .ok()
        .flatten()
}

/// A shared handle on the current map, for readers that call user code.
#[inline]
pub(crate) fn map_rc() -> Option<Rc<Map>> {
    CURRENT
        .try_with(|slot| slot.map.borrow().clone())
        .ok()
        .flatten()
}

/// Whether the current context is the thread's own (no context entered).
pub(crate) fn in_base_context() -> bool {
    CURRENT
        .try_with(|slot| slot.outer.borrow().is_empty())
        .unwrap_or(false)
}

/// Whether the thread-local slot is usable (not destroyed yet).
pub(crate) fn is_alive() -> bool {
    CURRENT.try_with(|_| ()).is_ok()
}

/// A snapshot (O(1) copy) of the current map. Empty after teardown.
pub(crate) fn snapshot() -> Map {
    CURRENT
        .try_with(|slot| slot.map.borrow().as_deref().cloned())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Applies `f` to the current map and the current context's id (assigned
/// now if it is a base context that had none), and returns its result.
///
/// After teardown, `f` runs on a throwaway empty map with the id
/// [`TORN_DOWN`].
pub(crate) fn update<R>(f: impl FnOnce(&mut Map, u64) -> R) -> R {
    let mut f = Some(f);
    let done = CURRENT.try_with(|slot| {
        let id = match slot.id.get() {
            0 => {
                let id = CONTEXT_IDS.next();
                slot.id.set(id);
                id
            }
            id => id,
        };
        let mut map = slot.map.borrow_mut();
        let map = map.get_or_insert_with(Default::default);
        let f = f.take().expect("called once");
        f(Rc::make_mut(map), id)
    });
    match done {
        Ok(done) => done,
        Err(_) => {
            let f = f.take().expect("not called by the failed access");
            f(&mut Map::default(), TORN_DOWN)
        }
    }
}

/// Proof that a context was entered, to be handed back to [`exit`].
#[derive(Debug)]
pub(crate) struct Entered {
    /// Number of contexts entered on the thread, this one included.
    depth: usize,
}

/// Makes `map` (the map of context `id`) current on this thread.
///
/// The previous context's id and map are pushed on the thread's stack of
/// entered contexts, where [`entered_map`] can still read them.
///
/// Returns `Err(map)` after teardown.
pub(crate) fn enter(map: Map, id: u64) -> Result<Entered, Map> {
    let mut map = Some(map);
    CURRENT
        .try_with(|slot| {
            let map = map.take().expect("called once");
            let prev = swap_current(slot, map);
            let prev_id = slot.id.replace(id);
            let mut outer = slot.outer.borrow_mut();
            outer.push((prev_id, prev));
            Entered { depth: outer.len() }
        })
        .map_err(|_| map.take().expect("not taken by the failed access"))
}

/// Undoes [`enter`]: restores the previous context and returns the exited
/// context's map, with every change made while it was current.
///
/// Returns `None` if the slot was destroyed while the context was entered
/// (only a thread-local destructor that enters a context can cause that); the
/// changes made since entering are then lost.
///
/// The caller drops whatever it no longer needs after this returns, outside
/// of any borrow of the slot.
pub(crate) fn exit(entered: Entered) -> Option<Map> {
    CURRENT
        .try_with(|slot| {
            let (prev_id, prev) = {
                let mut outer = slot.outer.borrow_mut();
                if outer.len() != entered.depth {
                    // Only `runtime::Entered`, the one entry that is not
                    // scoped, can be exited out of order. Restoring anything
                    // now would make the wrong context current, so refuse,
                    // as tokio does for its runtime guards.
                    drop(outer);
                    if !std::thread::panicking() {
                        panic!(
                            "contexts exited out of order: a context entered with \
                             `runtime::enter` must be exited after the contexts entered after it"
                        );
                    }
                    return None;
                }
                outer.pop()?
            };
            slot.id.set(prev_id);
            Some(swap_current(slot, prev))
        })
        .ok()
        .flatten()
}

/// The live contents of context `id` if it is entered on this thread: the
/// current map if it is the current context, else the map it had when the
/// context above it was entered (it cannot change until it is current again).
pub(crate) fn entered_map(id: u64) -> Option<Map> {
    CURRENT
        .try_with(|slot| {
            if slot.id.get() == id {
                return Some(slot.map.borrow().as_deref().cloned().unwrap_or_default());
            }
            let outer = slot.outer.borrow();
            outer
                .iter()
                .rev()
                .find(|(outer_id, _)| *outer_id == id)
                .map(|(_, map)| map.clone())
        })
        .ok()
        .flatten()
}

/// Replaces the current map, returning the previous one. Reuses the slot's
/// `Rc` unless a reader shares it.
fn swap_current(slot: &Slot, map: Map) -> Map {
    let mut current = slot.map.borrow_mut();
    match current.as_mut().and_then(Rc::get_mut) {
        Some(inline) => std::mem::replace(inline, map),
        None => unshare(current.replace(Rc::new(map))),
    }
}

fn unshare(rc: Option<Rc<Map>>) -> Map {
    rc.map(|rc| Rc::try_unwrap(rc).unwrap_or_else(|rc| (*rc).clone()))
        .unwrap_or_default()
}
