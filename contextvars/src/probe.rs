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

/// What a context records as the unit of work that entered it, when that is
/// tokio code that is not a task: the future given to `block_on` (and so the
/// body of `#[tokio::main]`), the future given to `LocalSet::run_until`, or
/// a thread inside `Runtime::enter`. Tokio's task ids count up from 1 and
/// never reach it.
#[cfg(feature = "tokio")]
const TOKIO_NOT_A_TASK: u64 = u64::MAX;

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

/// What tokio says the calling thread runs: `Some(task key)` in a task,
/// `Some(TOKIO_NOT_A_TASK)` in other code inside a runtime, `None` outside of
/// any tokio runtime.
#[cfg(feature = "tokio")]
#[inline]
fn tokio_unit() -> Option<u64> {
    match tokio::task::try_id() {
        Some(id) => Some(tokio_task_key(id)),
        None if tokio::runtime::Handle::try_current().is_ok() => Some(TOKIO_NOT_A_TASK),
        None => None,
    }
}

/// The unit of async work the calling thread runs ([`current::NO_TASK`]
/// outside of any): a tokio task, tokio code that is not a task
/// ([`TOKIO_NOT_A_TASK`]), or a task of the runtime whose probe was
/// registered.
#[inline]
pub(crate) fn current_task() -> u64 {
    #[cfg(feature = "tokio")]
    if let Some(unit) = tokio_unit() {
        return unit;
    }
    match TASK_PROBE.get() {
        Some(probe) => probe().unwrap_or(current::NO_TASK),
        None => current::NO_TASK,
    }
}

/// Whether a `set` here would write, from inside async code, into a context
/// that code did not enter (a context shared with other tasks).
pub(crate) fn in_task_without_context() -> bool {
    match current_task() {
        current::NO_TASK => false,
        task => current::entering_task().is_some_and(|entered_by| entered_by != task),
    }
}
