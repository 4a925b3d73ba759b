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
//!   runtime's before-poll and after-poll hooks ([`enter`]);
//! * keep each task's context between polls ([`TaskRegistry`]);
//! * wrap a spawned task's root future in a copy of the spawner's context
//!   at the smallest cost ([`Task`]: 16 bytes, against a
//!   [`WithContext`](crate::WithContext)'s 40 or more).
//!
//! Applications do not need this module.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::PoisonError;

use crate::context::Context;
use crate::current;
use crate::error::EnterError;
use crate::probe::{self, current_task};
use crate::sync::{spin_loop, yield_now, AtomicUsize, Mutex, Ordering};

pub use crate::task::Task;

/// Registers `probe`, which tells which async task the calling thread is
/// running, if any, as a non-zero number unique among the tasks alive: the
/// hook for runtimes other than tokio.
///
/// Tokio needs no registration: with the cargo feature `tokio` (which
/// `contextvars-tokio` and `contextvars-tower` turn on), the library asks
/// tokio itself, from the first task on. The registered probe is asked only
/// where tokio says the thread runs no tokio code.
///
/// From then on, every context records the task that entered it (none for
/// contexts entered outside of tasks), and
/// [`ContextVar::set`](crate::ContextVar::set) called in a task refuses to
/// write into a context the task did not enter itself — the worker thread's
/// own context, or a context entered around the whole runtime (a
/// `LocalSet::run_until` future, a runtime driven inside [`Context::run`]) —
/// since every task polled there shares it: `set` panics and
/// [`ContextVar::try_set`](crate::ContextVar::try_set) returns
/// [`SetError::NoTaskContext`](crate::SetError::NoTaskContext). Reading still
/// works, and sees only what was set outside of tasks.
///
/// A task gets a context of its own from a [`WithContext`](crate::WithContext)
/// wrapper, a [`Context::run`] inside the task, or a runtime hook that calls
/// [`enter_task`].
///
/// Only the first registration takes effect; returns whether this one did.
///
/// # Examples
///
/// ```
/// fn current_task() -> Option<u64> {
///     None // e.g. derived from the executor's own task id
/// }
/// contextvars::runtime::set_task_probe(current_task);
/// ```
pub fn set_task_probe(probe: fn() -> Option<u64>) -> bool {
    probe::register(probe)
}

