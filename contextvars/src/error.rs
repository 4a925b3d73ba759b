//! Error types.
//!
//! Each fallible operation has its own error type, so that a caller can tell
//! exactly what went wrong, as CPython does with `LookupError`, `ValueError`
//! and `RuntimeError`.

use std::error::Error;
use std::fmt;

/// A [`ContextVar`](crate::ContextVar) has no value in the current context and
/// no default.
///
/// This is Python's `LookupError` raised by `ContextVar.get()`. The message
/// names the variable.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<String> = ContextVar::new("user");
///
/// let err = USER.try_get().unwrap_err();
/// assert_eq!(err.name(), "user");
/// assert_eq!(err.to_string(), "<ContextVar name='user'> has no value in the current context");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LookupError {
    name: &'static str,
}

impl LookupError {
    pub(crate) fn new(name: &'static str) -> Self {
        LookupError { name }
    }

    /// The name of the variable that had no value.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert_eq!(V.try_get().unwrap_err().name(), "v");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<ContextVar name='{}'> has no value in the current context",
            self.name
        )
    }
}

impl Error for LookupError {}

/// Why [`ContextVar::reset`](crate::ContextVar::reset) refused a [`Token`](crate::Token).
///
/// The checks run in CPython's order: first whether the token was already
/// used, then whether it belongs to this variable, then whether it was created
/// in the current context. The first that fails is reported.
///
/// | variant | CPython |
/// |---|---|
/// | [`AlreadyUsed`](ResetError::AlreadyUsed) | `RuntimeError: <Token ...> has already been used once` |
/// | [`WrongVar`](ResetError::WrongVar) | `ValueError: <Token ...> was created by a different ContextVar` |
/// | [`WrongContext`](ResetError::WrongContext) | `ValueError: <Token ...> was created in a different Context` |
///
/// # Examples
///
/// ```
/// use contextvars::{ContextVar, ResetError};
///
/// static A: ContextVar<u32> = ContextVar::new("a");
/// static B: ContextVar<u32> = ContextVar::new("b");
///
/// let token = A.set(1);
/// assert_eq!(B.reset(&token), Err(ResetError::WrongVar));
/// assert_eq!(A.reset(&token), Ok(()));
/// assert_eq!(A.reset(&token), Err(ResetError::AlreadyUsed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetError {
    /// The token was already used to reset its variable. A token is single-use.
    AlreadyUsed,
    /// The token was created by a different variable.
    WrongVar,
    /// The token was created in a different context than the current one.
    WrongContext,
}

impl fmt::Display for ResetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResetError::AlreadyUsed => "token has already been used once",
            ResetError::WrongVar => "token was created by a different ContextVar",
            ResetError::WrongContext => "token was created in a different Context",
        })
    }
}

impl Error for ResetError {}

/// Why [`Context::try_run`](crate::Context::try_run) could not enter a context.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, EnterError};
///
/// let ctx = Context::new();
/// let nested = ctx.run(|| ctx.try_run(|| ()));
/// assert_eq!(nested, Err(EnterError::AlreadyEntered));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnterError {
    /// The context is already entered, on this thread (recursively) or on
    /// another one. This is CPython's `RuntimeError: cannot enter context:
    /// ... is already entered`.
    AlreadyEntered,
    /// The calling thread is shutting down and its thread-local storage has
    /// already been destroyed, so it has no current context to replace.
    ThreadShuttingDown,
}

impl fmt::Display for EnterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnterError::AlreadyEntered => "cannot enter context: it is already entered",
            EnterError::ThreadShuttingDown => {
                "cannot enter context: the thread's local storage has been destroyed"
            }
        })
    }
}

impl Error for EnterError {}

/// Why [`ContextVar::try_set`](crate::ContextVar::try_set) refused to set a
/// variable.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static V: ContextVar<u8> = ContextVar::new("v");
/// // Outside of an async runtime's tasks, setting always works.
/// assert!(V.try_set(1).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SetError {
    /// The calling code is an async task that has no context of its own: it
    /// runs in the worker thread's context, which other such tasks share, so
    /// a value set there would leak into them. Spawn the task with a context
    /// (for example with `contextvars_tokio::spawn`) or wrap its future with
    /// [`FutureExt::with_current_context`](crate::FutureExt::with_current_context).
    NoTaskContext,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetError::NoTaskContext => {
                "cannot set a ContextVar in an async task that has no context of its own \
                 (it would leak into other tasks on this worker thread): spawn the task with \
                 contextvars_tokio::spawn or wrap its future with .with_current_context()"
            }
        })
    }
}

impl Error for SetError {}
