//! Contexts: the maps of variable values that threads and tasks run in.

use std::fmt;
use std::sync::Arc;

use crate::binding::{Binding, VarKey};
use crate::current;
use crate::error::EnterError;
use crate::map::{self, Map};
use crate::probe;
use crate::stats;
use crate::sync::Exclusive;
use crate::var::{self, ContextVar};

/// A mapping of context variables to their values.
///
/// This is Python's `contextvars.Context`. Each thread runs in a context of
/// its own, which starts empty; [`copy_context`] takes an O(1) snapshot of it,
/// and [`run`](Context::run) makes another context current while a closure
/// runs. Every [`ContextVar::set`] made while a context is current is recorded
/// in that context and is visible through it afterwards, never in the
/// caller's context.
///
/// A `Context` is a value: moving it moves the context, and
/// [`copy`](Context::copy) makes an independent snapshot. To use one context
/// from several places, as Python code passes a `Context` object around,
/// share it behind an [`Arc`]. It is not `Clone`, because a clone that shared
/// state would be easy to confuse with a copy that does not.
///
/// The map view ([`get`](Context::get), [`contains`](Context::contains),
/// [`len`](Context::len), [`iter`](Context::iter)) is read-only and ignores
/// variables' defaults. While the context is current on the calling thread
/// the view shows its live contents. While it is entered on another thread it
/// shows the contents it had when that thread entered it.
///
/// # Examples
///
/// ```
/// use contextvars::{copy_context, ContextVar};
///
/// static V: ContextVar<&str> = ContextVar::new("v");
///
/// V.set("outer");
/// let ctx = copy_context();
/// ctx.run(|| {
///     assert_eq!(V.get(), "outer");
///     V.set("inner");
/// });
/// assert_eq!(V.get(), "outer");
/// assert_eq!(ctx.get(&V).as_deref(), Some(&"inner"));
/// ```
pub struct Context {
    id: u64,
    state: Exclusive<Map>,
}

impl Context {
    /// Creates an empty context.
    ///
    /// Python: `contextvars.Context()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// Context::new().run(|| assert!(V.try_get().is_err()));
    /// ```
    pub fn new() -> Self {
        Context::from_map(Map::default())
    }

    pub(crate) fn from_map(map: Map) -> Self {
        stats::context_created();
        Context {
            id: current::next_context_id(),
            state: Exclusive::new(map),
        }
    }

    /// This context's id and map, for an owner that keeps them in a slimmer
    /// form ([`runtime::Task`](crate::runtime::Task)), and takes over its
    /// place in [`live_contexts`](crate::live_contexts).
    pub(crate) fn into_parts(mut self) -> (u64, Map) {
        let map = std::mem::take(self.state.get_mut().0);
        let id = self.id;
        // Nothing is left to drop (an id, a flag, a lock without heap state,
        // an empty map), and the count of live contexts stays as it is: the
        // new owner decrements it when it drops the parts.
        std::mem::forget(self);
        (id, map)
    }

    /// A shallow, independent copy of this context, in O(1).
    ///
    /// The copy shares the values (never clones them) but not the bindings:
    /// a later `set` in either context is invisible to the other.
    ///
    /// Python: `Context.copy()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// ctx.run(|| V.set(10));
    /// let snapshot = ctx.copy();
    /// ctx.run(|| V.set(20));
    /// assert_eq!(snapshot.get(&V).as_deref(), Some(&10));
    /// assert_eq!(ctx.get(&V).as_deref(), Some(&20));
    /// ```
    pub fn copy(&self) -> Context {
        Context::from_map(self.map())
    }

