//! A persistent hash array mapped trie keyed by variable id.
//!
//! Each level consumes [`BITS`] bits of the id, lowest first. Variable ids
//! are unique and handed out in sequence, so the id is its own perfect hash:
//! the n variables a program uses fill the first levels evenly, lookups take
//! `⌈log₁₆ n⌉` steps, and two distinct ids always part at some level (no
//! collision nodes). A node stores only its occupied slots, with a bitmap of
//! which are occupied and a table of where each one is stored, so that a
//! lookup step is a bit test and a shift (no population count, which
//! x86-64's baseline instruction set lacks).
//!
//! Nodes are shared between copies through `Arc`s. A write copies the nodes
//! on the path to its key (the slots, not the values: a binding's clone is a
//! reference-count increment) when they are shared, and writes in place when
//! they are not.

use std::fmt;

use triomphe::Arc;

/// An entry of the trie: it knows its own key.
pub(crate) trait Keyed: Clone {
    /// The entry's key; unique within a trie.
    fn id(&self) -> u64;
}

/// Bits of the id consumed per level; a node has at most `1 << BITS` slots.
///
/// Sixteen slots keep a node's table of positions in one word, and a node's
/// copy within the allocator's small sizes.
const BITS: u32 = 4;

/// The slot index of `id` at the level that starts at bit `shift`.
#[inline]
fn chunk(id: u64, shift: u32) -> u32 {
    debug_assert!(shift < u64::BITS, "distinct ids part before bit 64");
    ((id >> shift) & ((1 << BITS) - 1)) as u32
}

/// A trie of entries, with its length.
#[derive(Clone)]
pub(crate) struct Trie<E> {
    root: Node<E>,
    len: usize,
}

/// The occupied slots of one level, in slot order.
#[derive(Clone)]
struct Node<E> {
    /// Bit `c` set: slot `c` is occupied.
    bitmap: u16,
    /// Nibble `c` (bits `4c..4c + 4`): how many occupied slots precede slot
    /// `c`, i.e. where it is in `slots` if occupied, and where it goes if
    /// not.
    positions: u64,
    slots: Arc<[Slot<E>]>,
}

#[derive(Clone)]
enum Slot<E> {
    Leaf(E),
    Branch(Node<E>),
}

impl<E: Keyed> Trie<E> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry with key `id`, if any.
    ///
    /// Not inlined: the small vector's lookup, inlined into every read,
    /// stays small.
    #[inline(never)]
    pub(crate) fn get(&self, id: u64) -> Option<&E> {
        let mut node = &self.root;
        let mut shift = 0;
        loop {
            let c = chunk(id, shift);
            if !node.occupied(c) {
                return None;
            }
            match &node.slots[node.position(c)] {
                Slot::Leaf(e) => return (e.id() == id).then_some(e),
                Slot::Branch(child) => {
                    node = child;
                    shift += BITS;
                }
            }
        }
    }

    /// Inserts `entry`, returning the entry of the same key it replaced.
    pub(crate) fn insert(&mut self, entry: E) -> Option<E> {
        let replaced = self.root.insert(entry, 0);
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Removes the entry with key `id`, returning it. Copies nothing when
    /// there is no such entry.
    pub(crate) fn remove(&mut self, id: u64) -> Option<E> {
        self.get(id)?;
        let removed = self.root.remove(id, 0);
        debug_assert!(removed.is_some(), "found, then removed");
        self.len -= 1;
        removed
    }

    /// Iterates over the entries in trie order: by the lowest four bits of
    /// the id, then the next four, and so on (not by id).
    pub(crate) fn iter(&self) -> Iter<'_, E> {
        Iter {
            stack: vec![self.root.slots.iter()],
            remaining: self.len,
        }
    }
}

