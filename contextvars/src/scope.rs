//! A value bound to a variable for the length of a call or of a future:
//! Python's `with var.set(value):` around synchronous code, or around
//! `await`s.
//!
//! The binding is swapped into the current context when the scope is entered
//! (for a future: at every poll) and swapped back out when it is left (for a
//! future: when the poll returns), in a `Drop` guard, so that a panic or a
//! cancelled future never leaves it behind. Between two polls the scope's
//! binding lives in the future, where no other code can see it: futures
//! polled on the same thread (other tasks, the other branches of a `join!`)
//! never observe it, and a task without a context of its own can use a scope
//! safely, since nothing else runs on its thread while the scope is entered.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::binding::{Binding, VarKey};
use crate::current::{self, poll_once_inside};

/// Binds `binding` (`None`: unsets) the variable `key` in the current
/// context, and returns what it replaced.
///
/// After teardown nothing changes and the binding is dropped.
fn swap(key: VarKey, binding: Option<Binding>) -> Option<Binding> {
    let id = key.id();
    current::update(move |map, _| match binding {
        Some(binding) => map.insert(binding),
        None => map.remove(id),
    })
    .flatten()
}

/// The binding a scope replaced, put back when the scope is left.
pub(crate) struct Entered<'a> {
    key: VarKey,
    outer: Option<Option<Binding>>,
    /// Where the scope's own binding goes when it is left (its value may
    /// have been changed or unset inside the scope).
    held: Option<&'a mut Option<Binding>>,
}

impl<'a> Entered<'a> {
    /// Enters a scope that binds `binding` to its variable.
    pub(crate) fn new(binding: Binding) -> Entered<'a> {
        let key = binding.key();
        Entered {
            key,
            outer: Some(swap(key, Some(binding))),
            held: None,
        }
    }

    /// Enters the scope of a future, whose binding is kept in `held` between
    /// polls.
    fn resume(key: VarKey, held: &'a mut Option<Binding>) -> Entered<'a> {
        let binding = held.take();
        Entered {
            key,
            outer: Some(swap(key, binding)),
            held: Some(held),
        }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let outer = self.outer.take().expect("left once");
        let inner = swap(self.key, outer);
        match self.held.take() {
            Some(held) => *held = inner,
            // Dropped here, with the context back in order.
            None => drop(inner),
        }
    }
}

pin_project! {
    /// A future that runs with a variable bound to a value: made by
    /// [`ContextVar::scope_async`](crate::ContextVar::scope_async).
    ///
    /// At every poll the value is bound in the current context while the
    /// inner future is polled, then the previous value is put back, so
    /// nothing else ever sees it. The inner future's own changes to the
    /// variable stay in the scope, across `.await`s; its changes to other
    /// variables land in the current context, as code inside Python's
    /// `with var.set(value):` block does. The inner future is dropped inside
    /// the scope too, when it completes or is cancelled.
    ///
    /// # Panics
    ///
    /// Polling after completion panics.
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
    /// use contextvars::ContextVar;
    ///
    /// static USER: ContextVar<&str> = ContextVar::new("user");
    ///
    /// let scoped = USER.scope_async("ada", async {
    ///     std::future::ready(()).await;
    ///     USER.get()
    /// });
    /// assert_eq!(block_on(scoped), "ada");
    /// assert!(USER.try_get().is_err());
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Scoped<F> {
        #[pin]
        inner: Option<F>,
        key: VarKey,
        held: Option<Binding>,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            if inner.is_some() && std::mem::needs_drop::<F>() {
                // Destructors of a cancelled future see the scope's value.
                let _scope = Entered::resume(*this.key, this.held);
                inner.set(None);
            }
        }
    }
}

impl<F> Scoped<F> {
    pub(crate) fn new(inner: F, key: VarKey, binding: Binding) -> Self {
        Scoped {
            inner: Some(inner),
            key,
            held: Some(binding),
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let _scope = Entered::resume(*this.key, this.held);
        // Dropped inside the scope once done, as a cancelled future would be.
        poll_once_inside(inner.as_mut(), task_cx, "Scoped")
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("var", &self.key)
            .field("value", &self.held)
            .field("done", &self.inner.is_none())
            .finish()
    }
}