    /// Runs `f` with this context as the current context of the thread, and
    /// returns its result.
    ///
    /// Every change `f` makes to context variables is recorded in this
    /// context. When `f` returns, or panics, the caller's context is current
    /// again, unchanged.
    ///
    /// Python: `Context.run(callable)`.
    ///
    /// # Panics
    ///
    /// Panics if the context is already entered, by this thread (a recursive
    /// `run`) or by another one, as CPython raises `RuntimeError`; see
    /// [`try_run`](Context::try_run) for the fallible version. Panics if the
    /// thread is shutting down. Panics from `f` propagate, after the caller's
    /// context is restored.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// let doubled = ctx.run(|| {
    ///     V.set(21);
    ///     V.get() * 2
    /// });
    /// assert_eq!(doubled, 42);
    /// assert!(V.try_get().is_err());
    /// assert_eq!(ctx.get(&V).as_deref(), Some(&21));
    /// ```
    #[track_caller]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        self.run_for(probe::current_task(), f)
    }

    /// [`run`](Context::run) on behalf of async task `task`.
    #[track_caller]
    pub(crate) fn run_for<R>(&self, task: u64, f: impl FnOnce() -> R) -> R {
        match self.try_run_for(task, f) {
            Ok(r) => r,
            Err(err) => enter_failed(err),
        }
    }

    /// Like [`run`](Context::run), but returns an error instead of panicking
    /// when the context cannot be entered.
    ///
    /// # Errors
    ///
    /// * [`EnterError::AlreadyEntered`] if the context is already entered, on
    ///   this thread or another one. `f` is not called.
    /// * [`EnterError::ThreadShuttingDown`] if the thread's local storage has
    ///   been destroyed. `f` is not called.
    ///
    /// # Panics
    ///
    /// Panics from `f` propagate, after the caller's context is restored.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, EnterError};
    ///
    /// let ctx = Context::new();
    /// assert_eq!(ctx.try_run(|| 1), Ok(1));
    /// assert_eq!(ctx.run(|| ctx.try_run(|| 2)), Err(EnterError::AlreadyEntered));
    /// ```
    pub fn try_run<R>(&self, f: impl FnOnce() -> R) -> Result<R, EnterError> {
        self.try_run_for(probe::current_task(), f)
    }

    /// [`try_run`](Context::try_run) on behalf of async task `task`.
    pub(crate) fn try_run_for<R>(&self, task: u64, f: impl FnOnce() -> R) -> Result<R, EnterError> {
        let map = self.state.try_enter().ok_or(EnterError::AlreadyEntered)?;
        let snapshot = map.addr();
        let entered = match current::enter(map, self.id, task) {
            Ok(entered) => entered,
            Err(map) => {
                self.state.cancel_enter();
                drop(map);
                return Err(EnterError::ThreadShuttingDown);
            }
        };
        let _guard = SharedExit {
            ctx: self,
            entered,
            snapshot,
        };
        Ok(f())
    }

    /// Runs `f` in this context, which the caller holds exclusively.
    ///
    /// Same semantics as [`run`](Context::run). Since `&mut self` proves
    /// that no other thread can enter the context, it skips the atomic
    /// operations `run` needs: use it where a context is owned, such as one
    /// made for a request or a task.
    ///
    /// # Panics
    ///
    /// Panics if the thread is shutting down (see
    /// [`EnterError::ThreadShuttingDown`]). Panics from `f` propagate, after
    /// the caller's context is restored.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{child_context, ContextVar};
    ///
    /// static STEP: ContextVar<u32> = ContextVar::new("step");
    ///
    /// let mut request = child_context();
    /// request.run_mut(|| STEP.set(1));
    /// request.run_mut(|| STEP.set(STEP.get() + 1));
    /// assert_eq!(request.get(&STEP).as_deref(), Some(&2));
    /// ```
    #[inline]
    #[track_caller]
    pub fn run_mut<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.run_mut_for(probe::current_task(), f)
    }

    /// [`run_mut`](Context::run_mut) on behalf of async task `task`.
    #[inline]
    #[track_caller]
    pub(crate) fn run_mut_for<R>(&mut self, task: u64, f: impl FnOnce() -> R) -> R {
        // The hot path of every poll of a task: a few word moves, in one
        // access to the thread-local.
        let id = self.id;
        let (map, entered) = self.state.get_mut();
        if entered {
            enter_failed(EnterError::AlreadyEntered);
        }
        match current::run_entered(map, id, task, f) {
            Some(r) => r,
            None => enter_failed(EnterError::ThreadShuttingDown),
        }
    }

    /// Enters this context, which the caller owns exclusively, on behalf of
    /// async task `task`. Returns the context's own map slot (to be given
    /// the map back by [`exit_owned`]) and the proof of entry.
    #[inline]
    fn enter_owned(&mut self, task: u64) -> Result<(&mut Map, current::Entered), EnterError> {
        let id = self.id;
        let (map, entered) = self.state.get_mut();
        if entered {
            return Err(EnterError::AlreadyEntered);
        }
        match current::enter(std::mem::take(map), id, task) {
            Ok(entered) => Ok((map, entered)),
            Err(taken) => {
                *map = taken;
                Err(EnterError::ThreadShuttingDown)
            }
        }
    }

    /// Enters this context, which the caller owns exclusively, on behalf of
    /// async task `task`; the caller must hand the result to
    /// [`exit_mut`](Context::exit_mut).
    pub(crate) fn enter_mut_for(&mut self, task: u64) -> Result<current::Entered, EnterError> {
        self.enter_owned(task).map(|(_, entered)| entered)
    }

    /// Exits this context, entered by [`enter_mut_for`](Context::enter_mut_for).
    ///
    /// # Panics
    ///
    /// If contexts entered after this one were still entered (see
    /// [`current::exit`]), after this context's state is restored.
    pub(crate) fn exit_mut(&mut self, entered: current::Entered) {
        exit_owned(self.state.get_mut().0, &entered);
    }

    /// Wraps `f` into a closure that runs it in this context, wherever and
    /// whenever it is called: a hand-off of work to another thread, a pool or
    /// a long-lived worker, in the context of whoever prepared it.
    ///
    /// The closure owns the context, so entering it needs no
    /// synchronization.
    ///
    /// # Panics
    ///
    /// The closure panics if the calling thread is shutting down (see
    /// [`EnterError::ThreadShuttingDown`]). Panics from `f` propagate.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static REQUEST: ContextVar<u32> = ContextVar::new("request");
    ///
    /// REQUEST.set(7);
    /// let job = copy_context().wrap(|| REQUEST.get());
    /// // Runs in the context captured above, on a thread that never set it.
    /// let seen = std::thread::spawn(job).join().unwrap();
    /// assert_eq!(seen, 7);
    /// ```
    pub fn wrap<F: FnOnce() -> R, R>(mut self, f: F) -> impl FnOnce() -> R {
        move || self.run_mut(f)
    }

    /// Whether [`run_mut`](Context::run_mut) can enter the context now.
    pub(crate) fn can_enter_mut(&mut self) -> bool {
        !self.state.get_mut().1 && current::is_alive()
    }

    /// Binds `var` to `value` in this context, which the caller owns and
    /// has not entered: what `self.run_mut(|| var.set(value))` records, without
    /// entering the context, asking which task runs or making a token.
    ///
    /// Python has no such method (a context changes only from inside
    /// `ctx.run`); an owned, not yet entered context is Rust's own case: a
    /// context prepared for a request or a task before it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    ///
    /// let mut ctx = Context::new();
    /// ctx.bind(&REQUEST_ID, "req-1".to_string());
    /// assert_eq!(ctx.run(|| REQUEST_ID.get()), "req-1");
    /// assert!(REQUEST_ID.try_get().is_err()); // the caller's context is untouched
    /// ```
    pub fn bind<T: Send + Sync + fmt::Debug + 'static>(&mut self, var: &ContextVar<T>, value: T) {
        self.insert_binding(Binding::new(var.key(), value));
    }

    /// Binds several variables at once, as [`bind`](Context::bind) binds
    /// each, with their values in one allocation: two to four `(&var,
    /// value)` pairs in a tuple.
    ///
    /// Values that are not stored inline (see
    /// [`ContextVar::get_arc`](crate::ContextVar::get_arc)) are otherwise
    /// each kept behind an `Arc` of their own: binding a request's id,
    /// trace and user this way makes one allocation instead of three, and
    /// dropping the context frees one. Reads see no difference, except
    /// that `get_arc` and [`Context::get`] return a new `Arc` with a clone of
    /// such a value (as they do for values stored inline), hence the
    /// `Clone` bound. The values are dropped together, when the last of
    /// their bindings is gone from every context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    /// static USER: ContextVar<String> = ContextVar::new("user");
    /// static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
    ///
    /// let mut ctx = Context::new();
    /// ctx.bind_all((
    ///     (&REQUEST_ID, "req-1".to_string()),
    ///     (&USER, "ada".to_string()),
    ///     (&ATTEMPT, 1),
    /// ));
    /// ctx.run(|| {
    ///     assert_eq!(REQUEST_ID.get(), "req-1");
    ///     assert_eq!(USER.with(|user| user.len()), 3);
    ///     USER.set("grace".to_string()); // each variable changes on its own
    ///     assert_eq!(ATTEMPT.get(), 1);
    /// });
    /// assert_eq!(ctx.get(&USER).as_deref().map(String::as_str), Some("grace"));
    /// assert_eq!(ctx.get(&REQUEST_ID).as_deref().map(String::as_str), Some("req-1"));
    /// ```
    pub fn bind_all<B: BindAll>(&mut self, bindings: B) {
        bindings.bind_into(self);
    }

    /// Binds `binding` in this context, which the caller owns and has not
    /// entered (see [`bind`](Context::bind)).
    #[inline]
    fn insert_binding(&mut self, binding: Binding) {
        let (map, _) = self.state.get_mut();
        // The value it replaces, if any, is dropped here, outside of any
        // thread's slot.
        drop(map.insert(binding));
    }

    /// The value of `var` in this context, ignoring the variable's default.
    ///
    /// Python: `ctx.get(var)`, and `ctx[var]` (where `None` is a `KeyError`).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::with_default("v", || 0);
    /// let ctx = Context::new();
    /// assert_eq!(ctx.get(&V), None); // defaults are not in the mapping
    /// ctx.run(|| V.set(5));
    /// assert_eq!(ctx.get(&V).as_deref(), Some(&5));
    /// ```
    pub fn get<T: Send + Sync + fmt::Debug + 'static>(
        &self,
        var: &ContextVar<T>,
    ) -> Option<Arc<T>> {
        let id = var.key().id();
        // The binding is cloned under the lock; its value is downcast (and
        // the clone dropped, on a mismatch) after it.
        let value = self.read_map(|map| map.get(id).cloned())?.into_value();
        Some(var::downcast(value))
    }

    /// Whether `var` has a value in this context (defaults do not count).
    ///
    /// Python: `var in ctx`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// assert!(!ctx.contains(&V));
    /// ctx.run(|| V.set(1));
    /// assert!(ctx.contains(&V));
    /// ```
    pub fn contains<T>(&self, var: &ContextVar<T>) -> bool {
        self.read_map(|map| map.get(var.key().id()).is_some())
    }

    /// The number of variables that have a value in this context.
    ///
    /// Python: `len(ctx)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<u32> = ContextVar::new("b");
    /// let ctx = Context::new();
    /// ctx.run(|| {
    ///     A.set(1);
    ///     B.set(2);
    /// });
    /// assert_eq!(ctx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.read_map(Map::len)
    }

    /// Whether no variable has a value in this context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    ///
    /// assert!(Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Iterates over the bindings (variable and value) of this context, in
    /// no particular order.
    ///
    /// The iterator works on a snapshot taken when it is created, so the
    /// context can be changed while it is alive.
    ///
    /// Python: `ctx.items()`; `ctx.values()` is `ctx.iter().map(|b| b.value())`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// ctx.run(|| V.set(7));
    /// let items: Vec<_> = ctx.iter().map(|b| (b.key(), *b.downcast_ref::<u32>().unwrap())).collect();
    /// assert_eq!(items, [(V.key(), 7)]);
    /// ```
    pub fn iter(&self) -> Iter {
        Iter {
            inner: self.map().into_iter(),
        }
    }

    /// Iterates over the variables that have a value in this context, in no
    /// particular order.
    ///
    /// Python: `ctx.keys()` and `iter(ctx)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let ctx = Context::new();
    /// ctx.run(|| V.set(7));
    /// assert_eq!(ctx.keys().collect::<Vec<_>>(), [V.key()]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = VarKey> {
        self.iter().map(|b| b.key())
    }

    /// The current contents: live if this context is current on this thread,
    /// the stored map otherwise.
    fn map(&self) -> Map {
        self.read_map(Map::clone)
    }

    /// Applies `f` to the current contents ([`map`](Context::map)) without
    /// copying them: a context that is not entered is read under its lock,
    /// with no reference count. `f` must not run user code, nor drop a
    /// value whose `Drop` could (it may clone a binding).
    #[inline]
    fn read_map<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        if self.state.is_entered() {
            if let Some(live) = current::entered_map(self.id) {
                return f(&live);
            }
        }
        self.state.read_with(f)
    }
}

