//! Context variables.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use crate::binding::{self, Binding, Held, VarKey};
use crate::current;
use crate::error::{LookupError, ResetError, SetError};
use crate::probe;
use crate::propagation::{self, Codec};
use crate::scope::{self, Scoped};
use crate::sync::{const_fn_unless_loom, IdCounter, LazyId};
use crate::token::Token;

#[cfg(not(loom))]
static VAR_IDS: IdCounter = IdCounter::new();
#[cfg(loom)]
loom::lazy_static! {
    static ref VAR_IDS: IdCounter = IdCounter::new();
}

/// A context variable: a value that belongs to the current
/// [`Context`](crate::Context) rather than to a thread or a scope.
///
/// This is Python's `contextvars.ContextVar`. Declare variables as `static`s
/// (the constructors are `const`), then [`set`](ContextVar::set) and
/// [`get`](ContextVar::get) them anywhere: each thread, and each task run
/// through a [`Context`](crate::Context), sees its own values.
///
/// Values are stored once and shared between copies of a context; the
/// library itself never clones a `T`. The primitive types (integers up to
/// `u128`, floats, `bool`, `char`, `()`) are stored inline, so that setting
/// one allocates nothing; every other type is stored behind an [`Arc`]. Reading offers three
/// forms: [`get`](ContextVar::get) returns a clone of the value (for
/// `T: Clone`, like tokio's `LocalKey::get`), [`get_arc`](ContextVar::get_arc)
/// the shared `Arc<T>`, and [`with`](ContextVar::with) lends a `&T`.
///
/// `T` must be `Send + Sync` because contexts move between threads and copies
/// of a context share values, and `Debug` so that a
/// [`Context`](crate::Context) can list its values.
///
/// # Identity
///
/// Variables are compared by identity, never by name: two variables with the
/// same name are distinct keys. A variable's identity is assigned on first use
/// and never reused. A context keeps the values of every variable set in it
/// alive, so create variables once (as `static`s), not per request.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, ContextVar};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// fn handler() -> String {
///     format!("handling {}", REQUEST_ID.get())
/// }
///
/// let ctx = Context::new();
/// let out = ctx.run(|| {
///     REQUEST_ID.set("req-1".to_string());
///     handler()
/// });
/// assert_eq!(out, "handling req-1");
/// // The caller's context never saw the value.
/// assert!(REQUEST_ID.try_get().is_err());
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    inherited: bool,
    id: LazyId,
    default: Option<fn() -> T>,
    default_value: OnceLock<Arc<T>>,
    /// The string codec of a variable built with
    /// [`propagate`](VarBuilder::propagate).
    pub(crate) propagation: Option<Codec>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> ContextVar<T> {
    const_fn_unless_loom! {
        /// Creates a variable with no default: [`get`](ContextVar::get) panics
        /// and [`try_get`](ContextVar::try_get) fails until it is set.
        ///
        /// Python: `ContextVar(name)`.
        ///
        /// # Examples
        ///
        /// ```
        /// use contextvars::ContextVar;
        ///
        /// static USER: ContextVar<String> = ContextVar::new("user");
        /// assert_eq!(USER.name(), "user");
        /// assert!(USER.try_get().is_err());
        /// ```
        pub fn new(name: &'static str) -> Self {
            Self::builder(name).build()
        }
    }

    const_fn_unless_loom! {
        /// Creates a variable with a default, returned by [`get`](ContextVar::get)
        /// when the variable has no value in the current context.
        ///
        /// `default` is called at most once, the first time the default is
        /// needed; the value it returns is then shared like any other value.
        /// A default is never stored in a context: the map view of a
        /// [`Context`](crate::Context) ignores it.
        ///
        /// Python: `ContextVar(name, default=...)`.
        ///
        /// # Examples
        ///
        /// ```
        /// use contextvars::ContextVar;
        ///
        /// static LEVEL: ContextVar<u8> = ContextVar::with_default("level", || 3);
        /// assert_eq!(LEVEL.get(), 3);
        /// ```
        pub fn with_default(name: &'static str, default: fn() -> T) -> Self {
            Self::builder(name).default(default).build()
        }
    }

    /// Starts building a variable with more options than
    /// [`new`](ContextVar::new) and [`with_default`](ContextVar::with_default):
    /// see [`VarBuilder`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static TRANSACTION: ContextVar<u64> = ContextVar::builder("transaction").not_inherited().build();
    /// assert!(!TRANSACTION.is_inherited());
    /// ```
    pub const fn builder(name: &'static str) -> VarBuilder<T> {
        VarBuilder {
            name,
            default: None,
            inherited: true,
            propagation: None,
        }
    }

    /// Whether spawned tasks and threads inherit the variable (the default;
    /// see [`VarBuilder::not_inherited`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static A: ContextVar<u8> = ContextVar::new("a");
    /// static B: ContextVar<u8> = ContextVar::builder("b").not_inherited().build();
    /// assert!(A.is_inherited());
    /// assert!(!B.is_inherited());
    /// ```
    pub fn is_inherited(&self) -> bool {
        self.inherited
    }

    /// The variable's name, as given to the constructor. Read-only.
    ///
    /// Python: `ContextVar.name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// assert_eq!(V.name(), "v");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The key that identifies this variable in a [`Context`](crate::Context)'s
    /// map view.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// V.set(1);
    /// let keys: Vec<_> = copy_context().keys().collect();
    /// assert_eq!(keys, [V.key()]);
    /// ```
    pub fn key(&self) -> VarKey {
        VarKey::new(self.id(), self.name)
    }

    /// The variable's identity: a unique number, whose top bit tells that
    /// the variable is not inherited (so that a binding needs no flag of its
    /// own, see [`VarKey`]).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        // Reads are one load: the flag is stored with the id.
        match self.id.get() {
            0 => self.first_use(),
            id => id,
        }
    }

    /// Assigns the id, with the flag; a propagated variable is announced to
    /// [`propagation`] before any thread can see its id, so that no value of
    /// it can be bound unannounced.
    #[cold]
    #[inline(never)]
    fn first_use(&self) -> u64 {
        let flag = if self.inherited {
            0
        } else {
            binding::NOT_INHERITED
        };
        match self.propagation {
            None => self.id.get_with(&VAR_IDS, flag),
            Some(codec) => self.id.get_announced(&VAR_IDS, flag, |id, won| {
                if won {
                    propagation::register(id, self.name, codec);
                } else {
                    propagation::unregister(id);
                }
            }),
        }
    }

    /// Whether the variable was created with a default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<u32> = ContextVar::with_default("b", || 0);
    /// assert!(!A.has_default());
    /// assert!(B.has_default());
    /// ```
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }
}

