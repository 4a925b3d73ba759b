//! Hooks for async-runtime integrations.
//!
//! An async runtime polls many tasks on one worker thread. A task whose
//! future runs in its own [`Context`] (see [`WithContext`](crate::WithContext))
//! is isolated from the others; a task spawned without one runs in the worker
//! thread's own context, which every such task shares. This module lets a
//! runtime integration such as `contextvars-tokio`:
//!
//! * tell the library how to recognise such a task ([`set_task_probe`]), so
//!   that [`ContextVar::set`](crate::ContextVar::set) refuses to write into the
//!   shared context from it instead of leaking the value into the next task;
//! * enter and exit a task's context from separate callbacks, such as a
//!   runtime's before-poll and after-poll hooks ([`enter`]).
//!
//! Applications do not need this module.

use std::sync::OnceLock;

use crate::context::Context;
use crate::current;
use crate::error::EnterError;

static TASK_PROBE: OnceLock<fn() -> bool> = OnceLock::new();

/// Registers `probe`, which tells whether the calling thread is currently
/// running an async task.
///
/// From then on, [`ContextVar::set`](crate::ContextVar::set) called in a task
/// that runs in its thread's own context (no [`Context`] entered) panics, and
/// [`ContextVar::try_set`](crate::ContextVar::try_set) returns
/// [`SetError::NoTaskContext`](crate::SetError::NoTaskContext). Reading
/// still works and sees the thread's context, which such tasks can then never
/// have written to.
///
/// Only the first registration takes effect; returns whether this one did.
///
/// # Examples
///
/// ```
/// fn in_task() -> bool {
///     false // e.g. `tokio::task::try_id().is_some()`
/// }
/// contextvars::runtime::set_task_probe(in_task);
/// ```
pub fn set_task_probe(probe: fn() -> bool) -> bool {
    TASK_PROBE.set(probe).is_ok()
}

/// Whether a `set` here would write into a worker thread's shared context
/// from inside a task.
pub(crate) fn in_task_without_context() -> bool {
    match TASK_PROBE.get() {
        Some(probe) => current::in_base_context() && probe(),
        None => false,
    }
}

/// A context entered by [`enter`], to be exited with [`Entered::exit`].
///
/// Not `Send`: it must be exited on the thread that entered it, and contexts
/// must be exited in the reverse order of entry.
///
/// # Examples
///
/// ```
/// use contextvars::{runtime, Context, ContextVar};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// // A before-poll hook enters, the after-poll hook exits.
/// let mut stack = Vec::new();
/// stack.push(runtime::enter(Context::new()).unwrap());
/// V.set(9);
/// let ctx = stack.pop().unwrap().exit();
/// assert_eq!(ctx.get(&V).as_deref(), Some(&9));
/// assert!(V.try_get().is_err());
/// ```
#[derive(Debug)]
#[must_use = "a context entered with `runtime::enter` stays current until `exit` is called"]
pub struct Entered {
    /// `None` once exited.
    ctx: Option<Context>,
    entered: Option<current::Entered>,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// Makes `ctx` the current context of this thread until [`Entered::exit`].
///
/// Unlike [`Context::run`] this is not scoped: it is meant for callbacks such
/// as a runtime's before-poll hook, with the matching `exit` in the
/// after-poll hook. Dropping the returned value exits too.
///
/// # Errors
///
/// [`EnterError::ThreadShuttingDown`] (with the context handed back) if the
/// thread's local storage has been destroyed.
///
/// # Examples
///
/// ```
/// use contextvars::{runtime, Context, ContextVar};
///
/// static V: ContextVar<u8> = ContextVar::new("v");
///
/// let entered = runtime::enter(Context::new()).unwrap();
/// V.set(1);
/// let ctx = entered.exit();
/// assert!(V.try_get().is_err());
/// assert_eq!(ctx.get(&V).as_deref(), Some(&1));
/// ```
pub fn enter(mut ctx: Context) -> Result<Entered, (EnterError, Context)> {
    match ctx.enter_mut() {
        Ok(entered) => Ok(Entered {
            ctx: Some(ctx),
            entered: Some(entered),
            _not_send: std::marker::PhantomData,
        }),
        Err(err) => Err((err, ctx)),
    }
}

impl Entered {
    /// Restores the previous context and returns this one, with the changes
    /// made while it was current.
    ///
    /// # Panics
    ///
    /// Panics if a context entered after this one is still entered (exits
    /// must be in the reverse order of entries). Before panicking it exits
    /// those contexts too, discarding their changes, so the thread is back in
    /// the context that was current before this one; their own exits later
    /// do nothing. The same holds when a scoped [`Context::run`] ends while a
    /// context entered inside it with [`enter`] is still entered. Dropping an
    /// `Entered` out of order panics the same way, unless the thread is
    /// already panicking.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{runtime, Context};
    ///
    /// let ctx = runtime::enter(Context::new()).unwrap().exit();
    /// assert!(ctx.is_empty());
    /// ```
    pub fn exit(mut self) -> Context {
        self.exit_in_place().expect("exited only once")
    }

    fn exit_in_place(&mut self) -> Option<Context> {
        let mut ctx = self.ctx.take()?;
        if let Some(entered) = self.entered.take() {
            ctx.exit_mut(entered);
        }
        Some(ctx)
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        self.exit_in_place();
    }
}