/// Variables and their values for [`Context::bind_all`]: a tuple of two to
/// four `(&ContextVar<T>, T)` pairs, each `T` `Clone`.
///
/// Implemented for those tuples only (it cannot be implemented outside this
/// crate).
///
/// # Examples
///
/// ```
/// use contextvars::{BindAll, Context, ContextVar};
///
/// static A: ContextVar<String> = ContextVar::new("a");
/// static B: ContextVar<Vec<u8>> = ContextVar::new("b");
///
/// fn prepared(values: impl BindAll) -> Context {
///     let mut ctx = Context::new();
///     ctx.bind_all(values);
///     ctx
/// }
///
/// let ctx = prepared(((&A, "a".to_string()), (&B, vec![1])));
/// assert_eq!(ctx.len(), 2);
/// ```
pub trait BindAll: sealed::BindInto {}

mod sealed {
    /// The binding itself, out of reach of other crates.
    pub trait BindInto {
        fn bind_into(self, ctx: &mut super::Context);
    }
}

/// Implements [`BindAll`] for a tuple of `(&ContextVar<T>, T)` pairs: the
/// values go into one tuple behind one `Arc`, and each binding refers to
/// its part.
macro_rules! bind_all {
    ($($ty:ident $var:ident $value:ident $i:tt),+) => {
        impl<$($ty: Clone + Send + Sync + fmt::Debug + 'static),+> BindAll
            for ($((&ContextVar<$ty>, $ty),)+)
        {
        }

        impl<$($ty: Clone + Send + Sync + fmt::Debug + 'static),+> sealed::BindInto
            for ($((&ContextVar<$ty>, $ty),)+)
        {
            fn bind_into(self, ctx: &mut Context) {
                let ($(($var, $value),)+) = self;
                let whole = Arc::new(($($value,)+));
                let parts = [$(($var.key(), Binding::part::<$ty, _, $i> as fn(_, _) -> _)),+];
                let last = parts.len() - 1;
                let mut whole = Some(whole);
                for (n, (key, part)) in parts.into_iter().enumerate() {
                    // The last binding takes the `Arc` itself: one reference
                    // count per binding, and none to drop.
                    let whole = if n == last { whole.take() } else { whole.clone() };
                    ctx.insert_binding(part(key, whole.expect("taken by the last")));
                }
            }
        }
    };
}

bind_all!(A a_var a 0, B b_var b 1);
bind_all!(A a_var a 0, B b_var b 1, C c_var c 2);
bind_all!(A a_var a 0, B b_var b 1, C c_var c 2, D d_var d 3);

/// Restores the caller's context when a shared `run` ends, even by a panic.
struct SharedExit<'a> {
    ctx: &'a Context,
    entered: current::Entered,
    /// [`Map::addr`] of the map taken at entry, which the context keeps
    /// alive (nobody else can store into it while it is entered).
    snapshot: *const (),
}

impl Drop for SharedExit<'_> {
    fn drop(&mut self) {
        // `exit` and `Exclusive::exit` cannot panic: they only swap values.
        current::exit(&self.entered, |map| match map {
            // Nothing was set while the context was current (as in most
            // runs that only read): the stored map is still the live one,
            // so there is nothing to store back and no lock to take.
            Some(map) if std::ptr::eq(map.addr(), self.snapshot) => {
                self.ctx.state.cancel_enter();
                drop(map);
            }
            // The old snapshot is dropped here, after the lock is released.
            Some(map) => drop(self.ctx.state.exit(map)),
            None => self.ctx.state.cancel_enter(),
        });
    }
}