impl<T: Clone + Send + Sync + fmt::Debug + 'static> ContextVar<T> {
    /// The value of the variable in the current context, by value (a clone).
    ///
    /// Falls back to the variable's default when the current context has no
    /// value for it.
    ///
    /// Python: `var.get()`. Like tokio's `LocalKey::get`, this returns a
    /// clone: cheap for the small values context variables usually hold (a
    /// number, an id, an `Arc`). For a value that is costly to clone, borrow
    /// it with [`with`](ContextVar::with) or share it with
    /// [`get_arc`](ContextVar::get_arc).
    ///
    /// # Panics
    ///
    /// Panics with the [`LookupError`] message if the variable has neither a
    /// value nor a default. See [`try_get`](ContextVar::try_get) for the
    /// fallible version and [`get_or`](ContextVar::get_or) for a call-site
    /// default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<String> = ContextVar::with_default("v", || "none".into());
    /// assert_eq!(V.get(), "none");
    /// V.set("some".into());
    /// assert_eq!(V.get(), "some");
    /// ```
    #[track_caller]
    #[inline]
    pub fn get(&self) -> T {
        match self.get_opt() {
            Some(value) => value,
            None => self.default_or_panic(),
        }
    }

    /// The value of the variable in the current context (a clone), or its
    /// default, or a [`LookupError`].
    ///
    /// Python: `var.get()`, raising `LookupError`.
    ///
    /// # Errors
    ///
    /// [`LookupError`] if the variable has no value in the current context and
    /// no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// assert!(V.try_get().is_err());
    /// V.set(7);
    /// assert_eq!(V.try_get(), Ok(7));
    /// ```
    #[inline]
    pub fn try_get(&self) -> Result<T, LookupError> {
        match self.get_opt() {
            Some(value) => Ok(value),
            None => self
                .default_ref()
                .cloned()
                .ok_or_else(|| LookupError::here(self.name)),
        }
    }

    /// The value of the variable in the current context (a clone), else
    /// `default`.
    ///
    /// A call-site default takes precedence over the variable's own default,
    /// as in Python's `var.get(default)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u32> = ContextVar::with_default("v", || 1);
    /// assert_eq!(V.get_or(2), 2);
    /// V.set(3);
    /// assert_eq!(V.get_or(2), 3);
    /// ```
    #[inline]
    pub fn get_or(&self, default: T) -> T {
        self.get_opt().unwrap_or(default)
    }

    /// The value of the variable in the current context (a clone), if it
    /// has one, ignoring the variable's default.
    ///
    /// This is Python's `var.get(None)` where `None` cannot be a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u32> = ContextVar::with_default("v", || 1);
    /// assert_eq!(V.get_opt(), None);
    /// V.set(3);
    /// assert_eq!(V.get_opt(), Some(3));
    /// ```
    #[inline(always)]
    pub fn get_opt(&self) -> Option<T> {
        if Binding::is_inline::<T>() {
            // A copy of a primitive runs no user code, so it can be made
            // while the thread's map is borrowed: no reference count.
            current::peek(self.id(), |binding| {
                binding.map(|b| match b.inline_ref::<T>() {
                    Some(value) => value.clone(),
                    None => not_its_type(),
                })
            })
        } else {
            self.with_opt(T::clone)
        }
    }

    /// The default's clone, or the [`LookupError`] panic.
    #[cold]
    #[track_caller]
    fn default_or_panic(&self) -> T {
        match self.default_ref() {
            Some(default) => default.clone(),
            None => panic!("{}", LookupError::here(self.name)),
        }
    }
}

