//! Futures and streams that run in a context of their own.
//!
//! [`WithContext`] is the building block of asyncio-style tasks: it owns a
//! [`Context`] and makes it current during every poll, so a task's `set`s
//! survive its `.await`s and are never seen by other futures polled on the
//! same thread. Spawn helpers built on it (for example in
//! `contextvars-tokio`) copy the spawner's context, as `asyncio.create_task`
//! does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::context::{child_context, Context};
use crate::current::poll_once_inside;
use crate::probe;

/// The context a [`WithContext`] runs in: owned by it, or shared.
///
/// Built with `From`: a [`Context`] is owned by the future, an
/// `Arc<Context>` is shared with whoever else holds it, who can read the
/// future's changes through it (asyncio's `create_task(coro, context=ctx)`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use contextvars::{Context, ContextHandle};
///
/// let owned = ContextHandle::from(Context::new());
/// let shared = ContextHandle::from(Arc::new(Context::new()));
/// assert!(owned.context().is_empty() && shared.context().is_empty());
/// ```
#[derive(Debug)]
pub enum ContextHandle {
    /// A context owned by the future: entered without any synchronization.
    Owned(Context),
    /// A context shared with other owners: entered as [`Context::run`] does.
    Shared(Arc<Context>),
}

impl ContextHandle {
    /// The context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextHandle};
    ///
    /// let handle = ContextHandle::from(Context::new());
    /// assert_eq!(handle.context().len(), 0);
    /// ```
    pub fn context(&self) -> &Context {
        match self {
            ContextHandle::Owned(ctx) => ctx,
            ContextHandle::Shared(ctx) => ctx,
        }
    }

    /// Runs `f` in the context.
    ///
    /// # Panics
    ///
    /// As [`Context::run`]: panics if a shared context is already entered.
    #[track_caller]
    #[inline]
    fn run<R>(&mut self, task: u64, f: impl FnOnce() -> R) -> R {
        match self {
            ContextHandle::Owned(ctx) => ctx.run_mut_for(task, f),
            ContextHandle::Shared(ctx) => ctx.run_for(task, f),
        }
    }

    /// Runs `f` in the context if it can be entered, else outside of it.
    fn run_if_possible(&mut self, task: u64, f: impl FnOnce()) {
        match self {
            ContextHandle::Owned(ctx) => {
                if ctx.can_enter_mut() {
                    ctx.run_mut_for(task, f)
                } else {
                    f()
                }
            }
            ContextHandle::Shared(ctx) => {
                let mut f = Some(f);
                let ran = ctx.try_run_for(task, || (f.take().expect("called once"))());
                if ran.is_err() {
                    (f.take().expect("not called when entering failed"))()
                }
            }
        }
    }
}

impl From<Context> for ContextHandle {
    fn from(ctx: Context) -> Self {
        ContextHandle::Owned(ctx)
    }
}

impl From<Arc<Context>> for ContextHandle {
    fn from(ctx: Arc<Context>) -> Self {
        ContextHandle::Shared(ctx)
    }
}

pin_project! {
    /// A future or stream that runs every poll in its own [`Context`].
    ///
    /// Made by [`FutureExt::with_context`] and
    /// [`FutureExt::with_current_context`]. On every poll the context is made
    /// current on the polling thread and, when the poll returns (or panics),
    /// the thread's previous context is restored. Changes the future makes
    /// are recorded in its context, so they persist across its `.await`s and
    /// never leak to the caller or to other futures polled on the same
    /// thread. The wrapped future is also dropped inside the context, so its
    /// destructors see its values, whether it completed or was cancelled.
    ///
    /// Futures `.await`ed directly by the wrapped future share its context,
    /// as coroutines awaited by an asyncio task do.
    ///
    /// # Panics
    ///
    /// Polling panics if the wrapped future already completed, or if a shared
    /// context ([`ContextHandle::Shared`]) is entered elsewhere at the time
    /// of the poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// use contextvars::{ContextVar, FutureExt};
    ///
    /// static USER: ContextVar<&str> = ContextVar::new("user");
    ///
    /// async fn task() -> &'static str {
    ///     USER.set("task");
    ///     std::future::ready(()).await;
    ///     USER.get() // still "task" after the await
    /// }
    ///
    /// USER.set("caller");
    /// assert_eq!(block_on(task().with_current_context()), "task");
    /// assert_eq!(USER.get(), "caller");
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct WithContext<F> {
        #[pin]
        inner: Option<F>,
        ctx: ContextHandle,
        task: PolledBy,
    }

    impl<F> PinnedDrop for WithContext<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() && std::mem::needs_drop::<F>() {
                // Destructors of a cancelled future see its context. If the
                // context cannot be entered (a shared context entered
                // elsewhere, or thread shutdown), the future is dropped in
                // the current context rather than panicking in `drop`.
                let task = this.task.get();
                this.ctx.run_if_possible(task, || inner.set(None));
            }
        }
    }
}

