//! The persistent map from variables to values behind every context.
//!
//! A map is one pointer (`None` when empty), so that entering and leaving a
//! context moves a single word. Copying a map is one reference-count
//! increment, whatever its size. Small maps (the common case: a handful of
//! request-scoped variables) are a sorted vector, which is the fastest
//! structure for lookups and updates at that size; larger maps switch to a
//! hash array mapped trie ([`trie`]), whose updates stay logarithmic at any
//! size. Both are updated in place when no copy shares them, and copied on
//! write otherwise.
//!
//! The reference counts of the map and of the trie's nodes are `triomphe`'s,
//! which have no weak references: finding out that no copy shares them,
//! before every write, is then a load instead of the atomic
//! read-modify-write of `std`'s `Arc::make_mut` (a fifth of a `set` +
//! `reset` where atomic operations are slow).

use triomphe::Arc;

use crate::binding::Binding;

mod trie;

use trie::{Keyed, Trie};

/// Above this many entries a map switches to the trie. Up to eight, a scan
/// of the vector finds a key faster than the trie's one level; beyond, the
/// trie reads faster than a binary search of the vector (a read among 16
/// variables: 6.2 → 4.7 ns), and a write right after a copy costs 5% more.
const SMALL_MAX: usize = 8;
/// A trie that shrinks to this many entries switches back to the vector.
/// The gap to `SMALL_MAX` keeps a map near the boundary from flapping.
const SMALL_AGAIN: usize = 4;

impl Keyed for Binding {
    #[inline]
    fn id(&self) -> u64 {
        self.key().id()
    }
}

/// A persistent map from variable ids to bindings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Map(Option<Arc<Inner>>);

#[derive(Clone, Debug)]
struct Inner {
    repr: Repr,
    /// How many bindings are of variables that spawned tasks and threads do
    /// not inherit, so that [`Map::inherited`] is O(1) when there are none.
    not_inherited: usize,
}

#[derive(Clone, Debug)]
enum Repr {
    /// Entries sorted by variable id.
    Small(Vec<Binding>),
    /// More than `SMALL_MAX` entries (until it shrinks to `SMALL_AGAIN`).
    Large(Trie<Binding>),
}

