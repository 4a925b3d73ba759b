//! The task probe of `contextvars::runtime`, driven by a hand-written
//! "runtime": a thread-local current task id that each test sets around the
//! polls it makes, as an executor sets its task id around a task's poll.
//!
//! This test binary registers the probe once (it is process-wide); the tests
//! only use task ids of their own, so they can run in parallel.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use contextvars::{Context, ContextVar, FutureExt, SetError};

static V: ContextVar<u32> = ContextVar::new("v");

thread_local! {
    /// The task "the executor" is polling on this thread, if any.
    static TASK: Cell<Option<u64>> = const { Cell::new(None) };
}

fn probe() -> Option<u64> {
    TASK.with(Cell::get)
}

fn install() {
    // Only the first registration takes effect; every test calls this.
    contextvars::runtime::set_task_probe(probe);
}

/// Runs `f` as if polling task `task`.
fn as_task<R>(task: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            TASK.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(TASK.with(|t| t.replace(Some(task))));
    f()
}

/// Polls `fut` once with a no-op waker.
fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut TaskContext::from_waker(Waker::noop()))
}

/// A future that, at each poll, tries to set `V` to the poll's number, and
/// reports the outcome.
#[derive(Default)]
struct Setter {
    polls: u32,
}

impl Future for Setter {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<()> {
        self.polls += 1;
        let outcome = V.try_set(self.polls).map(drop);
        OUTCOMES.with(|o| o.borrow_mut().push(outcome));
        Poll::Pending
    }
}

thread_local! {
    static OUTCOMES: std::cell::RefCell<Vec<Result<(), SetError>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn take_outcomes() -> Vec<Result<(), SetError>> {
    OUTCOMES.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

#[test]
fn a_task_without_a_context_cannot_set_in_the_threads_context() {
    install();
    let in_task = as_task(101, || V.try_set(1).map(drop));
    assert_eq!(in_task, Err(SetError::NoTaskContext));
    // Outside of any task, the thread's own context is the caller's to use.
    assert_eq!(V.try_set(2).map(drop), Ok(()));
    assert_eq!(V.get(), 2);
}

#[test]
fn a_context_entered_around_the_tasks_is_not_theirs() {
    install();
    let mut outer = Context::new();
    // A runtime driven inside `run`: its tasks must not write into `outer`.
    let refused = outer.run_mut(|| as_task(102, || V.try_set(1).map(drop)));
    assert_eq!(refused, Err(SetError::NoTaskContext));
    assert_eq!(outer.get(&V), None);
    // A context the task enters itself is its own.
    let allowed = as_task(102, || outer.run_mut(|| V.try_set(3).map(drop)));
    assert_eq!(allowed, Ok(()));
    assert_eq!(outer.get(&V).as_deref(), Some(&3));
}

#[test]
fn with_context_asks_the_probe_at_every_poll() {
    install();
    let mut fut = std::pin::pin!(Setter::default().with_context(Context::new()));
    // Polled by one task, then by another: each poll is the polling task's.
    as_task(103, || assert!(poll_once(fut.as_mut()).is_pending()));
    as_task(104, || assert!(poll_once(fut.as_mut()).is_pending()));
    assert_eq!(take_outcomes(), vec![Ok(()), Ok(())]);
    assert_eq!(fut.context().get(&V).as_deref(), Some(&2));
}

#[test]
fn a_task_root_keeps_the_task_of_its_first_poll() {
    install();
    let mut fut = std::pin::pin!(Setter::default().with_context(Context::new()).task_root());
    as_task(105, || assert!(poll_once(fut.as_mut()).is_pending()));
    as_task(105, || assert!(poll_once(fut.as_mut()).is_pending()));
    // A task root is polled by its task only. Polled by another task
    // anyway, it still records the first one, so that task's writes are
    // refused: the documented cost of marking a future that moves.
    as_task(106, || assert!(poll_once(fut.as_mut()).is_pending()));
    assert_eq!(
        take_outcomes(),
        vec![Ok(()), Ok(()), Err(SetError::NoTaskContext)]
    );
    assert_eq!(fut.context().get(&V).as_deref(), Some(&2));
}
