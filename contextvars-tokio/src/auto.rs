//! Automatic mode: every task of a runtime runs in a copy of its spawner's
//! context, with no wrapping at all, through tokio's task hooks.
//!
//! Needs `RUSTFLAGS="--cfg tokio_unstable"`, like the hooks themselves.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use contextvars::runtime::{self, Entered, TaskRegistry};
use contextvars::{child_context, Context};
use tokio::runtime::{Builder, TaskMeta};
use tokio::task::Id;

type Registry = TaskRegistry<Id>;

/// A task whose context is entered on this thread.
///
/// Hooks are strictly nested on a thread, and each runtime calls its own
/// hooks: the after-poll hook pops the entry its own before-poll hook pushed.
struct Running {
    id: Id,
    /// `None` if the thread was shutting down when the poll started.
    entered: Option<Entered>,
    /// The context came from the registry, and goes back to it.
    tracked: bool,
    /// The task terminated during this poll: drop its context afterwards.
    terminated: bool,
}

thread_local! {
    static RUNNING: RefCell<Vec<Running>> = const { RefCell::new(Vec::new()) };
}

/// The per-task contexts of a runtime in automatic mode.
///
/// Install it on a [`tokio::runtime::Builder`] with
/// [`install`](TaskContexts::install) (or use
/// [`RuntimeBuilderExt::inherit_context`]): from then on every task spawned on
/// that runtime — by your code, by `tokio::spawn` inside any library, by
/// `JoinSet` — starts in a copy of the context current where it was spawned,
/// and runs every poll in it, exactly like a task spawned with
/// [`crate::spawn`]. A task's context is dropped when the task terminates.
///
/// Tasks of a `LocalSet` and blocking tasks are not covered by tokio's hooks:
/// spawn those with [`crate::spawn_local`] and [`crate::spawn_blocking`].
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_tokio::TaskContexts;
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let contexts = TaskContexts::new();
/// let rt = contexts
///     .install(tokio::runtime::Builder::new_multi_thread().worker_threads(2))
///     .build()
///     .unwrap();
/// rt.block_on(contextvars_tokio::root(async {
///     USER.set("main");
///     // A plain tokio::spawn: no wrapper, yet the task has its own copy.
///     let task = tokio::spawn(async {
///         let inherited = USER.get();
///         USER.set("task");
///         tokio::task::yield_now().await;
///         (inherited, USER.get())
///     });
///     assert_eq!(task.await.unwrap(), ("main", "task"));
///     assert_eq!(USER.get(), "main");
/// }));
/// drop(rt);
/// assert_eq!(contexts.live(), 0);
/// ```
#[derive(Clone)]
pub struct TaskContexts {
    registry: Arc<Registry>,
}

impl TaskContexts {
    /// An empty set of task contexts, to be installed on one runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let contexts = contextvars_tokio::TaskContexts::new();
    /// assert_eq!(contexts.live(), 0);
    /// ```
    pub fn new() -> Self {
        TaskContexts {
            registry: Arc::new(Registry::new()),
        }
    }