impl<E: Keyed> Node<E> {
    /// A node of the occupied slots `bitmap`, stored in `slots`.
    fn new(bitmap: u16, slots: Arc<[Slot<E>]>) -> Node<E> {
        debug_assert_eq!(bitmap.count_ones() as usize, slots.len());
        let mut positions = 0;
        let mut before = 0;
        for c in 0..1 << BITS {
            positions |= before << (4 * c);
            before += u64::from(bitmap >> c & 1);
        }
        Node {
            bitmap,
            positions,
            slots,
        }
    }

    #[inline]
    fn occupied(&self, c: u32) -> bool {
        self.bitmap >> c & 1 != 0
    }

    /// Where slot `c` is (if occupied) or goes (if not) in `slots`.
    #[inline]
    fn position(&self, c: u32) -> usize {
        (self.positions >> (4 * c) & 0xf) as usize
    }

    fn insert(&mut self, entry: E, shift: u32) -> Option<E> {
        let c = chunk(entry.id(), shift);
        let i = self.position(c);
        if !self.occupied(c) {
            // A slice cannot grow in place: build it anew, one slot longer.
            let slots = self.slots[..i]
                .iter()
                .cloned()
                .chain(std::iter::once(Slot::Leaf(entry)))
                .chain(self.slots[i..].iter().cloned())
                .collect();
            *self = Node::new(self.bitmap | 1 << c, slots);
            return None;
        }
        let slots = make_mut(&mut self.slots);
        match &mut slots[i] {
            Slot::Branch(child) => child.insert(entry, shift + BITS),
            Slot::Leaf(old) if old.id() == entry.id() => Some(std::mem::replace(old, entry)),
            Slot::Leaf(old) => {
                let pair = Node::pair(old.clone(), entry, shift + BITS);
                slots[i] = Slot::Branch(pair);
                None
            }
        }
    }

    /// A node holding two entries of distinct ids that share the slots of
    /// every level above `shift`.
    fn pair(a: E, b: E, shift: u32) -> Node<E> {
        let (ca, cb) = (chunk(a.id(), shift), chunk(b.id(), shift));
        if ca == cb {
            let child = Node::pair(a, b, shift + BITS);
            return Node::new(1 << ca, Arc::from_iter([Slot::Branch(child)]));
        }
        let (first, second) = if ca < cb { (a, b) } else { (b, a) };
        Node::new(
            (1 << ca) | (1 << cb),
            Arc::from_iter([Slot::Leaf(first), Slot::Leaf(second)]),
        )
    }

    /// Removes the entry `id`, which the caller found in this node.
    fn remove(&mut self, id: u64, shift: u32) -> Option<E> {
        let c = chunk(id, shift);
        if !self.occupied(c) {
            return None;
        }
        let i = self.position(c);
        if let Slot::Leaf(e) = &self.slots[i] {
            if e.id() != id {
                return None;
            }
            let removed = e.clone();
            let slots = self.slots[..i]
                .iter()
                .chain(&self.slots[i + 1..])
                .cloned()
                .collect();
            *self = Node::new(self.bitmap & !(1 << c), slots);
            return Some(removed);
        }
        let slots = make_mut(&mut self.slots);
        let Slot::Branch(child) = &mut slots[i] else {
            unreachable!("a leaf returned above")
        };
        let removed = child.remove(id, shift + BITS)?;
        // A branch left with a single entry gives way to it, so that lookups
        // stay as short as the entries allow.
        if let [Slot::Leaf(last)] = &*child.slots {
            slots[i] = Slot::Leaf(last.clone());
        }
        Some(removed)
    }
}

/// The slots of a node, for changing them in place: copied first if another
/// trie shares them. (`triomphe`'s count has no weak references, so the check
/// is a load, not an atomic read-modify-write.)
#[inline]
fn make_mut<E: Clone>(slots: &mut Arc<[Slot<E>]>) -> &mut [Slot<E>] {
    if !slots.is_unique() {
        *slots = slots.iter().cloned().collect();
    }
    Arc::get_mut(slots).expect("unique after the copy")
}