impl<T: Send + Sync + fmt::Debug + 'static> ContextVar<T> {
    /// The value of the variable in the current context, shared: the
    /// `Arc<T>` the context holds, or the variable's default.
    ///
    /// Python: `var.get()`, returning the very object the context holds.
    /// Use it for values that are costly to clone or not `Clone`; for the
    /// others [`get`](ContextVar::get) returns a plain `T`. The primitive
    /// types are stored inline, not behind an `Arc`: for them this allocates
    /// a new one.
    ///
    /// # Panics
    ///
    /// Panics with the [`LookupError`] message if the variable has neither a
    /// value nor a default; see [`try_get_arc`](ContextVar::try_get_arc).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use contextvars::ContextVar;
    ///
    /// static CONFIG: ContextVar<Vec<u8>> = ContextVar::new("config");
    /// let shared = Arc::new(vec![1, 2, 3]);
    /// CONFIG.set_arc(shared.clone());
    /// assert!(Arc::ptr_eq(&CONFIG.get_arc(), &shared));
    /// ```
    #[track_caller]
    #[inline]
    pub fn get_arc(&self) -> Arc<T> {
        match self.try_get_arc() {
            Ok(value) => value,
            Err(err) => panic!("{err}"),
        }
    }

    /// The shared value of the variable in the current context, or its
    /// default, or a [`LookupError`].
    ///
    /// # Errors
    ///
    /// [`LookupError`] if the variable has no value in the current context and
    /// no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<String> = ContextVar::new("v");
    /// assert!(V.try_get_arc().is_err());
    /// V.set("x".into());
    /// assert_eq!(*V.try_get_arc().unwrap(), "x");
    /// ```
    #[inline]
    pub fn try_get_arc(&self) -> Result<Arc<T>, LookupError> {
        match self.get_opt_arc() {
            Some(value) => Ok(value),
            None => self
                .default_arc()
                .ok_or_else(|| LookupError::here(self.name)),
        }
    }

    /// The shared value of the variable in the current context, else
    /// `default`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<String> = ContextVar::with_default("v", || "own".into());
    /// assert_eq!(*V.get_or_arc(Arc::new("call site".into())), "call site");
    /// ```
    #[inline]
    pub fn get_or_arc(&self, default: Arc<T>) -> Arc<T> {
        self.get_opt_arc().unwrap_or(default)
    }

    /// The shared value of the variable in the current context, if it has
    /// one, ignoring the variable's default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<String> = ContextVar::with_default("v", || "own".into());
    /// assert_eq!(V.get_opt_arc(), None);
    /// V.set("x".into());
    /// assert_eq!(V.get_opt_arc().as_deref().map(String::as_str), Some("x"));
    /// ```
    #[inline]
    pub fn get_opt_arc(&self) -> Option<Arc<T>> {
        if Binding::is_inline::<T>() {
            return current::get(self.id()).map(|binding| downcast(binding.into_value()));
        }
        let held = current::peek(self.id(), |binding| binding.map(Binding::hold::<T>))?;
        Some(held.into_shared().unwrap_or_else(|| not_its_type()))
    }

    /// Calls `f` with a reference to the variable's value in the current
    /// context, if it has one (ignoring the default).
    #[inline]
    fn with_opt<R>(&self, f: impl FnOnce(&T) -> R) -> Option<R> {
        // Hold the value (a copy, or a reference count), not the map, so
        // that `f` can write to the current context (see `current`).
        let held = current::peek(self.id(), |binding| binding.map(Binding::hold::<T>))?;
        Some(f(held_ref(&held)))
    }

    /// Calls `f` with a reference to the variable's value (or default) in
    /// the current context, without cloning the value: a primitive stored
    /// inline is copied, a shared value's reference count is held while `f`
    /// runs.
    ///
    /// `f` may freely read and write context variables and enter contexts;
    /// the reference it got stays valid.
    ///
    /// # Panics
    ///
    /// Panics with the [`LookupError`] message if the variable has neither a
    /// value nor a default; see [`try_with`](ContextVar::try_with). Panics
    /// from `f` propagate.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static NAME: ContextVar<String> = ContextVar::new("name");
    /// NAME.set("Ada".into());
    /// assert_eq!(NAME.with(|name| name.len()), 3);
    /// ```
    #[track_caller]
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(err) => panic!("{err}"),
        }
    }

    /// Calls `f` with a reference to the variable's value (or default) in
    /// the current context, or returns a [`LookupError`] without calling it.
    ///
    /// # Errors
    ///
    /// [`LookupError`] if the variable has no value in the current context and
    /// no default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static N: ContextVar<u64> = ContextVar::new("n");
    /// assert!(N.try_with(|n| *n).is_err());
    /// N.set(5);
    /// assert_eq!(N.try_with(|n| *n * 2), Ok(10));
    /// ```
    #[inline]
    pub fn try_with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, LookupError> {
        if let Some(held) = current::peek(self.id(), |binding| binding.map(Binding::hold::<T>)) {
            // Held across `f` (see `with_opt`).
            return Ok(f(held_ref(&held)));
        }
        match self.default_ref() {
            Some(default) => Ok(f(default)),
            None => Err(LookupError::here(self.name)),
        }
    }

    /// Sets the variable's value in the current context and returns a
    /// [`Token`] that can restore the previous value with
    /// [`reset`](ContextVar::reset).
    ///
    /// Python: `var.set(value)`.
    ///
    /// The previous value, if any, is kept alive by the token. During thread
    /// shutdown, after the thread-local storage is gone, the value is
    /// discarded (see [`docs::limitations`](crate::docs::limitations)).
    ///
    /// # Panics
    ///
    /// Panics, with the variable's name and the [`SetError`] message (which
    /// names the likely causes and their fixes), when called in async code
    /// that has no context of its own, where the value would leak into other
    /// tasks: a tokio task spawned without a context, or the future given to
    /// `block_on` (with the `tokio` feature, on whenever `contextvars-tokio`
    /// or `contextvars-tower` is linked; for other runtimes once their
    /// integration registers a [task probe](crate::runtime::set_task_probe)).
    /// See [`try_set`](ContextVar::try_set), and
    /// [`scope_async`](ContextVar::scope_async), which works there.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let token = V.set(1);
    /// assert_eq!(token.old_value(), None); // Python's Token.MISSING
    /// let token2 = V.set(2);
    /// assert_eq!(token2.old_value(), Some(&1));
    /// ```
    #[track_caller]
    pub fn set(&self, value: T) -> Token<T> {
        self.set_checked(Binding::new(self.key(), value))
    }

    /// Like [`set`](ContextVar::set), but returns an error instead of
    /// panicking when the value cannot be set.
    ///
    /// # Errors
    ///
    /// [`SetError::NoTaskContext`] when called in an async task that has no
    /// context of its own. The value is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let token = V.try_set(1).unwrap();
    /// assert_eq!(token.old_value(), None);
    /// ```
    pub fn try_set(&self, value: T) -> Result<Token<T>, SetError> {
        if probe::in_task_without_context() {
            return Err(SetError::NoTaskContext);
        }
        Ok(self.set_unchecked(Binding::new(self.key(), value)))
    }

    /// Like [`set`](ContextVar::set), for a value that is already shared.
    ///
    /// A value of one of the primitive types stored inline (integers, floats,
    /// `bool`, `char`, `()`) is copied out of the `Arc`, as every value of its
    /// type is stored.
    ///
    /// # Panics
    ///
    /// As [`set`](ContextVar::set).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use contextvars::ContextVar;
    ///
    /// static CONFIG: ContextVar<Vec<u8>> = ContextVar::new("config");
    /// let shared = Arc::new(vec![1, 2, 3]);
    /// CONFIG.set_arc(shared.clone());
    /// assert!(Arc::ptr_eq(&CONFIG.get_arc(), &shared));
    /// ```
    #[track_caller]
    pub fn set_arc(&self, value: Arc<T>) -> Token<T> {
        self.set_checked(Binding::shared(self.key(), value))
    }

    /// Sets `binding`, a binding of this variable, unless the calling code
    /// may not write to the current context; then panics (see `set`).
    #[inline]
    #[track_caller]
    fn set_checked(&self, binding: Binding) -> Token<T> {
        if probe::in_task_without_context() {
            refused(self.name);
        }
        self.set_unchecked(binding)
    }

    #[inline]
    fn set_unchecked(&self, binding: Binding) -> Token<T> {
        let key = binding.key();
        let mut old = None;
        // After teardown the value is discarded, and the token belongs to no
        // context.
        let ctx_id = current::update(|map, ctx_id| {
            old = map.insert(binding);
            ctx_id
        })
        .unwrap_or(current::TORN_DOWN);
        Token::new(key, self.default, ctx_id, old)
    }

    /// Restores the variable to its value before the [`set`](ContextVar::set)
    /// that created `token`, or unsets it if it had no value then.
    ///
    /// Python: `var.reset(token)`.
    ///
    /// # Errors
    ///
    /// The checks run in CPython's order; the first that fails is returned
    /// and nothing changes:
    ///
    /// 1. [`ResetError::AlreadyUsed`]: the token was already used.
    /// 2. [`ResetError::WrongVar`]: the token was created by another variable.
    /// 3. [`ResetError::WrongContext`]: the token was created in a context
    ///    other than the current one.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{ContextVar, ResetError};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    /// let t1 = V.set(1);
    /// let t2 = V.set(2);
    /// V.reset(&t2).unwrap();
    /// assert_eq!(V.get(), 1);
    /// V.reset(&t1).unwrap();
    /// assert!(V.try_get().is_err());
    /// assert_eq!(V.reset(&t1), Err(ResetError::AlreadyUsed));
    /// ```
    pub fn reset(&self, token: &Token<T>) -> Result<(), ResetError> {
        token.reset_with(self.key(), Binding::clone_as::<T>)
    }

    /// Sets the variable to `value` while `f` runs, then restores it, even if
    /// `f` panics.
    ///
    /// This is `with var.set(value): f()` (Python 3.14), in closure form.
    /// For the guard form see [`Token::into_guard`]; for a future,
    /// [`scope_async`](ContextVar::scope_async).
    ///
    /// Unlike [`set`](ContextVar::set), a scope also works in async code
    /// without a context of its own (a tokio task spawned without one): the
    /// value is bound only while `f` runs, when nothing else runs on the
    /// thread, so no other task can see it.
    ///
    /// # Panics
    ///
    /// Panics from `f` propagate after the variable is restored.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static DEPTH: ContextVar<u32> = ContextVar::with_default("depth", || 0);
    /// let inner = DEPTH.scope(1, || DEPTH.get());
    /// assert_eq!(inner, 1);
    /// assert_eq!(DEPTH.get(), 0);
    /// ```
    pub fn scope<R>(&self, value: T, f: impl FnOnce() -> R) -> R {
        let _scope = scope::Entered::new(Binding::new(self.key(), value));
        f()
    }

    /// A future that runs `future` with the variable set to `value`: Python's
    /// `with var.set(value):` around code that `await`s.
    ///
    /// The value is bound only while `future` is polled, and the previous
    /// value is back whenever it is not: between polls, after it completes,
    /// and after it is dropped mid-await (its destructors still see the
    /// value). Other futures polled on the same thread, including the other
    /// branches of a `join!` or `select!`, never see it. `set`s of this
    /// variable inside `future` stay in the scope across its `.await`s;
    /// `set`s of other variables land in the context `future` runs in, as in
    /// Python's `with` block.
    ///
    /// This works in any async code, including tokio tasks without a context
    /// of their own, where [`set`](ContextVar::set) is refused: a middleware
    /// that runs outside a request-context layer can still hand a value to
    /// the service it wraps, with `USER.scope_async(user, next.run(request))`.
    /// Work spawned inside the scope with a copy of the context
    /// (`contextvars_tokio::spawn`) inherits the value.
    ///
    /// # Panics
    ///
    /// The returned future panics if polled after completion.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static USER: ContextVar<String> = ContextVar::new("user");
    ///
    /// async fn handler() -> String {
    ///     tokio::task::yield_now().await;
    ///     format!("hello {}", USER.get())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Works in any task, even one spawned without a context.
    /// let reply = tokio::spawn(USER.scope_async("ada".to_string(), handler()))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(reply, "hello ada");
    /// assert!(USER.try_get().is_err()); // nothing left behind
    /// # }
    /// ```
    pub fn scope_async<F: Future>(&self, value: T, future: F) -> Scoped<F> {
        let key = self.key();
        Scoped::new(future, key, Binding::new(key, value))
    }

    /// The shared default, made on first use.
    fn default_cell(&self) -> Option<&Arc<T>> {
        let default = self.default?;
        Some(self.default_value.get_or_init(|| Arc::new(default())))
    }

    fn default_arc(&self) -> Option<Arc<T>> {
        self.default_cell().cloned()
    }

    fn default_ref(&self) -> Option<&T> {
        self.default_cell().map(|value| &**value)
    }
}