impl Map {
    /// The empty map (also `Map::default()`), usable in constants.
    pub(crate) const EMPTY: Map = Map(None);

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            None => 0,
            Some(inner) => match &inner.repr {
                Repr::Small(v) => v.len(),
                Repr::Large(t) => t.len(),
            },
        }
    }

    /// The address of the shared contents (null when empty): two maps with
    /// the same address hold the same bindings, as long as one of them keeps
    /// the contents alive (a write to a shared map copies it first).
    #[inline]
    pub(crate) fn addr(&self) -> *const () {
        self.0
            .as_ref()
            .map_or(std::ptr::null(), |inner| Arc::as_ptr(inner).cast())
    }

    /// The binding of variable `id`, if any.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<&Binding> {
        self.0.as_deref()?.get(id)
    }

    /// Binds `binding.key()`, returning the binding it replaced.
    ///
    /// The replaced binding is returned rather than dropped so that the
    /// caller can drop it once it no longer borrows any thread-local state: a
    /// value's `Drop` may read context variables.
    ///
    /// The common case, a variable already bound in a small map nothing
    /// else shares, is inlined into the caller: the new binding is then
    /// written straight into its slot from the values it is made of, instead
    /// of being assembled on the stack and copied (a copy whose wide loads
    /// would wait on the narrow stores that assembled it).
    #[inline(always)]
    pub(crate) fn insert(&mut self, binding: Binding) -> Option<Binding> {
        match self.slot_mut(binding.key().id()) {
            Some(slot) => Some(std::mem::replace(slot, binding)),
            None => self.insert_new(binding),
        }
    }

    /// The binding of variable `id`, to be replaced in place: only in a
    /// small map that nothing else shares.
    #[inline]
    fn slot_mut(&mut self, id: u64) -> Option<&mut Binding> {
        let inner = Arc::get_mut(self.0.as_mut()?)?;
        match &mut inner.repr {
            Repr::Small(v) => v.iter_mut().find(|b| b.key().id() == id),
            Repr::Large(_) => None,
        }
    }

    /// [`insert`](Map::insert) in every other case: a new key, a shared map
    /// (copied first), or a trie.
    #[inline(never)]
    fn insert_new(&mut self, binding: Binding) -> Option<Binding> {
        let key = binding.key();
        let id = key.id();
        let inner = unique(self.0.get_or_insert_with(|| {
            Arc::new(Inner {
                // The capacity the first insert would grow it to, allocated
                // at once: no call to the vector's growth path.
                repr: Repr::Small(Vec::with_capacity(4)),
                not_inherited: 0,
            })
        }));
        let replaced = match &mut inner.repr {
            Repr::Small(v) => match search(v, id) {
                Ok(i) => Some(std::mem::replace(&mut v[i], binding)),
                Err(i) if v.len() < SMALL_MAX => {
                    v.insert(i, binding);
                    None
                }
                Err(_) => {
                    let trie: Trie<Binding> = v.drain(..).chain(std::iter::once(binding)).collect();
                    inner.repr = Repr::Large(trie);
                    None
                }
            },
            Repr::Large(t) => t.insert(binding),
        };
        if replaced.is_none() && !key.is_inherited() {
            inner.not_inherited += 1;
        }
        replaced
    }

    /// Removes the binding of variable `id`, returning it.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Binding> {
        let shared = self.0.as_mut()?;
        // Do not copy a shared map that does not hold the key.
        shared.get(id)?;
        let inner = unique(shared);
        let removed = match &mut inner.repr {
            Repr::Small(v) => {
                let i = search(v, id).ok()?;
                v.remove(i)
            }
            Repr::Large(t) => {
                let removed = t.remove(id)?;
                if t.len() <= SMALL_AGAIN {
                    let mut small: Vec<Binding> = t.iter().cloned().collect();
                    small.sort_unstable_by_key(|b| b.key().id());
                    inner.repr = Repr::Small(small);
                }
                removed
            }
        };
        if !removed.key().is_inherited() {
            inner.not_inherited -= 1;
        }
        if matches!(&inner.repr, Repr::Small(v) if v.is_empty()) {
            // Holds no binding: nothing user-visible is dropped here.
            self.0 = None;
        }
        Some(removed)
    }

    /// Iterates over the entries, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        let (small, large) = match self.0.as_deref().map(|inner| &inner.repr) {
            None => (None, None),
            Some(Repr::Small(v)) => (Some(v.iter()), None),
            Some(Repr::Large(t)) => (None, Some(t.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// The entries sorted by variable id, i.e. in the order the variables
    /// were first used.
    pub(crate) fn sorted(&self) -> Vec<&Binding> {
        let mut all: Vec<&Binding> = self.iter().collect();
        if matches!(
            self.0.as_deref(),
            Some(Inner {
                repr: Repr::Large(_),
                ..
            })
        ) {
            all.sort_unstable_by_key(|b| b.key().id());
        }
        all
    }

    /// Consumes the map into an owning iterator.
    pub(crate) fn into_iter(self) -> IntoIter {
        IntoIter(match self.0 {
            None => IntoIterRepr::Empty,
            Some(inner) => match &inner.repr {
                Repr::Small(_) => IntoIterRepr::Small(inner, 0),
                Repr::Large(t) => IntoIterRepr::Large(t.clone().into_iter()),
            },
        })
    }

    /// The map a spawned task or thread starts with: this one without the
    /// variables that are not inherited. Returns `self` itself (no copy, no
    /// reference count touched) when there are none.
    pub(crate) fn inherited(self) -> Map {
        let Some(inner) = self.0.as_deref().filter(|inner| inner.not_inherited > 0) else {
            return self;
        };
        let left_out: Vec<u64> = match &inner.repr {
            Repr::Small(v) => {
                // A new vector of the rest, in one allocation.
                let mut kept = Vec::with_capacity(v.len() - inner.not_inherited);
                kept.extend(v.iter().filter(|b| b.key().is_inherited()).cloned());
                if kept.is_empty() {
                    return Map::EMPTY;
                }
                return Map(Some(Arc::new(Inner {
                    repr: Repr::Small(kept),
                    not_inherited: 0,
                })));
            }
            // Removed from a copy, which shares the rest: one path of the
            // trie copied per removal rather than the whole map rebuilt.
            Repr::Large(t) => t
                .iter()
                .map(Binding::key)
                .filter(|key| !key.is_inherited())
                .map(|key| key.id())
                .take(inner.not_inherited)
                .collect(),
        };
        let mut child = self;
        for id in left_out {
            // Dropped here, outside of any borrow of the thread's slot (the
            // value usually lives on in the map this was copied from).
            child.remove(id);
        }
        child
    }
}

impl Inner {
    #[inline]
    fn get(&self, id: u64) -> Option<&Binding> {
        match &self.repr {
            // A plain scan (at most `SMALL_MAX` entries): a read needs no
            // insertion point.
            Repr::Small(v) => v.iter().find(|b| b.key().id() == id),
            Repr::Large(t) => t.get(id),
        }
    }
}

impl PartialEq for Map {
    /// Same variables bound to the same values. Values are compared by
    /// identity: the library shares values and never clones them, so a copy
    /// and its origin are equal until one of them changes.
    fn eq(&self, other: &Self) -> bool {
        if let (Some(a), Some(b)) = (&self.0, &other.0) {
            if Arc::ptr_eq(a, b) {
                return true;
            }
        }
        self.len() == other.len()
            && self
                .iter()
                .all(|b| other.get(b.key().id()).is_some_and(|o| b.same_value(o)))
    }
}

impl Eq for Map {}

/// An owning iterator over a map's bindings.
pub(crate) struct IntoIter(IntoIterRepr);

enum IntoIterRepr {
    Empty,
    Small(Arc<Inner>, usize),
    Large(trie::IntoIter<Binding>),
}

impl std::fmt::Debug for IntoIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntoIter")
            .field("remaining", &self.size_hint().0)
            .finish()
    }
}

