//! The persistent map from variables to values behind every context.
//!
//! Copying a map is one reference-count increment, whatever its size. Small
//! maps (the common case: a handful of request-scoped variables) are a sorted
//! vector behind an `Arc`, which is the fastest structure for lookups and
//! updates at that size; larger maps switch to a hash array mapped trie
//! (`imbl`), whose updates stay logarithmic at any size. Both are updated in
//! place when no copy shares them, and copied on write otherwise.

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::context::Binding;

/// Above this many entries a map switches to the trie.
const SMALL_MAX: usize = 32;
/// A trie that shrinks to this many entries switches back to the vector.
/// The gap to `SMALL_MAX` keeps a map near the boundary from flapping.
const SMALL_AGAIN: usize = 16;

/// Hashes a variable id for the trie: ids are sequential, so they are spread
/// over all 64 bits by a Fibonacci multiplication (the trie indexes by the top
/// bits first).
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Trie = imbl::GenericHashMap<
    u64,
    Binding,
    BuildHasherDefault<IdHasher>,
    imbl::shared_ptr::DefaultSharedPtr,
>;

/// A persistent map from variable ids to bindings.
#[derive(Clone, Debug, Default)]
pub(crate) struct Map {
    repr: Repr,
    /// How many bindings are of variables that spawned tasks and threads do
    /// not inherit, so that [`Map::inherited`] is O(1) when there are none.
    not_inherited: usize,
}

#[derive(Clone, Debug, Default)]
enum Repr {
    /// No entries, and no allocation.
    #[default]
    Empty,
    /// Entries sorted by variable id.
    Small(Arc<Vec<Binding>>),
    /// More than `SMALL_MAX` entries (until it shrinks to `SMALL_AGAIN`).
    Large(Trie),
}

impl Map {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.repr.len()
    }

    /// The binding of variable `id`, if any.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<&Binding> {
        self.repr.get(id)
    }

    /// Binds `binding.key()`, returning the binding it replaced (to be
    /// dropped by the caller, see [`Repr::insert`]).
    pub(crate) fn insert(&mut self, binding: Binding) -> Option<Binding> {
        let counts = !binding.key().is_inherited();
        let replaced = self.repr.insert(binding);
        if counts && replaced.is_none() {
            self.not_inherited += 1;
        }
        replaced
    }

    /// Removes the binding of variable `id`, returning it.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Binding> {
        let removed = self.repr.remove(id)?;
        if !removed.key().is_inherited() {
            self.not_inherited -= 1;
        }
        Some(removed)
    }

    /// Iterates over the entries, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        self.repr.iter()
    }

    /// The entries sorted by variable id, i.e. in the order the variables
    /// were first used.
    pub(crate) fn sorted(&self) -> Vec<&Binding> {
        self.repr.sorted()
    }

    /// Consumes the map into an owning iterator.
    pub(crate) fn into_iter(self) -> IntoIter {
        self.repr.into_iter()
    }

    /// The map a spawned task or thread starts with: this one without the
    /// variables that are not inherited. O(1) when there are none.
    pub(crate) fn inherited(&self) -> Map {
        if self.not_inherited == 0 {
            return self.clone();
        }
        let mut child = Map::default();
        for binding in self.iter().filter(|b| b.key().is_inherited()) {
            child.insert(binding.clone());
        }
        child
    }
}

impl Repr {
    /// Number of entries.
    fn len(&self) -> usize {
        match self {
            Repr::Empty => 0,
            Repr::Small(v) => v.len(),
            Repr::Large(t) => t.len(),
        }
    }

    /// The binding of variable `id`, if any.
    #[inline]
    fn get(&self, id: u64) -> Option<&Binding> {
        match self {
            Repr::Empty => None,
            Repr::Small(v) => search(v, id).ok().map(|i| &v[i]),
            Repr::Large(t) => t.get(&id),
        }
    }