/// Panics for a refused `set` of variable `name`.
#[cold]
#[track_caller]
fn refused(name: &'static str) -> ! {
    panic!("<ContextVar name='{name}'>: {}", SetError::NoTaskContext)
}

/// Builds a [`ContextVar`] in a `const` context, with the options that
/// [`ContextVar::new`] and [`ContextVar::with_default`] do not offer.
///
/// Made by [`ContextVar::builder`].
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static BUDGET_MS: ContextVar<u64> = ContextVar::builder("budget_ms")
///     .default(|| 1_000)
///     .not_inherited()
///     .build();
/// assert_eq!(BUDGET_MS.get(), 1_000);
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct VarBuilder<T> {
    name: &'static str,
    default: Option<fn() -> T>,
    inherited: bool,
    propagation: Option<Codec>,
}

impl<T> VarBuilder<T> {
    /// Gives the variable a default, as [`ContextVar::with_default`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::builder("v").default(|| 3).build();
    /// assert_eq!(V.get(), 3);
    /// ```
    pub const fn default(self, default: fn() -> T) -> Self {
        VarBuilder {
            name: self.name,
            default: Some(default),
            inherited: self.inherited,
            propagation: self.propagation,
        }
    }

    /// Makes the variable not inherited: tasks and threads spawned with a
    /// copy of the current context ([`child_context`](crate::child_context))
    /// start without its value.
    ///
    /// For values that must stay with the work that set them: a database
    /// transaction, a "suppress instrumentation" flag, a per-request budget.
    /// [`copy_context`](crate::copy_context) and
    /// [`Context::copy`](crate::Context::copy) still copy it: they are
    /// Python's snapshots, not spawns.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static TRANSACTION: ContextVar<u64> = ContextVar::builder("transaction").not_inherited().build();
    /// static REQUEST: ContextVar<u64> = ContextVar::new("request");
    ///
    /// TRANSACTION.set(1);
    /// REQUEST.set(2);
    /// let (tx, request) = contextvars::thread::spawn(|| (TRANSACTION.get_opt(), REQUEST.get_opt()))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(tx, None);
    /// assert_eq!(request, Some(2));
    /// ```
    pub const fn not_inherited(self) -> Self {
        VarBuilder {
            name: self.name,
            default: self.default,
            inherited: false,
            propagation: self.propagation,
        }
    }