    /// Sets the four task hooks of `builder` (spawn, before poll, after poll,
    /// terminate) to give every task of the runtime its own context.
    ///
    /// Replaces hooks set on `builder` before. To combine with hooks of your
    /// own, call [`on_task_spawn`](TaskContexts::on_task_spawn),
    /// [`on_before_task_poll`](TaskContexts::on_before_task_poll),
    /// [`on_after_task_poll`](TaskContexts::on_after_task_poll) and
    /// [`on_task_terminate`](TaskContexts::on_task_terminate) from them.
    ///
    /// # Examples
    ///
    /// ```
    /// let contexts = contextvars_tokio::TaskContexts::new();
    /// let rt = contexts
    ///     .install(&mut tokio::runtime::Builder::new_current_thread())
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn install<'b>(&self, builder: &'b mut Builder) -> &'b mut Builder {
        let (spawn, before, after, terminate) =
            (self.clone(), self.clone(), self.clone(), self.clone());
        builder
            .on_task_spawn(move |meta| spawn.on_task_spawn(meta))
            .on_before_task_poll(move |meta| before.on_before_task_poll(meta))
            .on_after_task_poll(move |meta| after.on_after_task_poll(meta))
            .on_task_terminate(move |meta| terminate.on_task_terminate(meta))
    }

    /// The spawn hook: stores a copy of the current context for the new task.
    ///
    /// # Examples
    ///
    /// ```
    /// let contexts = contextvars_tokio::TaskContexts::new();
    /// let hook = contexts.clone();
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .on_task_spawn(move |meta| hook.on_task_spawn(meta))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { drop(tokio::spawn(async {})) });
    /// assert_eq!(contexts.live(), 1); // no terminate hook installed here
    /// ```
    pub fn on_task_spawn(&self, meta: &TaskMeta<'_>) {
        self.registry.spawned(meta.id(), child_context());
    }

    /// The before-poll hook: makes the task's context current.
    ///
    /// A task that has no stored context (tokio runs the poll hooks of a task
    /// it has just shut down, whose poll then does nothing) runs that poll in
    /// a new, empty context that is dropped afterwards.
    ///
    /// # Examples
    ///
    /// Combining the hooks with hooks of your own:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use contextvars::ContextVar;
    /// use contextvars_tokio::TaskContexts;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    ///
    /// let contexts = TaskContexts::new();
    /// let polls = Arc::new(AtomicUsize::new(0));
    /// let (c1, c2, c3, c4, p) =
    ///     (contexts.clone(), contexts.clone(), contexts.clone(), contexts.clone(), polls.clone());
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .on_task_spawn(move |meta| c1.on_task_spawn(meta))
    ///     .on_before_task_poll(move |meta| {
    ///         p.fetch_add(1, Ordering::Relaxed);
    ///         c2.on_before_task_poll(meta)
    ///     })
    ///     .on_after_task_poll(move |meta| c3.on_after_task_poll(meta))
    ///     .on_task_terminate(move |meta| c4.on_task_terminate(meta))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(contextvars_tokio::root(async {
    ///     V.set(7);
    ///     assert_eq!(tokio::spawn(async { V.get() }).await.unwrap(), 7);
    /// }));
    /// assert!(polls.load(Ordering::Relaxed) >= 1);
    /// assert_eq!(contexts.live(), 0);
    /// ```
    pub fn on_before_task_poll(&self, meta: &TaskMeta<'_>) {
        let id = meta.id();
        // tokio may run the poll hooks of a task it has already shut down
        // (the poll itself then does nothing): such a poll gets a throwaway
        // context.
        let (ctx, tracked) = match self.registry.check_out(id) {
            Some(ctx) => (ctx, true),
            None => (Context::new(), false),
        };
        // The hook runs before tokio tells the probe which task it polls:
        // enter on behalf of the task, so that it may `set`.
        let entered = match runtime::enter_task(ctx, runtime::tokio_task_key(id)) {
            Ok(entered) => Some(entered),
            Err((_, ctx)) => {
                // Thread shutdown: keep the context for a later poll.
                if tracked {
                    self.registry.check_in(id, ctx, false);
                }
                None
            }
        };
        let running = Running {
            id,
            entered,
            tracked,
            terminated: false,
        };
        let _ = RUNNING.try_with(|stack| stack.borrow_mut().push(running));
    }

    /// The after-poll hook: restores the worker's context and stores the
    /// task's, with its changes, for the next poll.
    ///
    /// # Examples
    ///
    /// See [`on_before_task_poll`](TaskContexts::on_before_task_poll).
    pub fn on_after_task_poll(&self, meta: &TaskMeta<'_>) {
        let Ok(Some(running)) = RUNNING.try_with(|stack| stack.borrow_mut().pop()) else {
            return;
        };
        debug_assert_eq!(running.id, meta.id(), "task polls are strictly nested");
        let Running {
            id,
            entered,
            tracked,
            terminated,
        } = running;
        let Some(entered) = entered else {
            return;
        };
        let ctx = entered.exit();
        if tracked {
            self.registry.check_in(id, ctx, terminated);
        }
    }

    /// The terminate hook: drops the task's context.
    ///
    /// If the task terminates during its own poll (it completed, or was
    /// cancelled when polled), the context is dropped by the after-poll hook,
    /// once it is no longer current.
    ///
    /// # Examples
    ///
    /// See [`on_before_task_poll`](TaskContexts::on_before_task_poll).
    pub fn on_task_terminate(&self, meta: &TaskMeta<'_>) {
        let id = meta.id();
        let running_here = RUNNING
            .try_with(|stack| {
                let mut stack = stack.borrow_mut();
                match stack.iter_mut().rev().find(|r| r.id == id) {
                    Some(running) => {
                        running.terminated = true;
                        true
                    }
                    None => false,
                }
            })
            .unwrap_or(false);
        if !running_here {
            self.registry.terminated(id);
        }
    }

    /// The number of task contexts alive: stored between polls or entered.
    /// Zero once every task of the runtime has terminated.
    ///
    /// # Examples
    ///
    /// ```
    /// let contexts = contextvars_tokio::TaskContexts::new();
    /// let rt = contexts
    ///     .install(&mut tokio::runtime::Builder::new_current_thread())
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
    /// assert_eq!(contexts.live(), 0);
    /// ```
    pub fn live(&self) -> usize {
        self.registry.live()
    }
}

impl Default for TaskContexts {
    fn default() -> Self {
        TaskContexts::new()
    }
}

impl fmt::Debug for TaskContexts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContexts")
            .field("live", &self.live())
            .finish()
    }
}

/// Automatic mode on a runtime builder: see [`TaskContexts`].
///
/// # Examples
///
/// ```
/// use contextvars_tokio::RuntimeBuilderExt;
///
/// let rt = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .inherit_context()
///     .build()
///     .unwrap();
/// # drop(rt);
/// ```
pub trait RuntimeBuilderExt {
    /// Makes every task of the runtime run in a copy of its spawner's context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tokio::RuntimeBuilderExt;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread()
    ///     .inherit_context()
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(contextvars_tokio::root(async {
    ///     V.set(1);
    ///     assert_eq!(tokio::spawn(async { V.get() }).await.unwrap(), 1);
    /// }));
    /// ```
    fn inherit_context(&mut self) -> &mut Self;
}

impl RuntimeBuilderExt for Builder {
    fn inherit_context(&mut self) -> &mut Self {
        TaskContexts::new().install(self)
    }
}
