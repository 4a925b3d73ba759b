//! The member lists of `tracestate` and `baggage`: cheap to clone.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A list whose clones share its members until one of them changes.
///
/// The request-context layer hands the incoming `tracestate` and `baggage`
/// out several times per request (request extensions, context variables,
/// outbound requests): a clone is a reference count, not a copy of every
/// member. An empty list allocates nothing.
#[derive(Clone)]
pub(crate) struct SharedList<T>(Option<Arc<Vec<T>>>);

impl<T> SharedList<T> {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        SharedList(None)
    }
}

impl<T: Clone> SharedList<T> {
    /// The members, for changing them: copied first if another clone shares
    /// them.
    pub(crate) fn make_mut(&mut self) -> &mut Vec<T> {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }
}

impl<T> Default for SharedList<T> {
    fn default() -> Self {
        SharedList::new()
    }
}

impl<T> Deref for SharedList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl<T> From<Vec<T>> for SharedList<T> {
    fn from(members: Vec<T>) -> Self {
        if members.is_empty() {
            SharedList::new()
        } else {
            SharedList(Some(Arc::new(members)))
        }
    }
}

impl<T: PartialEq> PartialEq for SharedList<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq> Eq for SharedList<T> {}

impl<T: Hash> Hash for SharedList<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_until_changed() {
        let mut a = SharedList::from(vec![1, 2]);
        let b = a.clone();
        assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()));
        a.make_mut().push(3);
        assert_eq!(*a, [1, 2, 3]);
        assert_eq!(*b, [1, 2]);
    }

    #[test]
    fn emptied_equals_empty() {
        let mut a = SharedList::from(vec![1]);
        a.make_mut().clear();
        assert_eq!(a, SharedList::new());
        let hash = |l: &SharedList<i32>| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            l.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&SharedList::new()));
        assert!(SharedList::<u8>::from(Vec::new()).0.is_none());
    }
}