    const_fn_unless_loom! {
        /// Builds the variable.
        ///
        /// # Examples
        ///
        /// ```
        /// use contextvars::ContextVar;
        ///
        /// static V: ContextVar<u8> = ContextVar::builder("v").build();
        /// assert_eq!(V.name(), "v");
        /// ```
        pub fn build(self) -> ContextVar<T> {
            ContextVar {
                name: self.name,
                inherited: self.inherited,
                id: LazyId::new(),
                default: self.default,
                default_value: OnceLock::new(),
                propagation: self.propagation,
                _marker: PhantomData,
            }
        }
    }
}

impl<T> VarBuilder<T>
where
    T: fmt::Display + FromStr + Send + Sync + fmt::Debug + 'static,
{
    /// Lets the variable cross process boundaries: its value, written with
    /// `Display` and read back with `FromStr`, travels in W3C `baggage`
    /// under the variable's name. Off unless asked for.
    ///
    /// This only marks the variable. Outbound, the propagating layers of
    /// `contextvars-tower` and `contextvars-tonic` (and their carriers'
    /// `inject`) write every propagated variable that has a value in the
    /// current context ([`propagation::current_values`]); inbound, a
    /// server binds it only if its name is on the server's allow-list
    /// ([`propagation::AllowList::accept`]), after decoding and checking
    /// the value. See [`propagation`] for the rules.
    ///
    /// The name is the baggage key: choose one that other services agree
    /// on, and that no other propagated variable of the process uses.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{propagation, Context, ContextVar};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    /// static ATTEMPT: ContextVar<u32> = ContextVar::builder("attempt").propagate().build();
    /// static LOCAL: ContextVar<u32> = ContextVar::new("local");
    ///
    /// assert!(TENANT.is_propagated());
    /// let sent = Context::new().run(|| {
    ///     TENANT.set("acme".to_string());
    ///     ATTEMPT.set(2);
    ///     LOCAL.set(7); // not propagated: stays in the process
    ///     propagation::current_values()
    /// });
    /// assert_eq!(sent, [("tenant", "acme".to_string()), ("attempt", "2".to_string())]);
    /// ```
    pub const fn propagate(self) -> Self {
        VarBuilder {
            name: self.name,
            default: self.default,
            inherited: self.inherited,
            propagation: Some(Codec::of::<T>()),
        }
    }
}