/// The order of ids in a trie: by the lowest four bits, then the next
/// four, and so on; that is, by the id with its nibbles reversed.
fn trie_order(id: u64) -> u64 {
    const _: () = assert!(BITS == 4, "trie_order reverses nibbles");
    let bytes_reversed = id.swap_bytes();
    ((bytes_reversed & 0x0f0f_0f0f_0f0f_0f0f) << 4)
        | ((bytes_reversed >> 4) & 0x0f0f_0f0f_0f0f_0f0f)
}

impl<E: Keyed> FromIterator<E> for Trie<E> {
    /// Builds the trie bottom-up, each entry moved into place once (inserting
    /// one by one would rebuild a node for every new slot). Of entries with
    /// the same id, the last one is kept.
    fn from_iter<I: IntoIterator<Item = E>>(entries: I) -> Self {
        let mut entries: Vec<Option<E>> = entries.into_iter().map(Some).collect();
        // Stable: entries of one id stay in the order given.
        entries.sort_by_key(|e| e.as_ref().map(|e| trie_order(e.id())));
        let mut distinct: Vec<Option<E>> = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry.as_ref().map(E::id);
            match distinct.last_mut() {
                Some(last) if last.as_ref().map(E::id) == id => *last = entry,
                _ => distinct.push(entry),
            }
        }
        Trie {
            len: distinct.len(),
            root: Node::build(&mut distinct, 0),
        }
    }
}

impl<E: Keyed> Node<E> {
    /// A node of `entries` (each `Some`, of distinct ids, in trie order, all
    /// sharing the slots of the levels above `shift`), which it takes.
    fn build(entries: &mut [Option<E>], shift: u32) -> Node<E> {
        let id = |e: &Option<E>| e.as_ref().map_or(0, E::id);
        let mut bitmap = 0;
        let mut slots = Vec::new();
        let mut rest = entries;
        while let Some(first) = rest.first() {
            let c = chunk(id(first), shift);
            let n = rest
                .iter()
                .position(|e| chunk(id(e), shift) != c)
                .unwrap_or(rest.len());
            let (group, tail) = rest.split_at_mut(n);
            slots.push(match group {
                [one] => Slot::Leaf(one.take().expect("each entry taken once")),
                _ => Slot::Branch(Node::build(group, shift + BITS)),
            });
            bitmap |= 1 << c;
            rest = tail;
        }
        Node::new(bitmap, slots.into())
    }
}

impl<E: Keyed + fmt::Debug> fmt::Debug for Trie<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A borrowing iterator over a trie's entries.
pub(crate) struct Iter<'a, E> {
    /// The unvisited slots of each level on the way down to the current one.
    stack: Vec<std::slice::Iter<'a, Slot<E>>>,
    remaining: usize,
}

impl<'a, E> Iterator for Iter<'a, E> {
    type Item = &'a E;

