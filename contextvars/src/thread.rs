//! Threads that start in a context: a copy of the spawner's, a given one, or
//! an empty one.
//!
//! A thread started with [`std::thread::spawn`] starts in an empty context,
//! as Python threads do by default. The functions here start it in a copy of
//! the spawner's context instead, taken when the thread is spawned: Python
//! 3.14's `thread_inherit_context`. [`Builder`] chooses explicitly.
//!
//! | Python | here |
//! |---|---|
//! | `Thread(target=f).start()` with `-X thread_inherit_context=1` | [`spawn(f)`](spawn), [`Builder::inherit`] |
//! | `Thread(target=f, context=ctx).start()` | [`Builder::context(ctx)`](Builder::context) |
//! | `Thread(target=f, context=Context()).start()` | [`Builder::empty`], or plain [`std::thread::spawn`] |

use std::io;
use std::sync::Arc;
use std::thread::{JoinHandle, Scope, ScopedJoinHandle};

use crate::context::{child_context, Context};

/// Spawns a thread that runs `f` in a copy of the caller's current context.
///
/// The copy is taken now, before the thread starts: later changes in the
/// caller's context are not seen by the thread, and the thread's changes stay
/// in its copy.
///
/// # Panics
///
/// Panics if the OS fails to create the thread, as [`std::thread::spawn`]
/// does; use [`Builder::spawn`] to handle that error.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// USER.set("ada");
/// let handle = contextvars::thread::spawn(|| {
///     let seen = USER.get();
///     USER.set("bob"); // stays in the thread's copy
///     seen
/// });
/// assert_eq!(handle.join().unwrap(), "ada");
/// assert_eq!(USER.get(), "ada");
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Spawns a scoped thread (see [`std::thread::scope`]) that runs `f` in a
/// copy of the caller's current context.
///
/// # Panics
///
/// Panics if the OS fails to create the thread, as [`Scope::spawn`] does.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// USER.set("ada");
/// std::thread::scope(|s| {
///     let handle = contextvars::thread::spawn_scoped(s, || USER.get());
///     assert_eq!(handle.join().unwrap(), "ada");
/// });
/// ```
pub fn spawn_scoped<'scope, 'env, F, T>(
    scope: &'scope Scope<'scope, 'env>,
    f: F,
) -> ScopedJoinHandle<'scope, T>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    Builder::new()
        .spawn_scoped(scope, f)
        .expect("failed to spawn thread")
}

/// The context a new thread starts in.
#[derive(Debug)]
enum Start {
    Inherit,
    Empty,
    Given(Arc<Context>),
}

/// Configures a new thread, including the context it starts in: a copy of
/// the spawner's (the default), a given [`Context`], or an empty one.
///
/// Wraps [`std::thread::Builder`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use contextvars::{thread::Builder, Context, ContextVar};
///
/// static V: ContextVar<u32> = ContextVar::new("v");
///
/// let ctx = Arc::new(Context::new());
/// ctx.run(|| V.set(1));
/// let handle = Builder::new()
///     .name("worker".into())
///     .context(ctx.clone())
///     .spawn(|| {
///         V.set(V.get() + 1);
///     })
///     .unwrap();
/// handle.join().unwrap();
/// // The thread ran *in* `ctx`, so its change is recorded there.
/// assert_eq!(ctx.get(&V).as_deref(), Some(&2));
/// ```
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
    start: Start,
}

impl Builder {
    /// A builder for a thread that inherits a copy of the spawner's context.
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = contextvars::thread::Builder::new().spawn(|| 1).unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn new() -> Self {
        Builder {
            inner: std::thread::Builder::new(),
            start: Start::Inherit,
        }
    }

    /// Names the thread, as [`std::thread::Builder::name`].
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = contextvars::thread::Builder::new()
    ///     .name("worker".into())
    ///     .spawn(|| std::thread::current().name().map(String::from))
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap().as_deref(), Some("worker"));
    /// ```
    pub fn name(mut self, name: String) -> Self {
        self.inner = self.inner.name(name);
        self
    }

    /// Sets the thread's stack size, as [`std::thread::Builder::stack_size`].
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = contextvars::thread::Builder::new()
    ///     .stack_size(256 * 1024)
    ///     .spawn(|| 1)
    ///     .unwrap();
    /// assert_eq!(handle.join().unwrap(), 1);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Self {
        self.inner = self.inner.stack_size(size);
        self
    }

    /// Starts the thread in a copy of the spawner's context, taken at spawn
    /// time. This is the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{thread::Builder, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let h = Builder::new().inherit().spawn(|| V.get()).unwrap();
    /// assert_eq!(h.join().unwrap(), 1);
    /// ```
    pub fn inherit(mut self) -> Self {
        self.start = Start::Inherit;
        self
    }

    /// Starts the thread in a new, empty context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{thread::Builder, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let h = Builder::new().empty().spawn(|| V.try_get().is_err()).unwrap();
    /// assert!(h.join().unwrap());
    /// ```
    pub fn empty(mut self) -> Self {
        self.start = Start::Empty;
        self
    }

    /// Runs the thread in `context` itself (not a copy): its changes are
    /// recorded in `context`, visible to whoever else holds it.
    ///
    /// # Panics
    ///
    /// The new thread enters `context` as [`Context::run`] does: if the
    /// context is still entered elsewhere when the thread starts, the
    /// thread panics without running `f`, and joining it returns the panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use contextvars::{thread::Builder, Context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// let ctx = Arc::new(Context::new());
    /// Builder::new().context(ctx.clone()).spawn(|| V.set(3)).unwrap().join().unwrap();
    /// assert_eq!(ctx.get(&V).as_deref(), Some(&3));
    /// ```
    pub fn context(mut self, context: impl Into<Arc<Context>>) -> Self {
        self.start = Start::Given(context.into());
        self
    }

    /// Spawns the thread.
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be created, as
    /// [`std::thread::Builder::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// let handle = contextvars::thread::Builder::new().spawn(|| 2 + 2)?;
    /// assert_eq!(handle.join().unwrap(), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let run = self.start.prepare(f);
        self.inner.spawn(run)
    }

    /// Spawns a scoped thread (see [`std::thread::scope`]).
    ///
    /// # Errors
    ///
    /// The OS error if the thread could not be created, as
    /// [`std::thread::Builder::spawn_scoped`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{thread::Builder, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(5);
    /// let mut seen = 0;
    /// std::thread::scope(|s| {
    ///     Builder::new().spawn_scoped(s, || seen = V.get()).unwrap();
    /// });
    /// assert_eq!(seen, 5);
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let run = self.start.prepare(f);
        self.inner.spawn_scoped(scope, run)
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Start {
    /// Takes the snapshot now, on the spawning thread, and returns the body
    /// of the new thread.
    fn prepare<F, T>(self, f: F) -> impl FnOnce() -> T + Send
    where
        F: FnOnce() -> T + Send,
    {
        let start = match self {
            Start::Inherit => Ok(child_context()),
            Start::Empty => Ok(Context::new()),
            Start::Given(context) => Err(context),
        };
        move || match start {
            Ok(mut owned) => owned.run_mut(f),
            Err(shared) => shared.run(f),
        }
    }
}
