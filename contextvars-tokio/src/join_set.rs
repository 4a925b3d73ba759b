//! A [`tokio::task::JoinSet`] whose tasks run in copies of the spawner's
//! context.

use std::future::Future;
use std::ops::{Deref, DerefMut};

use contextvars::runtime::Task;
use contextvars::{child_context, ContextHandle, FutureExt};
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, LocalSet};

/// A [`tokio::task::JoinSet`] whose spawn methods run each task in a copy of
/// the current context, taken at spawn time: asyncio's `TaskGroup`.
///
/// It dereferences to the tokio `JoinSet`, so everything else (`join_next`,
/// `abort_all`, `len`, `shutdown`, …) is tokio's. Spawning through the tokio
/// set directly (for example its `build_task`) does not copy the context.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static WORKER: ContextVar<u32> = ContextVar::new("worker");
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # contextvars_tokio::root(async {
/// let mut set = contextvars_tokio::JoinSet::new();
/// for i in 0..3 {
///     WORKER.set(i);
///     set.spawn(async {
///         let mine = WORKER.get();
///         tokio::task::yield_now().await;
///         assert_eq!(WORKER.get(), mine);
///         mine
///     });
/// }
/// let mut seen: Vec<u32> = set.join_all().await;
/// seen.sort();
/// assert_eq!(seen, [0, 1, 2]);
/// # }).await;
/// # }
/// ```
#[derive(Debug)]
pub struct JoinSet<T> {
    inner: tokio::task::JoinSet<T>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = contextvars_tokio::JoinSet::<()>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        JoinSet {
            inner: tokio::task::JoinSet::new(),
        }
    }

    /// The tokio `JoinSet`.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = contextvars_tokio::JoinSet::<()>::new();
    /// let tokio_set: tokio::task::JoinSet<()> = set.into_inner();
    /// assert!(tokio_set.is_empty());
    /// ```
    pub fn into_inner(self) -> tokio::task::JoinSet<T> {
        self.inner
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `task` in a copy of the current context.
    ///
    /// # Panics
    ///
    /// As [`tokio::task::JoinSet::spawn`]: panics outside of a tokio runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn(async { 1 });
    /// assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        // Through the handle, as `crate::spawn` does: fewer copies of the
        // task than `tokio::task::JoinSet::spawn` makes.
        self.inner
            .spawn_on(Task::new(task), &tokio::runtime::Handle::current())
    }

    /// Spawns `task` in `ctx` (see [`spawn_with_context`](crate::spawn_with_context)).
    ///
    /// # Panics
    ///
    /// As [`tokio::task::JoinSet::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn_with_context(async { V.try_get().is_err() }, Context::new());
    /// assert!(set.join_next().await.unwrap().unwrap());
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_with_context<F>(&mut self, task: F, ctx: impl Into<ContextHandle>) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.inner.spawn(task.with_context(ctx).task_root())
    }

    /// Spawns `task` on `handle`'s runtime, in a copy of the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn_on(async { 2 }, rt.handle());
    /// assert_eq!(rt.block_on(set.join_next()).unwrap().unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&mut self, task: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        self.inner.spawn_on(Task::new(task), handle)
    }

    /// Spawns a `!Send` `task` on the current `LocalSet`, in a copy of the
    /// current context.
    ///
    /// # Panics
    ///
    /// As [`tokio::task::JoinSet::spawn_local`]: panics outside of a `LocalSet`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let local = tokio::task::LocalSet::new();
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// local.run_until(async {
    ///     set.spawn_local(async { std::rc::Rc::new(3) });
    ///     assert_eq!(*set.join_next().await.unwrap().unwrap(), 3);
    /// }).await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.inner.spawn_local(Task::new(task))
    }

    /// Spawns a `!Send` `task` on `local_set`, in a copy of the current
    /// context.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let local = tokio::task::LocalSet::new();
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn_local_on(async { 4 }, &local);
    /// local.run_until(async {
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 4);
    /// }).await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_local_on<F>(&mut self, task: F, local_set: &LocalSet) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.inner.spawn_local_on(Task::new(task), local_set)
    }

    /// Runs the blocking function `f` on the blocking pool, in a copy of the
    /// current context.
    ///
    /// # Panics
    ///
    /// As [`tokio::task::JoinSet::spawn_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # contextvars_tokio::root(async {
    /// V.set(5);
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn_blocking(|| V.get());
    /// assert_eq!(set.join_next().await.unwrap().unwrap(), 5);
    /// # }).await;
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.inner.spawn_blocking(child_context().wrap(f))
    }

    /// Runs the blocking function `f` on the blocking pool of `handle`'s
    /// runtime, in a copy of the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn_blocking_on(|| 6, rt.handle());
    /// assert_eq!(rt.block_on(set.join_next()).unwrap().unwrap(), 6);
    /// ```
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send,
    {
        self.inner
            .spawn_blocking_on(child_context().wrap(f), handle)
    }
}

impl<T: 'static> JoinSet<T> {
    /// Awaits every task and returns their outputs, in completion order, as
    /// [`tokio::task::JoinSet::join_all`].
    ///
    /// # Panics
    ///
    /// Resumes the panic of any task that panicked, after aborting the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut set = contextvars_tokio::JoinSet::new();
    /// set.spawn(async { 7 });
    /// assert_eq!(set.join_all().await, [7]);
    /// # }
    /// ```
    pub async fn join_all(self) -> Vec<T> {
        self.inner.join_all().await
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> Deref for JoinSet<T> {
    type Target = tokio::task::JoinSet<T>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<T> DerefMut for JoinSet<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<T> From<JoinSet<T>> for tokio::task::JoinSet<T> {
    fn from(set: JoinSet<T>) -> Self {
        set.into_inner()
    }
}