/// Which async task polls a [`WithContext`], as far as it knows.
#[derive(Debug)]
enum PolledBy {
    /// Any task: ask the task probe at every poll.
    AnyTask,
    /// One task (the future is a task's root future): the probe's answer at
    /// the first poll, once there was one.
    OneTask(Option<u64>),
}

impl PolledBy {
    /// The task polling now.
    #[inline(always)]
    fn get(&mut self) -> u64 {
        match self {
            PolledBy::OneTask(Some(task)) => *task,
            _ => self.ask(),
        }
    }

    /// [`get`](PolledBy::get) when the probe must be asked: at every poll
    /// of a future that is not a task's root, at the first of one that is.
    #[cold]
    #[inline(never)]
    fn ask(&mut self) -> u64 {
        match self {
            PolledBy::AnyTask => probe::current_task(),
            PolledBy::OneTask(known) => *known.insert(probe::current_task()),
        }
    }
}

impl<F> WithContext<F> {
    /// Wraps `inner` to run in `ctx`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, WithContext};
    ///
    /// let fut = WithContext::new(async { 1 }, Context::new());
    /// assert!(fut.context().is_empty());
    /// ```
    pub fn new(inner: F, ctx: impl Into<ContextHandle>) -> Self {
        WithContext {
            inner: Some(inner),
            ctx: ctx.into(),
            task: PolledBy::AnyTask,
        }
    }

    /// Declares this future the root future of a runtime task: polled by that
    /// task only, from its first poll to its drop.
    ///
    /// The context then records the task that enters it (see
    /// [`runtime::set_task_probe`](crate::runtime::set_task_probe)) from the
    /// task probe's answer at the first poll, instead of asking the probe at
    /// every poll. Spawn helpers of runtime integrations use it for the
    /// futures they spawn.
    ///
    /// A future polled by more than one task (moved from one task to another
    /// between polls, or polled by a nested executor's tasks in turn) must not
    /// be marked: its `set`s could be refused, or let through, on the word of
    /// the first task.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, FutureExt};
    ///
    /// // What a spawn helper does before handing the future to its runtime:
    /// let root = async { 1 }.with_context(Context::new()).task_root();
    /// # let _ = root;
    /// ```
    pub fn task_root(mut self) -> Self {
        self.task = PolledBy::OneTask(None);
        self
    }

    /// The context the future runs in, with the changes it made so far.
    ///
    /// Python: `Task.get_context()`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{ContextVar, FutureExt};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let fut = async {}.with_current_context();
    /// assert_eq!(fut.context().get(&V).as_deref(), Some(&1));
    /// ```
    pub fn context(&self) -> &Context {
        self.ctx.context()
    }

    /// The wrapped future.
    ///
    /// # Panics
    ///
    /// Panics if the wrapped future has completed (it is dropped then).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::FutureExt;
    ///
    /// let fut = std::future::ready(5).with_current_context();
    /// let _inner: &std::future::Ready<i32> = fut.inner();
    /// ```
    pub fn inner(&self) -> &F {
        self.inner.as_ref().expect(COMPLETED)
    }

