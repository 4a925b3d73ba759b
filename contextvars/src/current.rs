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
}

thread_local! {
    static CURRENT: Slot = const {
        Slot {
            map: RefCell::new(None),
            id: Cell::new(0),
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

/// A snapshot (O(1) copy) of the current map. Empty after teardown.
pub(crate) fn snapshot() -> Map {
    CURRENT
        .try_with(|slot| slot.map.borrow().as_deref().cloned())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Id of the current context, without assigning one to a base context.
pub(crate) fn peek_id() -> u64 {
    CURRENT.try_with(|slot| slot.id.get()).unwrap_or(TORN_DOWN)
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
            f(&mut Map::Empty, TORN_DOWN)
        }
    }
}

/// What [`enter`] replaced, to be handed back to [`exit`].
#[derive(Debug)]
pub(crate) struct Saved {
    map: SavedMap,
    id: u64,
}

#[derive(Debug)]
enum SavedMap {
    /// The previous map, moved out of the slot's `Rc`.
    Inline(Map),
    /// The previous `Rc`, when a reader shared it and it could not be
    /// reused in place.
    Shared(Option<Rc<Map>>),
}

/// Makes `map` (the map of context `id`) current on this thread.
///
/// Returns `Err(map)` after teardown.
pub(crate) fn enter(map: Map, id: u64) -> Result<Saved, Map> {
    let mut map = Some(map);
    CURRENT
        .try_with(|slot| {
            let map = map.take().expect("called once");
            let prev_id = slot.id.replace(id);
            let mut current = slot.map.borrow_mut();
            let saved = match current.as_mut().and_then(Rc::get_mut) {
                Some(inline) => SavedMap::Inline(std::mem::replace(inline, map)),
                None => SavedMap::Shared(current.replace(Rc::new(map))),
            };
            Saved {
                map: saved,
                id: prev_id,
            }
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
pub(crate) fn exit(saved: Saved) -> Option<Map> {
    CURRENT
        .try_with(move |slot| {
            let Saved { map: prev, id } = saved;
            slot.id.set(id);
            let mut current = slot.map.borrow_mut();
            match prev {
                SavedMap::Inline(prev) => match current.as_mut().and_then(Rc::get_mut) {
                    Some(inline) => std::mem::replace(inline, prev),
                    None => unshare(current.replace(Rc::new(prev))),
                },
                SavedMap::Shared(prev) => unshare(std::mem::replace(&mut *current, prev)),
            }
        })
        .ok()
}

fn unshare(rc: Option<Rc<Map>>) -> Map {
    rc.map(|rc| Rc::try_unwrap(rc).unwrap_or_else(|rc| (*rc).clone()))
        .unwrap_or_default()
}
