//! Which unit of async work the calling thread runs: the task probe.
//!
//! Every entered context records the unit that entered it, and a `set` from
//! async code is refused unless that code entered the current context
//! itself (see `runtime::set_task_probe`). With the `tokio` feature the
//! answer comes from tokio; other runtimes register a probe.
//!
//! Below the current-context slot's users (`context`, `var`, `error`,
//! `runtime`), above the slot itself.

use std::sync::OnceLock;

use crate::current;

static TASK_PROBE: OnceLock<fn() -> Option<u64>> = OnceLock::new();

/// Registers the probe of a runtime other than tokio; only the first
/// registration takes effect. Returns whether this one did.
pub(crate) fn register(probe: fn() -> Option<u64>) -> bool {
    TASK_PROBE.set(probe).is_ok()
}

/// Numbers a tokio task: a bijection of tokio's non-zero `u64` task id, so
/// the result is non-zero too.
#[cfg(feature = "tokio")]
#[inline]
pub(crate) fn tokio_task_key(id: tokio::task::Id) -> u64 {
    use std::hash::{Hash, Hasher};

    /// Keeps the `u64` a task id hashes as (tokio's `Id` hashes its one
    /// `NonZeroU64`).
    #[derive(Default)]
    struct Identity(u64);

    impl Hasher for Identity {
        fn finish(&self) -> u64 {
            self.0
        }

        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | u64::from(b);
            }
        }

        fn write_u64(&mut self, n: u64) {
            self.0 = n;
        }
    }

    let mut hasher = Identity::default();
    id.hash(&mut hasher);
    hasher.finish()
}

/// The async task the calling thread runs ([`current::NO_TASK`] outside of
/// any task): a tokio task (asked of tokio: one read of its thread-local),
/// else a task of the runtime whose probe was registered.
#[inline]
pub(crate) fn current_task() -> u64 {
    #[cfg(feature = "tokio")]
    if let Some(id) = tokio::task::try_id() {
        return tokio_task_key(id);
    }
    match TASK_PROBE.get() {
        Some(probe) => probe().unwrap_or(current::NO_TASK),
        None => current::NO_TASK,
    }
}

/// Whether a `set` here would write into a context that other units of
/// async work read:
///
/// * in a task, any context the task did not enter itself (the thread's
///   own context, or a context entered around the runtime);
/// * outside of tasks but inside a tokio runtime (the future given to
///   `block_on` or `LocalSet::run_until`, a thread inside `Runtime::enter`),
///   the thread's own context, which the tasks polled on the thread read. A
///   context entered explicitly there (`Context::run`, a `WithContext`) is
///   its enterer's own.
///
/// Outside of any runtime, never: a plain thread's context is its own.
pub(crate) fn in_task_without_context() -> bool {
    match current_task() {
        current::NO_TASK => in_runtime_base_context(),
        task => current::entering_task().is_some_and(|entered_by| entered_by != task),
    }
}

/// Whether the thread's own context is current, inside a tokio runtime. The
/// runtime is asked last, and only in the thread's own context: a `set`
/// inside an entered context, the common case, does not pay for it.
#[inline]
fn in_runtime_base_context() -> bool {
    #[cfg(feature = "tokio")]
    {
        current::in_base_context() && tokio::runtime::Handle::try_current().is_ok()
    }
    #[cfg(not(feature = "tokio"))]
    {
        false
    }
}
