//! Many tokio tasks logging concurrently on a multi-thread runtime: each
//! line carries its own task's values, whatever worker polls it.

use std::collections::HashMap;
use std::time::Duration;

use contextvars::ContextVar;
use contextvars_tracing::ContextFields;
use tracing::instrument::WithSubscriber;
use tracing::Dispatch;

use crate::common::{field, json, parse_json, text};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static TASK: ContextVar<usize> = ContextVar::new("task");

const TASKS: usize = 200;
const STEPS: usize = 10;

fn fields() -> ContextFields {
    ContextFields::new().var(&REQUEST_ID).var(&TASK)
}

/// Spawns `TASKS` tasks with `contextvars_tokio::spawn`; each sets `TASK`,
/// then logs `STEPS` events with awaits in between. The root sets
/// `REQUEST_ID`, which the tasks inherit; odd tasks override it.
fn run_tasks(dispatch: Dispatch) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(contextvars_tokio::root(async move {
        REQUEST_ID.set("root".into());
        let handles: Vec<_> = (0..TASKS)
            .map(|task| {
                let log = async move {
                    TASK.set(task);
                    if task % 2 == 1 {
                        REQUEST_ID.set(format!("req-{task}"));
                    }
                    for step in 0..STEPS {
                        tracing::info!(target: "app", spawned = task, step, "step");
                        if step % 3 == 0 {
                            tokio::time::sleep(Duration::from_micros((task % 7) as u64 * 50)).await;
                        } else {
                            tokio::task::yield_now().await;
                        }
                    }
                };
                contextvars_tokio::spawn(log.with_subscriber(dispatch.clone()))
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        // Nothing the tasks set leaked into the root task.
        assert_eq!(REQUEST_ID.get(), "root");
        assert!(TASK.try_get().is_err());
    }));
}

fn expected_request_id(task: usize) -> String {
    if task % 2 == 1 {
        format!("req-{task}")
    } else {
        "root".to_string()
    }
}

#[test]
fn text_lines_of_concurrent_tasks_carry_their_own_task_values() {
    let (dispatch, out) = text(fields());
    run_tasks(dispatch);
    let lines = out.lines();
    assert_eq!(lines.len(), TASKS * STEPS);
    let mut steps: HashMap<usize, usize> = HashMap::new();
    for line in &lines {
        let task: usize = field(line, "task")
            .unwrap_or_else(|| panic!("no task field: {line}"))
            .parse()
            .unwrap();
        assert!(
            line.contains(&format!(" spawned={task} ")),
            "cross-talk: {line}"
        );
        assert_eq!(
            field(line, "request_id"),
            Some(expected_request_id(task)),
            "cross-talk: {line}"
        );
        *steps.entry(task).or_default() += 1;
    }
    assert_eq!(steps.len(), TASKS);
    assert!(steps.values().all(|&n| n == STEPS));
}

#[test]
fn json_lines_of_concurrent_tasks_carry_their_own_task_values() {
    let (dispatch, out) = json(fields());
    run_tasks(dispatch);
    let lines = out.lines();
    assert_eq!(lines.len(), TASKS * STEPS);
    let mut steps: HashMap<u64, usize> = HashMap::new();
    for line in &lines {
        let object = parse_json(line);
        let task = object["fields"]["spawned"].as_u64().unwrap();
        assert_eq!(object["task"], task, "cross-talk: {line}");
        assert_eq!(
            object["request_id"],
            expected_request_id(task as usize),
            "cross-talk: {line}"
        );
        *steps.entry(task).or_default() += 1;
    }
    assert_eq!(steps.len(), TASKS);
    assert!(steps.values().all(|&n| n == STEPS));
}
