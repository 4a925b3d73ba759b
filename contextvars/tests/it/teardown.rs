//! The crate used from other thread-locals' destructors at thread exit.
//!
//! The documented policy (`src/current.rs`, "Teardown"): once the crate's
//! thread-local has been destroyed, the thread has no current context. Reads
//! see no value, writes are discarded, and entering a context fails with
//! `EnterError::ThreadShuttingDown`. Nothing may panic: a panic that escapes
//! a thread-local destructor aborts the process.
//!
//! Destruction order of thread-locals is unspecified. On the platforms Rust
//! supports it is in practice the reverse of registration (glibc's
//! `__cxa_thread_atexit_impl`, std's own fallback list, Windows, macOS), and a
//! `thread_local!` registers its destructor on first access. So a probe whose
//! thread-local is first touched *before* the crate's runs its destructor
//! *after* the crate's slot is gone. Rather than rely on that, the tests try
//! both registration orders, check each observation against the policy for
//! the state the probe found, and fail if neither order found the slot
//! destroyed (which would make the test vacuous).

use std::cell::RefCell;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use contextvars::{copy_context, Context, ContextVar, EnterError, ResetError, Token, TokenGuard};

static WITH_DEFAULT: ContextVar<&str> = ContextVar::with_default("with_default", || "default");
static NO_DEFAULT: ContextVar<&str> = ContextVar::new("no_default");

/// Everything a probe saw and did from its destructor at thread exit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    /// `WITH_DEFAULT.get_opt()`. The thread set it to "thread" before
    /// exiting, so this is `Some("thread")` if and only if the crate's slot
    /// was still alive.
    thread_value: Option<&'static str>,
    /// `WITH_DEFAULT.get()`.
    get_with_default: &'static str,
    /// `NO_DEFAULT.try_get()`, with the error reduced to the variable name.
    try_get_no_default: Result<&'static str, &'static str>,
    /// `NO_DEFAULT.get_or(..)` with "given".
    get_or: &'static str,
    /// `WITH_DEFAULT.with(..)`.
    with: &'static str,
    /// `copy_context().len()`.
    copy_len: usize,
    /// `NO_DEFAULT` right after `NO_DEFAULT.set("late")`.
    after_late_set: Option<&'static str>,
    /// `NO_DEFAULT.reset(&late_token)`.
    reset_late: Result<(), ResetError>,
    /// `late_token.is_used()` after that reset.
    late_token_used: bool,
    /// `NO_DEFAULT` after the reset.
    after_late_reset: Option<&'static str>,
    /// `NO_DEFAULT` inside the scope of a guard made in the destructor.
    inside_guard: Option<&'static str>,
    /// `NO_DEFAULT.reset(&early_token)`, a token made while the thread ran.
    reset_early: Result<(), ResetError>,
    /// `shared.try_run(..)`; `Ok(true)` when the closure ran.
    try_run_shared: Result<bool, EnterError>,
    /// `Context::new().try_run(..)`.
    try_run_new: Result<(), EnterError>,
    /// `shared.get(&NO_DEFAULT)`: the map view does not need the thread-local.
    shared_view: Option<&'static str>,
}

fn observe(early_token: &Token<&'static str>, shared: &Context) -> Report {
    let thread_value = WITH_DEFAULT.get_opt();
    let get_with_default = WITH_DEFAULT.get();
    let try_get_no_default = NO_DEFAULT.try_get().map_err(|e| e.name());
    let get_or = NO_DEFAULT.get_or("given");
    let with = WITH_DEFAULT.with(|v| *v);
    let copy_len = copy_context().len();

    let late_token = NO_DEFAULT.set("late");
    let after_late_set = NO_DEFAULT.get_opt();
    let reset_late = NO_DEFAULT.reset(&late_token);
    let late_token_used = late_token.is_used();
    let after_late_reset = NO_DEFAULT.get_opt();

    let inside_guard = {
        let _guard = NO_DEFAULT.set("guarded").into_guard();
        NO_DEFAULT.get_opt()
    };

    let reset_early = NO_DEFAULT.reset(early_token);

    let mut ran = false;
    let try_run_shared = shared
        .try_run(|| {
            ran = true;
        })
        .map(|()| ran);
    let try_run_new = Context::new().try_run(|| ());
    let shared_view = shared.get(&NO_DEFAULT).map(|v| *v);

    Report {
        thread_value,
        get_with_default,
        try_get_no_default,
        get_or,
        with,
        copy_len,
        after_late_set,
        reset_late,
        late_token_used,
        after_late_reset,
        inside_guard,
        reset_early,
        try_run_shared,
        try_run_new,
        shared_view,
    }
}

/// Observes the crate from its destructor.
struct Probe {
    early_token: Token<&'static str>,
    shared: Arc<Context>,
    out: Arc<Mutex<Option<Report>>>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let report = observe(&self.early_token, &self.shared);
        *self.out.lock().unwrap() = Some(report);
    }
}

thread_local! {
    static PROBE: RefCell<Option<Probe>> = const { RefCell::new(None) };
}

#[derive(Debug, Clone, Copy)]
enum Order {
    /// The probe's thread-local is first touched before the crate's.
    ProbeFirst,
    /// The crate's thread-local is first touched before the probe's.
    CrateFirst,
}