/// Numbers a tokio task as the library does: a bijection of tokio's
/// non-zero `u64` task id (so the result is non-zero too), for runtime hooks
/// that call [`enter_task`] on a task's behalf.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let id = tokio::spawn(async { tokio::task::id() }).await.unwrap();
/// assert_ne!(contextvars::runtime::tokio_task_key(id), 0);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[inline]
pub fn tokio_task_key(id: tokio::task::Id) -> u64 {
    probe::tokio_task_key(id)
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
pub fn enter(ctx: Context) -> Result<Entered, (EnterError, Context)> {
    enter_inner(ctx, current_task())
}

/// Like [`enter`], on behalf of async task `task` (as numbered by the
/// registered [task probe](set_task_probe)): for a runtime's before-poll
/// hook, which runs before the runtime tells the probe which task it polls.
/// Code in that task can then `set` variables in `ctx`.
///
/// # Errors
///
/// As [`enter`].
///
/// # Examples
///
/// ```
/// use contextvars::{runtime, Context};
///
/// let entered = runtime::enter_task(Context::new(), 42).unwrap();
/// let ctx = entered.exit();
/// assert!(ctx.is_empty());
/// ```
pub fn enter_task(ctx: Context, task: u64) -> Result<Entered, (EnterError, Context)> {
    enter_inner(ctx, task)
}

fn enter_inner(mut ctx: Context, task: u64) -> Result<Entered, (EnterError, Context)> {
    match ctx.enter_mut_for(task) {
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

const SHARDS: usize = 32;

/// Where a task's context is.
#[derive(Debug)]
enum Slot {
    /// Stored between polls.
    Stored(Context),
    /// Checked out by the thread that polls the task.
    Polled,
    /// The task terminated while its context was checked out: checking it
    /// back in drops it.
    Terminated,
}

/// Hashes task and context ids for the shards' maps: ids are sequential, so
/// they are spread over all 64 bits by a Fibonacci multiplication (a
/// `HashMap` takes its bucket from the low bits and its tag from the top ones).
#[derive(Default, Clone, Copy, Debug)]
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

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Shard<K> = Mutex<HashMap<K, Slot, BuildHasherDefault<IdHasher>>>;

/// The contexts of a runtime's tasks, kept between polls: the bookkeeping of
/// an automatic mode built on a runtime's task hooks.
///
/// A spawn hook stores a context for the new task
/// ([`spawned`](TaskRegistry::spawned)); a before-poll hook checks it out
/// ([`check_out`](TaskRegistry::check_out)) and enters it; the after-poll hook
/// exits it and checks it back in ([`check_in`](TaskRegistry::check_in)); the
/// terminate hook drops it ([`terminated`](TaskRegistry::terminated)).
/// [`live`](TaskRegistry::live) counts the contexts that exist for tasks, so
/// that a leak is visible.
///
/// The registry is sharded by key, so that workers polling different tasks
/// rarely contend.
///
/// # Examples
///
/// ```
/// use contextvars::runtime::TaskRegistry;
/// use contextvars::Context;
///
/// let tasks = TaskRegistry::new();
/// tasks.spawned(1u64, Context::new());
/// let ctx = tasks.check_out(1).unwrap();
/// tasks.check_in(1, ctx, false);
/// assert_eq!(tasks.live(), 1);
/// tasks.terminated(1);
/// assert_eq!(tasks.live(), 0);
/// ```
pub struct TaskRegistry<K> {
    shards: Box<[Shard<K>]>,
    live: AtomicUsize,
}

impl<K: Hash + Eq + Copy> TaskRegistry<K> {
    /// An empty registry.
    ///
    /// # Examples
    ///
    /// ```
    /// let tasks = contextvars::runtime::TaskRegistry::<u64>::new();
    /// assert_eq!(tasks.live(), 0);
    /// ```
    pub fn new() -> Self {
        TaskRegistry {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            live: AtomicUsize::new(0),
        }
    }

    fn shard(
        &self,
        key: K,
    ) -> impl std::ops::DerefMut<Target = HashMap<K, Slot, BuildHasherDefault<IdHasher>>> + '_ {
        let mut hasher = IdHasher::default();
        key.hash(&mut hasher);
        let index = (hasher.finish() >> 32) as usize % SHARDS;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the context of a new task.
    ///
    /// # Examples
    ///
    /// ```
    /// let tasks = contextvars::runtime::TaskRegistry::new();
    /// tasks.spawned("task-1", contextvars::child_context());
    /// assert_eq!(tasks.live(), 1);
    /// ```
    pub fn spawned(&self, key: K, ctx: Context) {
        self.live.fetch_add(1, Ordering::Relaxed);
        let replaced = self.shard(key).insert(key, Slot::Stored(ctx));
        if let Some(Slot::Stored(old)) = replaced {
            // A key reused while its task existed: keep the count right.
            self.release(old);
        }
    }

    /// Takes the context of a task about to be polled, to be given back with
    /// [`check_in`](TaskRegistry::check_in).
    ///
    /// Some runtimes (tokio among them) let another worker poll a task as
    /// soon as its previous poll returned, just before the previous worker's
    /// after-poll hook checks the context back in: in that window this waits
    /// for it.
    ///
    /// Returns `None` for a task the registry does not know: never
    /// [`spawned`](TaskRegistry::spawned) here, or already
    /// [`terminated`](TaskRegistry::terminated) (tokio can run the poll hooks
    /// of a task it has just shut down). Run such a poll in a throwaway
    /// context, and do not check it in.
    ///
    /// # Examples
    ///
    /// ```
    /// let tasks = contextvars::runtime::TaskRegistry::new();
    /// assert!(tasks.check_out(7u32).is_none()); // unknown task
    /// tasks.spawned(8, contextvars::Context::new());
    /// let ctx = tasks.check_out(8).unwrap();
    /// tasks.check_in(8, ctx, true);
    /// assert_eq!(tasks.live(), 0);
    /// ```
    pub fn check_out(&self, key: K) -> Option<Context> {
        let mut spins = 0u32;
        loop {
            {
                let mut shard = self.shard(key);
                match shard.get_mut(&key) {
                    Some(slot @ Slot::Stored(_)) => match std::mem::replace(slot, Slot::Polled) {
                        Slot::Stored(ctx) => return Some(ctx),
                        _ => unreachable!("matched Slot::Stored"),
                    },
                    // Checked out by a worker about to check it back in.
                    Some(Slot::Polled) => {}
                    // Terminated while checked out: no poll can follow.
                    Some(Slot::Terminated) | None => return None,
                }
            }
            spins += 1;
            if spins < 64 {
                spin_loop();
            } else {
                yield_now();
            }
            #[cfg(loom)]
            yield_now();
        }
    }

    /// Gives back the context of a task after a poll, or drops it if the
    /// task terminated (`terminated`, or reported by
    /// [`terminated`](TaskRegistry::terminated) in the meantime).
    ///
    /// # Examples
    ///
    /// See [`check_out`](TaskRegistry::check_out).
    pub fn check_in(&self, key: K, ctx: Context, terminated: bool) {
        let mut shard = self.shard(key);
        match shard.get_mut(&key) {
            // The common case, in one lookup: back in its slot.
            Some(slot @ Slot::Polled) if !terminated => *slot = Slot::Stored(ctx),
            Some(slot @ Slot::Stored(_)) if !terminated => {
                // Checked in twice: keep the newer context and the count.
                let old = std::mem::replace(slot, Slot::Stored(ctx));
                drop(shard);
                if let Slot::Stored(old) = old {
                    self.release(old);
                }
            }
            // Terminated before or during the poll.
            Some(_) => {
                shard.remove(&key);
                drop(shard);
                self.release(ctx);
            }
            None if terminated => {
                drop(shard);
                self.release(ctx);
            }
            None => {
                shard.insert(key, Slot::Stored(ctx));
            }
        }
    }

    /// Drops the context of a task that terminated while it was not checked
    /// out by the calling thread. If another thread has it checked out, that
    /// thread's [`check_in`](TaskRegistry::check_in) drops it.
    ///
    /// # Examples
    ///
    /// See [`TaskRegistry`].
    pub fn terminated(&self, key: K) {
        let mut shard = self.shard(key);
        match shard.remove(&key) {
            Some(Slot::Stored(ctx)) => {
                drop(shard);
                self.release(ctx);
            }
            Some(Slot::Polled) => {
                shard.insert(key, Slot::Terminated);
            }
            Some(Slot::Terminated) | None => {}
        }
    }

    /// How many contexts exist for tasks: stored between polls or checked
    /// out. Back to zero once every task has terminated.
    ///
    /// # Examples
    ///
    /// See [`TaskRegistry`].
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn release(&self, ctx: Context) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        drop(ctx);
    }
}

impl<K: Hash + Eq + Copy> Default for TaskRegistry<K> {
    fn default() -> Self {
        TaskRegistry::new()
    }
}

impl<K> fmt::Debug for TaskRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
