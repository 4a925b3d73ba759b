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
    in_task_without_context: bool,
}

impl LookupError {
    /// The error for variable `name`, read where the calling code runs now.
    #[cold]
    pub(crate) fn here(name: &'static str) -> Self {
        LookupError {
            name,
            in_task_without_context: crate::probe::in_task_without_context(),
        }
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

    /// Whether the variable was read in async code that has no context of
    /// its own (see [`SetError::NoTaskContext`]): then the message also
    /// names the likely causes, since such code sees no task's or request's
    /// values at all.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert!(!V.try_get().unwrap_err().in_task_without_context());
    /// ```
    pub fn in_task_without_context(&self) -> bool {
        self.in_task_without_context
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<ContextVar name='{}'> has no value in the current context",
            self.name
        )?;
        if self.in_task_without_context {
            write!(
                f,
                ": this code runs in tokio without a context of its own, where no \
                 request's or task's values are visible. {CAUSES}"
            )?;
        }
        Ok(())
    }
}

/// The usual reasons for async code to run without a context of its own,
/// each with its fix: part of the messages of [`SetError::NoTaskContext`]
/// and of a [`LookupError`] raised in such code.
const CAUSES: &str = "Likely causes and fixes: \
    (1) a middleware that runs outside `RequestContextLayer` (in axum the last \
    `.layer()` call is the outermost one): add `RequestContextLayer` after every \
    other layer, or serve the app with `contextvars_tower::serve`, which puts it \
    outermost; a middleware can also bind a value for the inner service only, \
    with `VAR.scope_async(value, next.run(request))`; \
    (2) a plain `tokio::spawn`: use `contextvars_tokio::spawn`, or spawn \
    `future.with_current_context()`; \
    (3) a plain `tokio::task::spawn_blocking`: use `contextvars_tokio::spawn_blocking`; \
    (4) the body of `#[tokio::main]`, `block_on` or `LocalSet::run_until`: \
    wrap it with `contextvars_tokio::root`.";

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
    /// The calling code is async code that has no context of its own: a
    /// tokio task spawned without one (hyper's and axum's connection tasks,
    /// a plain `tokio::spawn` or `spawn_blocking`), or the future given to
    /// `block_on` (the body of `#[tokio::main]`) or `LocalSet::run_until`.
    /// It runs in the thread's context, which every such task polled on the
    /// thread shares, so a value set there would be seen by other tasks and
    /// requests. The message names the usual causes and their fixes.
    NoTaskContext,
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::NoTaskContext => write!(
                f,
                "cannot set a ContextVar here: this code runs in tokio without a context \
                 of its own, where the value would be seen by the next task or request \
                 polled on this thread. {CAUSES}"
            ),
        }
    }
}

impl Error for SetError {}