/// Recovers the typed value of a binding made by a `ContextVar<T>`.
pub(crate) fn downcast<T: Send + Sync + 'static>(value: Arc<dyn Any + Send + Sync>) -> Arc<T> {
    value.downcast::<T>().unwrap_or_else(|_| not_its_type())
}

fn held_ref<T: 'static>(held: &Held) -> &T {
    held.get::<T>().unwrap_or_else(|| not_its_type())
}

/// The panic of a binding that is not of its variable's type, which no
/// public API can make: kept out of line, so that the reads it guards stay
/// small enough to be inlined.
#[cold]
#[inline(never)]
fn not_its_type() -> ! {
    unreachable!("a variable's id is only ever bound to its own type")
}

impl<T: fmt::Debug + Send + Sync + 'static> fmt::Debug for ContextVar<T> {
    /// Shows the name, and the default if there is one, as Python's repr does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ContextVar");
        s.field("name", &self.name);
        if let Some(default) = self.default_ref() {
            s.field("default", default);
        }
        s.finish_non_exhaustive()
    }
}

impl VarKey {
    /// Whether this is the key of `var`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let token = V.set(1);
    /// assert!(token.var().is(&V));
    /// ```
    pub fn is<T>(&self, var: &ContextVar<T>) -> bool {
        self.id() == var.id()
    }
}