/// Exits a context entered by [`Context::enter_owned`] and gives its map
/// back to `slot`, with every change made while it was current.
#[inline]
fn exit_owned(slot: &mut Map, entered: &current::Entered) {
    current::exit(entered, |map| {
        if let Some(map) = map {
            *slot = map;
        }
    });
}

#[cold]
#[track_caller]
fn enter_failed(err: EnterError) -> ! {
    panic!("{err}")
}

impl Drop for Context {
    fn drop(&mut self) {
        stats::context_dropped();
    }
}

impl Default for Context {
    /// An empty context, as [`Context::new`].
    fn default() -> Self {
        Context::new()
    }
}

impl PartialEq for Context {
    /// Two contexts are equal when they bind the same variables to the same
    /// values. Values are compared by identity (the same shared value), since
    /// the library never clones them: a copy equals its original until either
    /// changes.
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || self.map() == other.map()
    }
}

impl Eq for Context {}

impl fmt::Debug for Context {
    /// Lists every variable's name and value, in the order the variables were
    /// first used.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.map();
        let mut s = f.debug_struct("Context");
        for binding in map.sorted() {
            s.field(binding.key().name(), binding.debug_value());
        }
        s.finish()
    }
}

impl IntoIterator for &Context {
    type Item = Binding;
    type IntoIter = Iter;