impl Iterator for IntoIter {
    type Item = Binding;

    fn next(&mut self) -> Option<Binding> {
        match &mut self.0 {
            IntoIterRepr::Empty => None,
            IntoIterRepr::Small(inner, i) => {
                let Repr::Small(v) = &inner.repr else {
                    unreachable!("made from a small map")
                };
                let b = v.get(*i)?.clone();
                *i += 1;
                Some(b)
            }
            IntoIterRepr::Large(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Empty => (0, Some(0)),
            IntoIterRepr::Small(inner, i) => {
                let n = match &inner.repr {
                    Repr::Small(v) => v.len() - *i,
                    Repr::Large(_) => 0,
                };
                (n, Some(n))
            }
            IntoIterRepr::Large(it) => it.size_hint(),
        }
    }
}

/// The map's contents, for changing them in place: copied first if another
/// map shares them. The unshared case (every write but the first after a
/// copy) is a load and a branch here, inlined into the caller.
#[inline]
fn unique(inner: &mut Arc<Inner>) -> &mut Inner {
    if !inner.is_unique() {
        copy_on_write(inner);
    }
    Arc::get_mut(inner).expect("unique after the copy")
}

/// The copy of [`unique`], out of line. (`Arc::make_mut` in its place gets
/// inlined into every write: a set + reset then takes 618 instructions
/// instead of 567.)
#[cold]
fn copy_on_write(inner: &mut Arc<Inner>) {
    *inner = Arc::new((**inner).clone());
}

/// Where `id` is in the sorted vector `v`, or where it goes.
#[inline]
fn search(v: &[Binding], id: u64) -> Result<usize, usize> {
    // A linear scan is the fastest search of a few entries. The vector never
    // holds more than `SMALL_MAX`; stating the bound lets the compiler
    // specialise the scan (an unbounded one read 4 entries 11% slower).
    if v.len() <= SMALL_MAX {
        for (i, b) in v.iter().enumerate() {
            let k = b.key().id();
            if k == id {
                return Ok(i);
            }
            if k > id {
                return Err(i);
            }
        }
        return Err(v.len());
    }
    v.binary_search_by_key(&id, |b| b.key().id())
}
