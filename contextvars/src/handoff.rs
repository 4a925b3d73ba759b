//! Hand-offs: work sent to another thread or task that runs in the sender's
//! context.

use std::fmt;
use std::future::Future;

use crate::context::{child_context, Context};
use crate::future::{FutureExt, WithContext};

/// A value sent together with the context of its sender, so that whoever
/// handles it — a connection pool, an actor, a batch writer, any long-lived
/// task reading a channel — runs that piece of work in the sender's context:
/// its log lines carry the sender's request id, its outbound calls the
/// sender's trace.
///
/// [`Captured::new`] takes a copy of the current context (as
/// [`child_context`]), in O(1). Send the `Captured<T>` through any channel;
/// the receiver calls [`run`](Captured::run) (synchronous work) or
/// [`in_context`](Captured::in_context) (asynchronous work). For a closure,
/// [`Context::wrap`] does the same.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use contextvars::{Captured, ContextVar};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let (tx, rx) = mpsc::channel::<Captured<u32>>();
/// // A long-lived worker, started before any request: it has no request id.
/// let worker = std::thread::spawn(move || {
///     rx.iter()
///         .map(|job| job.run(|n| format!("{} handled {n}", REQUEST_ID.get())))
///         .collect::<Vec<_>>()
/// });
///
/// for (id, n) in [("req-1", 1), ("req-2", 2)] {
///     REQUEST_ID.set(id.to_string());
///     tx.send(Captured::new(n)).unwrap();
/// }
/// drop(tx);
/// assert_eq!(worker.join().unwrap(), ["req-1 handled 1", "req-2 handled 2"]);
/// ```
pub struct Captured<T> {
    value: T,
    ctx: Context,
}

impl<T> Captured<T> {
    /// Captures `value` with a copy of the current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Captured, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let job = Captured::new("payload");
    /// assert_eq!(job.context().get(&V).as_deref(), Some(&1));
    /// ```
    pub fn new(value: T) -> Self {
        Captured {
            value,
            ctx: child_context(),
        }
    }

    /// Pairs `value` with a given context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Captured, Context};
    ///
    /// let job = Captured::with_context(5, Context::new());
    /// assert!(job.context().is_empty());
    /// ```
    pub fn with_context(value: T, ctx: Context) -> Self {
        Captured { value, ctx }
    }

    /// The value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(*contextvars::Captured::new(5).value(), 5);
    /// ```
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The captured context.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(contextvars::Captured::new(5).context().is_empty());
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Splits into the value and the context.
    ///
    /// # Examples
    ///
    /// ```
    /// let (value, ctx) = contextvars::Captured::new(5).into_parts();
    /// assert_eq!(value, 5);
    /// assert!(ctx.is_empty());
    /// ```
    pub fn into_parts(self) -> (T, Context) {
        (self.value, self.ctx)
    }

    /// Calls `f` with the value, in the captured context. Changes `f` makes
    /// to context variables stay in that context.
    ///
    /// # Panics
    ///
    /// Panics if the thread is shutting down (see
    /// [`EnterError::ThreadShuttingDown`](crate::EnterError::ThreadShuttingDown)).
    /// Panics from `f` propagate, after the handler's context is restored.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Captured, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(2);
    /// let job = Captured::new(20);
    /// V.set(3);
    /// assert_eq!(job.run(|n| n + V.get()), 22);
    /// ```
    pub fn run<R>(self, f: impl FnOnce(T) -> R) -> R {
        let Captured { value, mut ctx } = self;
        ctx.run_mut(|| f(value))
    }

    /// Makes the future that handles the value, in the captured context:
    /// `f` is called in the context, and the future it returns is polled in
    /// it.
    ///
    /// # Panics
    ///
    /// As [`run`](Captured::run), and as [`WithContext`] when polled.
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
    /// use contextvars::{Captured, ContextVar};
    ///
    /// static V: ContextVar<&str> = ContextVar::new("v");
    /// V.set("sender");
    /// let job = Captured::new(1);
    /// V.set("handler");
    /// let out = block_on(job.in_context(|n| async move { format!("{n} from {}", V.get()) }));
    /// assert_eq!(out, "1 from sender");
    /// ```
    pub fn in_context<F, Fut>(self, f: F) -> WithContext<Fut>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future,
    {
        let Captured { value, mut ctx } = self;
        let fut = ctx.run_mut(|| f(value));
        fut.with_context(ctx)
    }
}

impl<T: fmt::Debug> fmt::Debug for Captured<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured")
            .field("value", &self.value)
            .field("context", &self.ctx)
            .finish()
    }
}
