//! Isolation under heavy interleaving: 1,000 tasks × 10 rounds of set,
//! random 0–2 ms pause, check. Every task must only ever see its own values,
//! however the runtime interleaves the tasks on its threads and moves them
//! between workers (asyncio's `test_context_3`, ten times larger).

#[macro_use]
mod common;

use common::{random_pause, Rng};
use contextvars::{copy_context, ContextVar};

const TASKS: u64 = 1_000;
const ROUNDS: u64 = 10;

static TASK: ContextVar<u64> = ContextVar::new("task");
static ROUND: ContextVar<u64> = ContextVar::with_default("round", || u64::MAX);

/// One task: sets `TASK` once, then `ROUND` every round, and after each pause
/// checks both and the size of its context. Returns the number of mismatches.
async fn worker(task: u64) -> u64 {
    let mut rng = Rng::new(task);
    let mut mismatches = 0;
    TASK.set(task);
    for round in 0..ROUNDS {
        let value = task * ROUNDS + round;
        ROUND.set(value);
        random_pause(&mut rng).await;
        if ROUND.get() != value {
            mismatches += 1;
        }
        if TASK.get_opt().as_ref() != Some(&task) {
            mismatches += 1;
        }
        if copy_context().len() != 2 {
            mismatches += 1;
        }
    }
    mismatches
}

/// Half of the tasks are spawned with `contextvars_tokio::spawn`, half
/// through a `contextvars_tokio::JoinSet`. No task ever sees another
/// task's value, and the main future's context is unchanged.
async fn thousand_tasks_see_only_their_own_values() {
    let mut handles = Vec::new();
    let mut set = contextvars_tokio::JoinSet::new();
    for task in 0..TASKS {
        if task % 2 == 0 {
            handles.push(contextvars_tokio::spawn(worker(task)));
        } else {
            set.spawn(worker(task));
        }
    }
    let mut mismatches = 0;
    let mut finished = 0;
    for handle in handles {
        mismatches += handle.await.expect("task");
        finished += 1;
    }
    while let Some(result) = set.join_next().await {
        mismatches += result.expect("task");
        finished += 1;
    }
    assert_eq!(finished, TASKS);
    assert_eq!(mismatches, 0, "tasks saw values that were not their own");
    assert_eq!(TASK.get_opt(), None);
    assert_eq!(ROUND.get(), u64::MAX);
    assert!(copy_context().is_empty());
}
on_both_runtimes!(thousand_tasks_see_only_their_own_values);

/// The same with values inherited from the spawner: the main future sets
/// `TASK` before spawning each task, and each task must see the value that
/// was current when it was spawned, even though the main future keeps
/// changing it while the tasks run.
async fn thousand_tasks_inherit_the_value_current_at_spawn() {
    async fn inherit(task: u64) -> u64 {
        let mut rng = Rng::new(task ^ 0xABCD);
        let mut mismatches = 0;
        for round in 0..ROUNDS {
            if TASK.get_opt().as_ref() != Some(&task) {
                mismatches += 1;
            }
            ROUND.set(round);
            random_pause(&mut rng).await;
            if ROUND.get() != round {
                mismatches += 1;
            }
        }
        mismatches
    }

    let mut handles = Vec::new();
    for task in 0..TASKS {
        TASK.set(task);
        handles.push(contextvars_tokio::spawn(inherit(task)));
        if task % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    TASK.set(u64::MAX);
    let mut mismatches = 0;
    for handle in handles {
        mismatches += handle.await.expect("task");
    }
    assert_eq!(mismatches, 0);
    assert_eq!(TASK.get(), u64::MAX);
    assert_eq!(ROUND.get_opt(), None);
}
on_both_runtimes!(thousand_tasks_inherit_the_value_current_at_spawn);