    /// Binds `binding.key()`, returning the binding it replaced.
    ///
    /// The replaced binding is returned rather than dropped so that the
    /// caller can drop it once it no longer borrows any thread-local state: a
    /// value's `Drop` may read context variables.
    fn insert(&mut self, binding: Binding) -> Option<Binding> {
        let id = binding.key().id();
        match self {
            Repr::Empty => {
                *self = Repr::Small(Arc::new(vec![binding]));
                None
            }
            Repr::Small(v) => match search(v, id) {
                Ok(i) => Some(std::mem::replace(&mut Arc::make_mut(v)[i], binding)),
                Err(i) if v.len() < SMALL_MAX => {
                    Arc::make_mut(v).insert(i, binding);
                    None
                }
                Err(_) => {
                    let mut trie: Trie = v.iter().map(|b| (b.key().id(), b.clone())).collect();
                    trie.insert(id, binding);
                    *self = Repr::Large(trie);
                    None
                }
            },
            Repr::Large(t) => t.insert(id, binding),
        }
    }

    /// Removes the binding of variable `id`, returning it.
    fn remove(&mut self, id: u64) -> Option<Binding> {
        match self {
            Repr::Empty => None,
            Repr::Small(v) => {
                let i = search(v, id).ok()?;
                if v.len() == 1 {
                    // Dropping the last entry frees the vector: hand the
                    // binding out of it instead of cloning.
                    return match std::mem::take(self) {
                        Repr::Small(v) => Some(
                            Arc::try_unwrap(v).map_or_else(|v| v[0].clone(), |mut v| v.remove(0)),
                        ),
                        _ => unreachable!("matched Repr::Small above"),
                    };
                }
                Some(Arc::make_mut(v).remove(i))
            }
            Repr::Large(t) => {
                let removed = t.remove(&id)?;
                if t.len() <= SMALL_AGAIN {
                    let mut small: Vec<Binding> = t.values().cloned().collect();
                    small.sort_unstable_by_key(|b| b.key().id());
                    *self = Repr::Small(Arc::new(small));
                }
                Some(removed)
            }
        }
    }

    /// Iterates over the entries, in no particular order.
    fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        let (small, large) = match self {
            Repr::Empty => (None, None),
            Repr::Small(v) => (Some(v.iter()), None),
            Repr::Large(t) => (None, Some(t.values())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// The entries sorted by variable id, i.e. in the order the variables
    /// were first used.
    fn sorted(&self) -> Vec<&Binding> {
        let mut all: Vec<&Binding> = self.iter().collect();
        if matches!(self, Repr::Large(_)) {
            all.sort_unstable_by_key(|b| b.key().id());
        }
        all
    }

    /// Consumes the map into an owning iterator.
    fn into_iter(self) -> IntoIter {
        match self {
            Repr::Empty => IntoIter::Empty,
            Repr::Small(v) => IntoIter::Small(v, 0),
            Repr::Large(t) => IntoIter::Large(t.into_iter()),
        }
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.repr == other.repr
    }
}

impl Eq for Map {}

impl PartialEq for Repr {
    /// Same variables bound to the same values. Values are compared by
    /// identity: the library shares values and never clones them, so a copy
    /// and its origin are equal until one of them changes.
    fn eq(&self, other: &Self) -> bool {
        if let (Repr::Small(a), Repr::Small(b)) = (self, other) {
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

/// An owning iterator over a map's bindings.
pub(crate) enum IntoIter {
    Empty,
    Small(Arc<Vec<Binding>>, usize),
    Large(<Trie as IntoIterator>::IntoIter),
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
        match self {
            IntoIter::Empty => None,
            IntoIter::Small(v, i) => {
                let b = v.get(*i)?.clone();
                *i += 1;
                Some(b)
            }
            IntoIter::Large(it) => it.next().map(|(_, b)| b),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            IntoIter::Empty => (0, Some(0)),
            IntoIter::Small(v, i) => (v.len() - *i, Some(v.len() - *i)),
            IntoIter::Large(it) => it.size_hint(),
        }
    }
}

#[inline]
fn search(v: &[Binding], id: u64) -> Result<usize, usize> {
    // Linear search beats binary search on a few entries.
    if v.len() <= 8 {
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