/// Runs a thread that uses the crate and arms a probe, in the given order;
/// returns the probe's report once the thread has fully exited.
fn probe_thread_exit(order: Order, shared: &Arc<Context>) -> Report {
    let out = Arc::new(Mutex::new(None));
    std::thread::spawn({
        let out = out.clone();
        let shared = shared.clone();
        move || {
            if let Order::ProbeFirst = order {
                // First access registers the probe's destructor.
                PROBE.with(|_| ());
            }
            // First use of the crate on this thread registers its slot.
            WITH_DEFAULT.set("thread");
            let early_token = NO_DEFAULT.set("early");
            PROBE.with(|probe| {
                *probe.borrow_mut() = Some(Probe {
                    early_token,
                    shared,
                    out,
                })
            });
        }
    })
    // `join` returns after the thread's thread-local destructors have run.
    .join()
    .unwrap();
    let report = out.lock().unwrap().take();
    report.expect("the probe's destructor ran at thread exit")
}

/// The policy for a thread whose crate slot is gone.
fn expected_after_teardown() -> Report {
    Report {
        thread_value: None,
        get_with_default: "default",
        try_get_no_default: Err("no_default"),
        get_or: "given",
        with: "default",
        copy_len: 0,
        // The write is discarded.
        after_late_set: None,
        // A token made after teardown resets (a no-op) and is used up.
        reset_late: Ok(()),
        late_token_used: true,
        after_late_reset: None,
        inside_guard: None,
        // A token made while the thread ran belongs to the thread's context,
        // which no longer exists: the reset is refused, without panicking.
        reset_early: Err(ResetError::WrongContext),
        try_run_shared: Err(EnterError::ThreadShuttingDown),
        try_run_new: Err(EnterError::ThreadShuttingDown),
        shared_view: Some("in shared"),
    }
}

/// Ordinary behaviour, for a probe that ran while the crate's slot was alive.
fn expected_while_alive() -> Report {
    Report {
        thread_value: Some("thread"),
        get_with_default: "thread",
        try_get_no_default: Ok("early"),
        get_or: "early",
        with: "thread",
        copy_len: 2,
        after_late_set: Some("late"),
        reset_late: Ok(()),
        late_token_used: true,
        after_late_reset: Some("early"),
        inside_guard: Some("guarded"),
        reset_early: Ok(()),
        try_run_shared: Ok(true),
        try_run_new: Ok(()),
        shared_view: Some("in shared"),
    }
}

#[test]
fn crate_used_from_a_thread_local_destructor_follows_the_teardown_policy() {
    let mut saw_teardown = Vec::new();
    for order in [Order::ProbeFirst, Order::CrateFirst] {
        let shared = Arc::new(Context::new());
        shared.run(|| NO_DEFAULT.set("in shared"));

        let report = probe_thread_exit(order, &shared);
        let torn_down = report.thread_value.is_none();
        println!(
            "{order:?}: the probe found the crate's thread-local {}",
            if torn_down { "destroyed" } else { "alive" }
        );
        if torn_down {
            saw_teardown.push(order);
            assert_eq!(report, expected_after_teardown(), "{order:?}");
        } else {
            assert_eq!(report, expected_while_alive(), "{order:?}");
        }

        // The failed `try_run` did not leave the context entered.
        assert_eq!(shared.try_run(|| NO_DEFAULT.get()), Ok("in shared"));
    }
    assert!(
        !saw_teardown.is_empty(),
        "no registration order let the probe run after the crate's thread-local was \
         destroyed, so the teardown policy was not exercised"
    );
}

/// Environment variable that makes the child test below do its work.
const CHILD_ENV: &str = "CONTEXTVARS_IT_TEARDOWN_CHILD";

/// Holds a guard until thread exit, and records whether the crate's
/// thread-local was already gone when the guard was dropped.
struct GuardHolder {
    _guard: Option<TokenGuard<&'static str>>,
    torn_down: Arc<AtomicBool>,
}

impl Drop for GuardHolder {
    fn drop(&mut self) {
        let torn_down = Context::new().try_run(|| ()) == Err(EnterError::ThreadShuttingDown);
        self.torn_down.store(torn_down, Ordering::SeqCst);
        // The guard is dropped right after this, with the holder's fields.
    }
}

thread_local! {
    static GUARD: RefCell<Option<GuardHolder>> = const { RefCell::new(None) };
}

/// Keeps a guard in a thread-local that is destroyed after the crate's, then
/// exits the thread. Runs in a child process, because a panic in a
/// thread-local destructor aborts the process.
#[test]
#[ignore = "child process of `token_guard_in_a_thread_local_does_not_abort_the_process`"]
fn child_token_guard_in_a_thread_local() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let torn_down = Arc::new(AtomicBool::new(false));
    std::thread::spawn({
        let torn_down = torn_down.clone();
        move || {
            // Registered before the crate's slot, so destroyed after it.
            GUARD.with(|_| ());
            let guard = NO_DEFAULT.set("guarded").into_guard();
            GUARD.with(|slot| {
                *slot.borrow_mut() = Some(GuardHolder {
                    _guard: Some(guard),
                    torn_down,
                })
            });
        }
    })
    .join()
    .unwrap();
    assert!(
        torn_down.load(Ordering::SeqCst),
        "the guard was dropped while the crate's thread-local was still alive, \
         so this test did not exercise teardown"
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the test binary again as a child process")]
fn token_guard_in_a_thread_local_does_not_abort_the_process() {
    // Regression: a `TokenGuard` dropped at thread exit, after the crate's
    // thread-local is gone, has nothing to restore; its failing reset must be
    // ignored like every other write after teardown. Before commit 0eeb62d
    // `TokenGuard::drop` panicked there (the reset fails with `WrongContext`
    // and the thread is not already panicking), and std aborted the whole
    // process with "thread local panicked on drop".
    let name = "teardown::child_token_guard_in_a_thread_local";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child process failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    // Make sure the child really ran the test, rather than filtering it out.
    assert!(stdout.contains("1 passed"), "{stdout}");
}