    fn next(&mut self) -> Option<&'a E> {
        loop {
            match self.stack.last_mut()?.next() {
                None => {
                    self.stack.pop();
                }
                Some(Slot::Leaf(e)) => {
                    self.remaining -= 1;
                    return Some(e);
                }
                Some(Slot::Branch(child)) => self.stack.push(child.slots.iter()),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<E> ExactSizeIterator for Iter<'_, E> {}

/// An iterator that owns (a share of) a trie and yields clones of its
/// entries.
pub(crate) struct IntoIter<E> {
    /// The nodes on the way down to the current one, each with the index of
    /// its next unvisited slot.
    stack: Vec<(Arc<[Slot<E>]>, usize)>,
    remaining: usize,
}

impl<E: Keyed> IntoIterator for Trie<E> {
    type Item = E;
    type IntoIter = IntoIter<E>;

    fn into_iter(self) -> IntoIter<E> {
        IntoIter {
            stack: vec![(self.root.slots, 0)],
            remaining: self.len,
        }
    }
}

impl<E: Keyed> Iterator for IntoIter<E> {
    type Item = E;

    fn next(&mut self) -> Option<E> {
        loop {
            let (slots, i) = self.stack.last_mut()?;
            let Some(slot) = slots.get(*i) else {
                self.stack.pop();
                continue;
            };
            *i += 1;
            match slot {
                Slot::Leaf(e) => {
                    self.remaining -= 1;
                    return Some(e.clone());
                }
                Slot::Branch(child) => {
                    let next = (Arc::clone(&child.slots), 0);
                    self.stack.push(next);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<E: Keyed> ExactSizeIterator for IntoIter<E> {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct E(u64, u32);

    impl Keyed for E {
        fn id(&self) -> u64 {
            self.0
        }
    }

    /// The trie's shape holds: bitmaps match slot counts, every leaf sits
    /// on the path its id spells, no branch below the root is a lone leaf,
    /// and the length is the number of leaves.
    fn check<E: Keyed>(trie: &Trie<E>) {
        fn walk<E: Keyed>(node: &Node<E>, shift: u32, prefix: u64, root: bool) -> usize {
            assert_eq!(node.bitmap.count_ones() as usize, node.slots.len());
            for c in 0..1 << BITS {
                let before = (node.bitmap & ((1 << c) - 1)).count_ones() as usize;
                assert_eq!(node.position(c), before, "slot {c} misplaced");
            }
            if !root {
                assert!(
                    !matches!(&*node.slots, [Slot::Leaf(_)] | []),
                    "a branch with a single leaf or none"
                );
            }
            let mut n = 0;
            let mut bits = node.bitmap;
            for slot in node.slots.iter() {
                let c = bits.trailing_zeros();
                bits &= bits - 1;
                let prefix = prefix | (u64::from(c) << shift);
                match slot {
                    Slot::Leaf(e) => {
                        let mask = (1u64 << (shift + BITS).min(63)) - 1;
                        assert_eq!(e.id() & mask, prefix & mask, "leaf off its path");
                        n += 1;
                    }
                    Slot::Branch(child) => n += walk(child, shift + BITS, prefix, false),
                }
            }
            n
        }
        assert_eq!(walk(&trie.root, 0, 0, true), trie.len());
        assert_eq!(trie.iter().count(), trie.len());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        /// Keep a copy of the trie as it is now, to be checked at the end.
        Snapshot,
    }

    /// Ids that share long runs of low bits, to build deep paths, as well as
    /// sequential ids like the ones variables get.
    fn id() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..2048u64,
            (0..8u64, 0..64u32).prop_map(|(hi, shift)| (hi << shift) | 0x15),
            any::<u64>(),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (id(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => id().prop_map(Op::Remove),
            1 => Just(Op::Snapshot),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_btreemap(ops in prop::collection::vec(op(), 0..400)) {
            let mut trie: Trie<E> = Trie::from_iter([]);
            let mut model = BTreeMap::new();
            let mut snapshots = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let old = trie.insert(E(k, v)).map(|e| e.1);
                        prop_assert_eq!(old, model.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let old = trie.remove(k).map(|e| e.1);
                        prop_assert_eq!(old, model.remove(&k));
                    }
                    Op::Snapshot => snapshots.push((trie.clone(), model.clone())),
                }
                check(&trie);
            }
            snapshots.push((trie, model));
            for (trie, model) in snapshots {
                check(&trie);
                for (&k, &v) in &model {
                    prop_assert_eq!(trie.get(k), Some(&E(k, v)));
                }
                let mut seen: Vec<(u64, u32)> = trie.iter().map(|e| (e.0, e.1)).collect();
                seen.sort_unstable();
                let mut owned: Vec<(u64, u32)> = trie.clone().into_iter().map(|e| (e.0, e.1)).collect();
                owned.sort_unstable();
                let expected: Vec<(u64, u32)> = model.into_iter().collect();
                prop_assert_eq!(&seen, &expected);
                prop_assert_eq!(&owned, &expected);
            }
        }
    }

    /// Two tries have the same shape and entries.
    fn same<E: Keyed + PartialEq + fmt::Debug>(a: &Node<E>, b: &Node<E>) {
        assert_eq!(a.bitmap, b.bitmap);
        assert_eq!(a.positions, b.positions);
        for (x, y) in a.slots.iter().zip(b.slots.iter()) {
            match (x, y) {
                (Slot::Leaf(x), Slot::Leaf(y)) => assert_eq!(x, y),
                (Slot::Branch(x), Slot::Branch(y)) => same(x, y),
                _ => panic!("a leaf against a branch"),
            }
        }
    }

    proptest! {
        #[test]
        fn building_at_once_matches_inserting(entries in prop::collection::vec((id(), any::<u32>()), 0..300)) {
            let built: Trie<E> = entries.iter().map(|&(k, v)| E(k, v)).collect();
            let mut inserted: Trie<E> = Trie::from_iter([]);
            for &(k, v) in &entries {
                inserted.insert(E(k, v));
            }
            check(&built);
            prop_assert_eq!(built.len(), inserted.len());
            same(&built.root, &inserted.root);
        }
    }

    #[test]
    fn trie_order_reverses_the_nibbles() {
        assert_eq!(trie_order(0x1), 0x1000_0000_0000_0000);
        assert_eq!(trie_order(0x21), 0x1200_0000_0000_0000);
        assert_eq!(trie_order(0x0123_4567_89ab_cdef), 0xfedc_ba98_7654_3210);
    }

    #[test]
    fn a_slot_is_no_larger_than_a_binding() {
        use crate::binding::Binding;
        assert_eq!(
            std::mem::size_of::<Slot<Binding>>(),
            std::mem::size_of::<Binding>()
        );
    }

    #[test]
    fn sequential_ids_fill_the_first_levels() {
        const W: usize = 1 << BITS;
        let trie: Trie<E> = (0..(W * W) as u64).map(|k| E(k, 0)).collect();
        check(&trie);
        // W branches of W leaves each: every lookup takes two steps.
        assert_eq!(trie.root.slots.len(), W);
        for slot in trie.root.slots.iter() {
            let Slot::Branch(child) = slot else {
                panic!("a leaf at the root")
            };
            assert_eq!(child.slots.len(), W);
            assert!(child.slots.iter().all(|s| matches!(s, Slot::Leaf(_))));
        }
    }

    #[test]
    fn ids_that_differ_only_in_the_top_bit_part_at_the_last_level() {
        let mut trie: Trie<E> = Trie::from_iter([E(7, 1)]);
        trie.insert(E(7 | 1 << 63, 2));
        check(&trie);
        assert_eq!(trie.get(7), Some(&E(7, 1)));
        assert_eq!(trie.get(7 | 1 << 63), Some(&E(7 | 1 << 63, 2)));
        assert_eq!(trie.remove(7), Some(E(7, 1)));
        check(&trie);
        // The lone survivor is back at the root.
        assert!(matches!(&*trie.root.slots, [Slot::Leaf(_)]));
    }

    #[test]
    fn a_write_to_a_copy_copies_one_path_only() {
        let original: Trie<E> = (0..1024).map(|k| E(k, 0)).collect();
        let mut copy = original.clone();
        copy.insert(E(5, 1));
        assert_eq!(original.get(5), Some(&E(5, 0)));
        assert_eq!(copy.get(5), Some(&E(5, 1)));
        let shared = original
            .root
            .slots
            .iter()
            .zip(copy.root.slots.iter())
            .filter(|pair| match pair {
                (Slot::Branch(a), Slot::Branch(b)) => Arc::ptr_eq(&a.slots, &b.slots),
                _ => false,
            })
            .count();
        assert_eq!(
            shared,
            (1 << BITS) - 1,
            "all branches but the written one are shared"
        );
    }

    #[test]
    fn removing_an_absent_id_copies_nothing() {
        let original: Trie<E> = (0..100).map(|k| E(k, 0)).collect();
        let mut copy = original.clone();
        assert_eq!(copy.remove(1000), None);
        assert_eq!(copy.remove(5 | 1 << 40), None);
        assert!(Arc::ptr_eq(&original.root.slots, &copy.root.slots));
    }
}
