//! [rayon] work that runs in a copy of the caller's context.
//!
//! rayon runs closures on its own pool threads, whose contexts are their own
//! (empty unless something set them). The functions and adaptors here give
//! every work item a copy of the caller's context instead, taken when the
//! work is submitted ([`child_context`](crate::child_context)): each item's
//! changes stay in its copy and never reach the caller or other items.
//!
//! | rayon | here |
//! |---|---|
//! | [`rayon::join(a, b)`](rayon::join) | [`join(a, b)`](join) |
//! | [`rayon::scope(\|s\| s.spawn(..))`](rayon::scope) | [`scope(\|s\| s.spawn(..))`](scope) |
//! | `iter.map(f)` | [`iter.map_in_context(f)`](ParallelIteratorExt::map_in_context) |
//! | `iter.for_each(f)` | [`iter.for_each_in_context(f)`](ParallelIteratorExt::for_each_in_context) |
//!
//! Requires the `rayon` feature.
//!
//! [rayon]: https://docs.rs/rayon

use rayon::iter::ParallelIterator;

use crate::context::Context;
use crate::current;
use crate::map::Map;

/// The caller's context, captured once and copied for each work item.
#[derive(Clone, Debug)]
struct Snapshot(Map);

impl Snapshot {
    fn take() -> Self {
        Snapshot(current::snapshot().inherited())
    }

    /// Runs `f` in a fresh copy of the snapshot.
    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        Context::from_map(self.0.clone()).run_mut(f)
    }
}

/// [`rayon::join`], with each closure running in a copy of the caller's
/// context.
///
/// # Panics
///
/// As [`rayon::join`]: a panic in either closure propagates, after both
/// contexts are exited.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// USER.set("ada");
/// let (a, b) = contextvars::rayon::join(
///     || {
///         USER.set("a"); // only in this closure's copy
///         USER.get()
///     },
///     || USER.get(),
/// );
/// assert_eq!((a, b), ("a", "ada"));
/// assert_eq!(USER.get(), "ada");
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let snapshot = Snapshot::take();
    let (sa, sb) = (&snapshot, &snapshot);
    rayon::join(move || sa.run(a), move || sb.run(b))
}

/// [`rayon::scope`], whose spawned closures each run in a copy of the
/// context current when they are spawned.
///
/// The scope closure itself runs in a copy of the caller's context as well,
/// since rayon may run it on one of the pool's threads: its changes stay in
/// that copy.
///
/// # Panics
///
/// As [`rayon::scope`].
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use contextvars::ContextVar;
///
/// static JOB: ContextVar<u32> = ContextVar::new("job");
///
/// let seen = Mutex::new(Vec::new());
/// contextvars::rayon::scope(|s| {
///     for job in 0..4 {
///         JOB.set(job);
///         s.spawn(|_| seen.lock().unwrap().push(JOB.get()));
///     }
/// });
/// let mut seen = seen.into_inner().unwrap();
/// seen.sort();
/// assert_eq!(seen, [0, 1, 2, 3]);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: for<'a> FnOnce(&Scope<'a, 'scope>) -> R + Send,
    R: Send,
{
    let snapshot = Snapshot::take();
    rayon::scope(move |inner| snapshot.run(|| op(&Scope { inner })))
}

/// A [`rayon::Scope`] whose [`spawn`](Scope::spawn) runs each closure in a
/// copy of the spawner's context. Made by [`scope`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use contextvars::ContextVar;
///
/// static LEVEL: ContextVar<u32> = ContextVar::with_default("level", || 0);
///
/// let deepest = AtomicU32::new(0);
/// contextvars::rayon::scope(|s| {
///     LEVEL.set(1);
///     s.spawn(|s| {
///         LEVEL.set(LEVEL.get() + 1);
///         s.spawn(|_| {
///             deepest.fetch_max(LEVEL.get(), Ordering::Relaxed);
///         });
///     });
/// });
/// assert_eq!(deepest.into_inner(), 2);
/// ```
#[derive(Debug)]
pub struct Scope<'a, 'scope> {
    inner: &'a rayon::Scope<'scope>,
}

impl<'scope> Scope<'_, 'scope> {
    /// Spawns `body` into the scope, to run in a copy of the current context.
    ///
    /// # Examples
    ///
    /// See [`scope`].
    ///
    /// ```
    /// contextvars::rayon::scope(|s| s.spawn(|_| ()));
    /// ```
    pub fn spawn<BODY>(&self, body: BODY)
    where
        BODY: for<'b> FnOnce(&Scope<'b, 'scope>) + Send + 'scope,
    {
        let snapshot = Snapshot::take();
        self.inner
            .spawn(move |inner| snapshot.run(|| body(&Scope { inner })));
    }
}

/// Parallel-iterator adaptors whose closures run in copies of the caller's
/// context.
///
/// Each item runs in its own fresh copy of the context captured when the
/// adaptor is created, so items never see each other's changes.
///
/// # Examples
///
/// ```
/// use contextvars::rayon::ParallelIteratorExt;
/// use contextvars::ContextVar;
/// use rayon::prelude::*;
///
/// static OFFSET: ContextVar<i32> = ContextVar::new("offset");
///
/// OFFSET.set(100);
/// let v: Vec<i32> = vec![1, 2, 3].into_par_iter().map_in_context(|x| x + OFFSET.get()).collect();
/// assert_eq!(v, [101, 102, 103]);
/// ```
pub trait ParallelIteratorExt: ParallelIterator {
    /// [`ParallelIterator::map`], with `f` running in a copy of the caller's
    /// context for each item.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::rayon::ParallelIteratorExt;
    /// use contextvars::ContextVar;
    /// use rayon::prelude::*;
    ///
    /// static FACTOR: ContextVar<u64> = ContextVar::new("factor");
    ///
    /// FACTOR.set(10);
    /// let out: Vec<u64> = (1..=4u64)
    ///     .into_par_iter()
    ///     .map_in_context(|x| {
    ///         let scaled = x * FACTOR.get();
    ///         FACTOR.set(0); // only in this item's copy
    ///         scaled
    ///     })
    ///     .collect();
    /// assert_eq!(out, [10, 20, 30, 40]);
    /// ```
    fn map_in_context<F, R>(
        self,
        f: F,
    ) -> rayon::iter::Map<Self, impl Fn(Self::Item) -> R + Sync + Send>
    where
        F: Fn(Self::Item) -> R + Sync + Send,
        R: Send,
    {
        let snapshot = Snapshot::take();
        self.map(move |item| snapshot.run(|| f(item)))
    }

    /// [`ParallelIterator::for_each`], with `f` running in a copy of the
    /// caller's context for each item.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use contextvars::rayon::ParallelIteratorExt;
    /// use contextvars::ContextVar;
    /// use rayon::prelude::*;
    ///
    /// static WEIGHT: ContextVar<u64> = ContextVar::new("weight");
    ///
    /// WEIGHT.set(2);
    /// let total = AtomicU64::new(0);
    /// (0..100u64).into_par_iter().for_each_in_context(|x| {
    ///     total.fetch_add(x * WEIGHT.get(), Ordering::Relaxed);
    /// });
    /// assert_eq!(total.into_inner(), 9_900);
    /// ```
    fn for_each_in_context<F>(self, f: F)
    where
        F: Fn(Self::Item) + Sync + Send,
    {
        let snapshot = Snapshot::take();
        self.for_each(move |item| snapshot.run(|| f(item)))
    }
}

impl<I: ParallelIterator> ParallelIteratorExt for I {}
