//! The root future of a spawned task, in a context it owns.
//!
//! [`WithContext`](crate::WithContext) can own or share its context, hands
//! it out by reference, and remembers which task polls it. A spawn function
//! that copies the spawner's context needs none of that, and every byte the
//! wrapper adds is a byte of the runtime's task allocation (tokio rounds its
//! task cells up to 128 bytes: a wrapper of 64 bytes moves `async {}` from
//! one 128-byte cell to two). [`Task`] keeps the context's id and map only,
//! 16 bytes, and asks the task probe at each poll, which inside a tokio task
//! is one read of tokio's own thread-local.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::context::{child_context, Context};
use crate::current::{self, poll_once_inside};
use crate::map::Map;
use crate::probe;
use crate::stats;

pin_project! {
    /// A task's root future that runs every poll in a context it owns: what
    /// spawn functions hand to their runtime (`contextvars_tokio::spawn`
    /// does), the slim form of
    /// [`fut.with_current_context()`](crate::FutureExt::with_current_context).
    ///
    /// It behaves as a [`WithContext`](crate::WithContext) with an owned
    /// context: every poll runs in the context, the task's `set`s persist
    /// across its `.await`s and are never seen elsewhere, and the future is
    /// dropped inside the context, completed or cancelled. It adds 16 bytes
    /// to the future (the context's id and map), so a small future still
    /// fits tokio's smallest task cell.
    ///
    /// # Panics
    ///
    /// Polling panics if the future already completed, or if the thread's
    /// local storage has been destroyed (thread shutdown).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{runtime::Task, ContextVar};
    ///
    /// static V: ContextVar<u32> = ContextVar::new("v");
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let outer = tokio::spawn(Task::new(async {
    ///     V.set(1);
    ///     // What a spawn function does: the task runs in a copy of this context.
    ///     let inner = tokio::spawn(Task::new(async {
    ///         V.set(V.get() + 1);
    ///         tokio::task::yield_now().await;
    ///         V.get()
    ///     }));
    ///     (inner.await.unwrap(), V.get())
    /// }));
    /// assert_eq!(outer.await.unwrap(), (2, 1));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Task<F> {
        #[pin]
        inner: Option<F>,
        id: u64,
        map: Map,
    }

    impl<F> PinnedDrop for Task<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() && std::mem::needs_drop::<F>() {
                // Destructors of a cancelled task see its context; during
                // thread shutdown the future is dropped outside of it.
                let task = probe::current_task();
                if current::run_entered(this.map, *this.id, task, || inner.set(None)).is_none() {
                    inner.set(None);
                }
            }
            stats::context_dropped();
        }
    }
}

impl<F> Task<F> {
    /// Wraps `inner` to run in a copy of the current context, taken now
    /// ([`child_context`]): the root future of a task spawned like
    /// `asyncio.create_task(coro)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = contextvars::runtime::Task::new(async { 1 });
    /// # drop(task);
    /// ```
    #[inline]
    pub fn new(inner: F) -> Self {
        // The context first, so that `inner` moves once, into the task.
        let (id, map) = child_context().into_parts();
        Task {
            inner: Some(inner),
            id,
            map,
        }
    }

    /// Wraps `inner` to run in `ctx`, which it owns from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{runtime::Task, Context};
    ///
    /// let task = Task::with_context(async { 1 }, Context::new());
    /// # drop(task);
    /// ```
    #[inline]
    pub fn with_context(inner: F, ctx: Context) -> Self {
        let (id, map) = ctx.into_parts();
        Task {
            inner: Some(inner),
            id,
            map,
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let task = probe::current_task();
        let polled = current::run_entered(this.map, *this.id, task, || {
            poll_once_inside(inner.as_mut(), task_cx, "Task")
        });
        match polled {
            Some(poll) => poll,
            None => thread_shutting_down(),
        }
    }
}

#[cold]
fn thread_shutting_down() -> ! {
    panic!("{}", crate::EnterError::ThreadShuttingDown)
}

impl<F> fmt::Debug for Task<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("context", &self.id)
            .field("done", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wrapper adds the context's id and map and nothing else: 16
    /// bytes, plus the tag of the `Option` around the future where the future
    /// has no spare bits for it, so that tokio's task cell for a small future
    /// keeps its size.
    #[test]
    fn adds_two_words() {
        let small = async {};
        assert_eq!(std::mem::size_of_val(&small), 1);
        assert_eq!(std::mem::size_of_val(&Task::new(async {})), 24);
        let word = async {
            let x = 0u64;
            std::future::ready(()).await;
            x
        };
        let size = std::mem::size_of_val(&word);
        assert!(std::mem::size_of_val(&Task::new(word)) <= size + 24);
    }
}
