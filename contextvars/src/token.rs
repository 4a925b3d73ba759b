//! Tokens returned by [`ContextVar::set`], and the guard that resets them.

use std::fmt;
use std::marker::PhantomData;

use crate::binding::Binding;
use crate::binding::VarKey;
use crate::current;
use crate::error::ResetError;
use crate::sync::{AtomicBool, Ordering};

#[cfg(doc)]
use crate::ContextVar;

/// A record of one [`ContextVar::set`]: the variable, the context it was
/// made in, and the value it replaced.
///
/// Pass it to [`ContextVar::reset`] to undo that `set`, or turn it into a
/// [`TokenGuard`] that does so when dropped. A token can be used once.
///
/// Python: `contextvars.Token`. Python's `Token.MISSING` is `None` here: see
/// [`old_value`](Token::old_value).
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<&str> = ContextVar::new("v");
/// let token = V.set("a");
/// assert!(token.var().is(&V));
/// assert_eq!(token.old_value(), None);
/// assert!(!token.is_used());
/// V.reset(&token).unwrap();
/// assert!(token.is_used());
/// ```
pub struct Token<T> {
    var: VarKey,
    /// The variable's default, for `Debug` (Python's token repr shows the
    /// variable's repr, default included).
    default: Option<fn() -> T>,
    context: u64,
    old: Option<Binding>,
    used: AtomicBool,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Token<T> {
    pub(crate) fn new(
        var: VarKey,
        default: Option<fn() -> T>,
        context: u64,
        old: Option<Binding>,
    ) -> Self {
        Token {
            var,
            default,
            context,
            old,
            used: AtomicBool::new(false),
            _marker: PhantomData,
        }
    }

    /// The variable whose [`set`](ContextVar::set) created this token.
    ///
    /// Python: `Token.var`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert_eq!(V.set(1).var(), V.key());
    /// ```
    pub fn var(&self) -> VarKey {
        self.var
    }

    /// Whether the token has been used by a reset.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let token = V.set(1);
    /// assert!(!token.is_used());
    /// V.reset(&token).unwrap();
    /// assert!(token.is_used());
    /// ```
    pub fn is_used(&self) -> bool {
        self.used.load(Ordering::Acquire)
    }

    /// Makes a guard that resets the variable when dropped.
    ///
    /// This is Python 3.14's `with var.set(value):`. The guard resets on
    /// every exit path, including a panic, and never swallows the panic. For
    /// the closure form see [`ContextVar::scope`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::with_default("v", || 42);
    /// {
    ///     let _guard = V.set(36).into_guard();
    ///     assert_eq!(V.get(), 36);
    /// }
    /// assert_eq!(V.get(), 42);
    /// ```
    pub fn into_guard(self) -> TokenGuard<T> {
        TokenGuard {
            token: Some(self),
            _not_send: PhantomData,
        }
    }

    /// Performs the reset on behalf of the variable `var`.
    pub(crate) fn reset_as(&self, var: VarKey) -> Result<(), ResetError> {
        self.reset_with(var, Binding::clone)
    }

    /// [`reset_as`](Token::reset_as), copying the old binding back into the
    /// context with `clone_old`.
    #[inline]
    pub(crate) fn reset_with(
        &self,
        var: VarKey,
        clone_old: impl FnOnce(&Binding) -> Binding,
    ) -> Result<(), ResetError> {
        if self.is_used() {
            return Err(ResetError::AlreadyUsed);
        }
        if var != self.var {
            return Err(ResetError::WrongVar);
        }
        let mut replaced = None;
        let in_context = current::update(|map, current| {
            if current != self.context {
                return false;
            }
            replaced = match &self.old {
                Some(old) => map.insert(clone_old(old)),
                None => map.remove(var.id()),
            };
            true
        })
        // After teardown only a token made during teardown (which belongs
        // to no context) resets, restoring nothing.
        .unwrap_or(self.context == current::TORN_DOWN);
        if !in_context {
            return Err(ResetError::WrongContext);
        }
        self.used.store(true, Ordering::Release);
        // Dropped here, outside of the thread-local borrow: its `Drop` may
        // read context variables.
        drop(replaced);
        Ok(())
    }

    /// The value the variable had before the `set` that created this token,
    /// or `None` if it had none (Python's `Token.MISSING`).
    ///
    /// Python: `Token.old_value`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert_eq!(V.set(1).old_value(), None);
    /// assert_eq!(V.set(2).old_value(), Some(&1));
    /// ```
    pub fn old_value(&self) -> Option<&T>
    where
        T: 'static,
    {
        self.old.as_ref().map(|b| {
            b.value()
                .downcast_ref::<T>()
                .expect("a token holds its variable's type")
        })
    }
}

impl<T> Token<T> {
    /// Formats the token, with the variable's default if `default` is given.
    fn fmt_with(
        &self,
        f: &mut fmt::Formatter<'_>,
        default: Option<&dyn fmt::Debug>,
    ) -> fmt::Result {
        let mut s = f.debug_struct("Token");
        if self.is_used() {
            s.field("used", &true);
        }
        match default {
            Some(default) => s.field(
                "var",
                &format_args!(
                    "ContextVar {{ name: {:?}, default: {:?}, .. }}",
                    self.var.name(),
                    default
                ),
            ),
            None => s.field("var", &self.var),
        };
        match &self.old {
            Some(old) => s.field("old_value", old.debug_value()),
            None => s.field("old_value", &format_args!("MISSING")),
        };
        s.finish()
    }
}

impl<T: fmt::Debug> fmt::Debug for Token<T> {
    /// Shows the variable (name and default, as the variable's own `Debug`
    /// does), the old value, and, once the token has been used, a `used`
    /// marker, as Python's repr does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.default {
            Some(default) => self.fmt_with(f, Some(&default())),
            None => self.fmt_with(f, None),
        }
    }
}