    /// The wrapped future, mutably.
    ///
    /// # Panics
    ///
    /// Panics if the wrapped future has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::FutureExt;
    ///
    /// let mut fut = std::future::ready(5).with_current_context();
    /// let _inner: &mut std::future::Ready<i32> = fut.inner_mut();
    /// ```
    pub fn inner_mut(&mut self) -> &mut F {
        self.inner.as_mut().expect(COMPLETED)
    }

    /// The wrapped future, pinned.
    ///
    /// # Panics
    ///
    /// Panics if the wrapped future has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::FutureExt;
    ///
    /// let mut fut = std::pin::pin!(async { 1 }.with_current_context());
    /// let _inner = fut.as_mut().inner_pin_mut();
    /// ```
    pub fn inner_pin_mut(self: Pin<&mut Self>) -> Pin<&mut F> {
        self.project().inner.as_pin_mut().expect(COMPLETED)
    }

    /// Unwraps the future, dropping the context.
    ///
    /// # Panics
    ///
    /// Panics if the wrapped future has completed.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::FutureExt;
    ///
    /// let fut = std::future::ready(5).with_current_context();
    /// let ready: std::future::Ready<i32> = fut.into_inner();
    /// # drop(ready);
    /// ```
    pub fn into_inner(mut self) -> F {
        self.inner.take().expect(COMPLETED)
    }
}

const COMPLETED: &str = "`WithContext` used after its future completed";

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let task = this.task.get();
        this.ctx.run(task, || {
            poll_once_inside(inner.as_mut(), task_cx, "WithContext")
        })
    }
}

#[cfg(feature = "stream")]
impl<S: futures_core::Stream> futures_core::Stream for WithContext<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let inner = this.inner;
        let task = this.task.get();
        this.ctx.run(task, || {
            inner
                .as_pin_mut()
                .expect("`WithContext` polled after completion")
                .poll_next(task_cx)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.as_ref().map_or((0, Some(0)), |s| s.size_hint())
    }
}

impl<F> fmt::Debug for WithContext<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithContext")
            .field("context", self.context())
            .field("completed", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

/// Runs futures and streams in a context: [`with_context`](FutureExt::with_context)
/// and [`with_current_context`](FutureExt::with_current_context).
///
/// Implemented for every type; the result is a future when the type is a
/// future and a stream when it is a stream.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, FutureExt};
///
/// let task = async { 1 }.with_context(Context::new());
/// let copy = async { 2 }.with_current_context();
/// # drop((task, copy));
/// ```
pub trait FutureExt: Sized {
    /// Runs `self` in `ctx`, as is: every change the future makes is recorded
    /// in `ctx`, and so accumulates across futures that share an
    /// `Arc<Context>` (asyncio's `create_task(coro, context=ctx)`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// use std::sync::Arc;
    /// use contextvars::{Context, ContextVar, FutureExt};
    ///
    /// static HITS: ContextVar<u32> = ContextVar::with_default("hits", || 0);
    ///
    /// let ctx = Arc::new(Context::new());
    /// for _ in 0..3 {
    ///     block_on(async { HITS.set(HITS.get() + 1); }.with_context(ctx.clone()));
    /// }
    /// assert_eq!(ctx.get(&HITS).as_deref(), Some(&3));
    /// ```
    fn with_context(self, ctx: impl Into<ContextHandle>) -> WithContext<Self> {
        WithContext::new(self, ctx)
    }

    /// Runs `self` in a copy of the current context, taken now: asyncio's
    /// `create_task(coro)`. Variables marked
    /// [`not_inherited`](crate::VarBuilder::not_inherited) are left out (see
    /// [`child_context`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #     }
    /// # }
    /// use contextvars::{ContextVar, FutureExt};
    ///
    /// static V: ContextVar<&str> = ContextVar::new("v");
    ///
    /// V.set("before");
    /// let fut = async { V.get() }.with_current_context();
    /// V.set("after");
    /// assert_eq!(block_on(fut), "before");
    /// ```
    fn with_current_context(self) -> WithContext<Self> {
        WithContext::new(self, child_context())
    }
}

impl<T: Sized> FutureExt for T {}
