//! Automatic mode: every task of a runtime runs in a copy of its spawner's
//! context, with no wrapping at all, through tokio's task hooks.
//!
//! Needs `RUSTFLAGS="--cfg tokio_unstable"`, like the hooks themselves.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use contextvars::runtime::{self, Entered};
use contextvars::{child_context, Context};
use tokio::runtime::{Builder, TaskMeta};
use tokio::task::Id;

const SHARDS: usize = 32;

/// Hashes task ids (already unique integers) with one multiplication.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Where a task's context is.
enum Slot {
    /// Stored between polls.
    Stored(Context),
    /// Entered by the thread that polls the task, until its after-poll hook.
    Polled,
    /// The task terminated elsewhere while its context was entered: the
    /// after-poll hook drops the context.
    Terminated,
}

type Shard = Mutex<HashMap<Id, Slot, BuildHasherDefault<IdHasher>>>;

/// The contexts of the tasks of one runtime, kept between polls.
struct Registry {
    shards: Box<[Shard]>,
    /// Contexts that exist for tasks: stored between polls or entered.
    live: AtomicUsize,
}

/// A task whose context is entered on this thread.
struct Running {
    registry: Arc<Registry>,
    id: Id,
    /// `None` if the thread was shutting down when the poll started.
    entered: Option<Entered>,
    /// The task terminated during this poll: drop its context afterwards.
    terminated: bool,
}

thread_local! {
    static RUNNING: RefCell<Vec<Running>> = const { RefCell::new(Vec::new()) };
}

impl Registry {
    fn shard(
        &self,
        id: Id,
    ) -> std::sync::MutexGuard<'_, HashMap<Id, Slot, BuildHasherDefault<IdHasher>>> {
        let mut hasher = IdHasher::default();
        std::hash::Hash::hash(&id, &mut hasher);
        let index = (hasher.finish() >> 32) as usize % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the context of a new task.
    fn spawned(&self, id: Id, ctx: Context) {
        self.live.fetch_add(1, Ordering::Relaxed);
        let replaced = self.shard(id).insert(id, Slot::Stored(ctx));
        // A task id is never reused while the task exists.
        debug_assert!(replaced.is_none());
        drop(replaced);
    }

    /// Takes the context of a task about to be polled.
    ///
    /// tokio lets another worker poll a task as soon as its previous poll
    /// returned, which is just before the previous worker's after-poll hook
    /// gives the context back: in that window, wait for it.
    fn check_out(&self, id: Id) -> Context {
        let mut spins = 0u32;
        loop {
            let mut shard = self.shard(id);
            match shard.insert(id, Slot::Polled) {
                Some(Slot::Stored(ctx)) => return ctx,
                Some(Slot::Polled) => {}
                Some(Slot::Terminated) => {
                    shard.insert(id, Slot::Terminated);
                }
                None => {
                    // Spawned before the hooks were installed.
                    self.live.fetch_add(1, Ordering::Relaxed);
                    return Context::new();
                }
            }
            drop(shard);
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Gives back the context of a task after a poll.
    fn check_in(&self, id: Id, ctx: Context, terminated: bool) {
        let mut shard = self.shard(id);
        let terminated = terminated || matches!(shard.get(&id), Some(Slot::Terminated));
        if terminated {
            shard.remove(&id);
            drop(shard);
            self.release(ctx);
        } else {
            shard.insert(id, Slot::Stored(ctx));
        }
    }

    /// Drops the context of a task that terminated while not being polled
    /// on this thread.
    fn terminated(&self, id: Id) {
        let mut shard = self.shard(id);
        match shard.remove(&id) {
            Some(Slot::Stored(ctx)) => {
                drop(shard);
                self.release(ctx);
            }
            // Entered by another thread between the end of a poll and its
            // after-poll hook: that hook drops it.
            Some(Slot::Polled) => {
                shard.insert(id, Slot::Terminated);
            }
            Some(Slot::Terminated) | None => {}
        }
    }

    fn release(&self, ctx: Context) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        drop(ctx);
    }
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
/// rt.block_on(async {
///     USER.set("main");
///     // A plain tokio::spawn: no wrapper, yet the task has its own copy.
///     let task = tokio::spawn(async {
///         let inherited = *USER.get();
///         USER.set("task");
///         tokio::task::yield_now().await;
///         (inherited, *USER.get())
///     });
///     assert_eq!(task.await.unwrap(), ("main", "task"));
///     assert_eq!(*USER.get(), "main");
/// });
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
            registry: Arc::new(Registry {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                live: AtomicUsize::new(0),
            }),
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
        crate::install();
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
    /// A task that has no stored context (spawned before the hooks were set)
    /// gets a new, empty one.
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
    /// rt.block_on(async {
    ///     V.set(7);
    ///     assert_eq!(tokio::spawn(async { *V.get() }).await.unwrap(), 7);
    /// });
    /// assert!(polls.load(Ordering::Relaxed) >= 1);
    /// assert_eq!(contexts.live(), 0);
    /// ```
    pub fn on_before_task_poll(&self, meta: &TaskMeta<'_>) {
        let id = meta.id();
        let ctx = self.registry.check_out(id);
        let entered = match runtime::enter(ctx) {
            Ok(entered) => Some(entered),
            Err((_, ctx)) => {
                // Thread shutdown: keep the context for a later poll.
                self.registry.check_in(id, ctx, false);
                None
            }
        };
        let running = Running {
            registry: self.registry.clone(),
            id,
            entered,
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
            registry,
            id,
            entered,
            terminated,
        } = running;
        let Some(entered) = entered else {
            return;
        };
        registry.check_in(id, entered.exit(), terminated);
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
        self.registry.live.load(Ordering::Relaxed)
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
    /// rt.block_on(async {
    ///     V.set(1);
    ///     assert_eq!(tokio::spawn(async { *V.get() }).await.unwrap(), 1);
    /// });
    /// ```
    fn inherit_context(&mut self) -> &mut Self;
}

impl RuntimeBuilderExt for Builder {
    fn inherit_context(&mut self) -> &mut Self {
        TaskContexts::new().install(self)
    }
}