/// A token's `Debug` without its variable's default, for where `T: Debug`
/// is not known.
struct Untyped<'a, T>(&'a Token<T>);

impl<T> fmt::Debug for Untyped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_with(f, None)
    }
}

/// Resets a variable when dropped: the guard form of a [`Token`].
///
/// Made by [`Token::into_guard`]. This is Python 3.14's `with var.set(value):`
/// block: dropping the guard calls [`ContextVar::reset`] with its token,
/// whether the scope ends normally or by a panic.
///
/// The guard is `!Send`: it must be dropped on the thread, and in the
/// context, where it was made.
///
/// # Panics
///
/// Dropping the guard panics if the reset fails: when the token was already
/// used by an explicit [`ContextVar::reset`] (see [`token`](TokenGuard::token)),
/// or when the guard is dropped in another context than the one it was made
/// in. If the thread is already panicking, or is exiting and its context
/// is already gone (a guard kept in a thread-local), the failure is ignored
/// instead, so that a panic is never turned into an abort. Use
/// [`reset`](TokenGuard::reset) to handle the failure yourself.
///
/// ```compile_fail
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
/// let guard = V.set(1).into_guard();
/// std::thread::spawn(move || drop(guard)); // `TokenGuard` is not `Send`
/// ```
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::with_default("v", || 42);
///
/// let result = std::panic::catch_unwind(|| {
///     let _guard = V.set(36).into_guard();
///     V.set(24); // undone as well: the guard restores the value from before its own set
///     panic!("boom");
/// });
/// assert!(result.is_err());
/// assert_eq!(V.get(), 42);
/// ```
#[must_use = "dropping the guard immediately resets the variable"]
pub struct TokenGuard<T> {
    /// Always `Some` until `reset` or `drop` takes it.
    token: Option<Token<T>>,
    _not_send: PhantomData<*const ()>,
}

impl<T> TokenGuard<T> {
    /// The guard's token, e.g. to read its old value or to reset explicitly.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let guard = V.set(1).into_guard();
    /// assert_eq!(guard.token().old_value(), None);
    /// ```
    pub fn token(&self) -> &Token<T> {
        self.token.as_ref().expect("present until reset or drop")
    }

    /// Resets the variable now and returns the outcome instead of panicking.
    ///
    /// # Errors
    ///
    /// As [`ContextVar::reset`]: [`ResetError::AlreadyUsed`] if the token was
    /// already used, [`ResetError::WrongContext`] if the current context is
    /// not the one the guard was made in.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{ContextVar, ResetError};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let guard = V.set(1).into_guard();
    /// V.reset(guard.token()).unwrap();
    /// assert_eq!(guard.reset(), Err(ResetError::AlreadyUsed));
    /// ```
    pub fn reset(mut self) -> Result<(), ResetError> {
        let token = self.token.take().expect("present until reset or drop");
        token.reset_as(token.var)
    }
}

impl<T> Drop for TokenGuard<T> {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Err(err) = token.reset_as(token.var) {
            // Never turn a panic into an abort: not while unwinding, and not
            // in a thread-local destructor at thread exit, after the
            // thread's context is gone (there is nothing left to restore).
            if !std::thread::panicking() && current::is_alive() {
                panic!("{:?}: {err}", Untyped(&token));
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for TokenGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuard")
            .field("token", &self.token)
            .finish()
    }
}