    fn into_iter(self) -> Iter {
        self.iter()
    }
}

/// Returns a copy of the current thread's current context, in O(1).
///
/// Python: `contextvars.copy_context()`.
///
/// # Examples
///
/// ```
/// use contextvars::{copy_context, ContextVar};
///
/// static V: ContextVar<u32> = ContextVar::new("v");
/// V.set(1);
/// let snapshot = copy_context();
/// V.set(2);
/// assert_eq!(snapshot.get(&V).as_deref(), Some(&1));
/// snapshot.run(|| assert_eq!(V.get(), 1));
/// ```
pub fn copy_context() -> Context {
    Context::from_map(current::snapshot())
}

/// Returns the context a task or thread spawned now should start in: a copy
/// of the current context, in O(1), without the variables marked
/// [`not_inherited`](crate::VarBuilder::not_inherited).
///
/// This is what [`thread::spawn`](crate::thread::spawn),
/// [`FutureExt::with_current_context`](crate::FutureExt::with_current_context)
/// and the spawn helpers of runtime integrations use. It equals
/// [`copy_context`] unless such variables are set; then it costs a copy of
/// the remaining bindings.
///
/// # Examples
///
/// ```
/// use contextvars::{child_context, copy_context, ContextVar};
///
/// static SUPPRESS: ContextVar<bool> = ContextVar::builder("suppress").not_inherited().build();
///
/// SUPPRESS.set(true);
/// assert!(copy_context().contains(&SUPPRESS));
/// assert!(!child_context().contains(&SUPPRESS));
/// ```
pub fn child_context() -> Context {
    Context::from_map(current::snapshot().inherited())
}

/// Iterator over the bindings of a [`Context`], made by [`Context::iter`].
///
/// It owns an O(1) snapshot of the context.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, ContextVar};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
/// let ctx = Context::new();
/// ctx.run(|| V.set(1));
/// let mut iter = ctx.iter();
/// ctx.run(|| V.set(2)); // the iterator works on its snapshot
/// assert_eq!(iter.next().unwrap().downcast_ref::<u8>(), Some(&1));
/// assert!(iter.next().is_none());
/// ```
#[derive(Debug)]
pub struct Iter {
    inner: map::IntoIter,
}

impl Iterator for Iter {
    type Item = Binding;

    fn next(&mut self) -> Option<Binding> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
