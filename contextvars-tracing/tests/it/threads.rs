//! Threads logging at the same time: each line carries its own thread's
//! values.

use std::sync::{Arc, Barrier};

use contextvars::{Context, ContextVar};
use contextvars_tracing::ContextFields;
use tracing::dispatcher::with_default;

use crate::common::{field, json, parse_json, parse_prefix, text};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static WORKER: ContextVar<usize> = ContextVar::new("worker");

const THREADS: usize = 8;
const EVENTS: usize = 200;

fn fields() -> ContextFields {
    ContextFields::new().var(&REQUEST_ID).var(&WORKER)
}

#[test]
fn contextvars_threads_inherit_the_spawner_values_and_keep_their_own() {
    let (dispatch, out) = text(fields());
    Context::new().run(|| {
        REQUEST_ID.set("parent".into());
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|worker| {
                let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
                contextvars::thread::spawn(move || {
                    WORKER.set(worker);
                    barrier.wait();
                    with_default(&dispatch, || {
                        for n in 0..EVENTS {
                            tracing::info!(target: "app", spawned = worker, n, "step");
                        }
                    });
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        // The threads' sets stayed in their copies.
        assert!(WORKER.try_get().is_err());
        with_default(&dispatch, || tracing::info!(target: "app", "parent done"));
    });

    let lines = out.lines();
    assert_eq!(lines.len(), THREADS * EVENTS + 1);
    let mut per_worker = [0; THREADS];
    for line in &lines[..THREADS * EVENTS] {
        let (fields, rest) = parse_prefix(line);
        let worker: usize = fields
            .iter()
            .find(|(n, _)| n == "worker")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or_else(|| panic!("no worker field: {line}"));
        assert_eq!(fields[0], ("request_id".into(), "parent".into()), "{line}");
        assert!(
            rest.contains(&format!(" spawned={worker} ")),
            "cross-talk: {line}"
        );
        per_worker[worker] += 1;
    }
    assert_eq!(per_worker, [EVENTS; THREADS]);
    assert_eq!(
        lines[THREADS * EVENTS],
        "request_id=parent  INFO app: parent done"
    );
}

#[test]
fn plain_threads_start_empty_and_see_only_their_own_values() {
    let (dispatch, out) = text(fields());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|worker| {
            let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
            std::thread::spawn(move || {
                with_default(&dispatch, || {
                    // A new OS thread starts with an empty context.
                    tracing::info!(target: "app", worker, "fresh");
                    REQUEST_ID.set(format!("req-{worker}"));
                    barrier.wait();
                    for n in 0..EVENTS {
                        tracing::info!(target: "app", worker, n, "step");
                    }
                });
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }

    let lines = out.lines();
    assert_eq!(lines.len(), THREADS * (EVENTS + 1));
    let mut fresh = 0;
    for line in &lines {
        if line.contains("fresh") {
            assert!(line.starts_with(" INFO app: fresh"), "{line}");
            fresh += 1;
            continue;
        }
        let request_id = field(line, "request_id").unwrap_or_else(|| panic!("{line}"));
        let worker = request_id.strip_prefix("req-").unwrap();
        assert!(
            line.contains(&format!(" worker={worker} ")),
            "cross-talk: {line}"
        );
        assert_eq!(field(line, "worker"), None, "{line}");
    }
    assert_eq!(fresh, THREADS);
}

#[test]
fn json_lines_from_threads_carry_their_own_values() {
    let (dispatch, out) = json(fields());
    let handles: Vec<_> = (0..THREADS)
        .map(|worker| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                Context::new().run(|| {
                    REQUEST_ID.set(format!("req-{worker}"));
                    WORKER.set(worker);
                    with_default(&dispatch, || {
                        for n in 0..EVENTS {
                            tracing::info!(target: "app", worker, n, "step");
                        }
                    });
                });
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let lines = out.lines();
    assert_eq!(lines.len(), THREADS * EVENTS);
    for line in &lines {
        let object = parse_json(line);
        let worker = object["fields"]["worker"].as_u64().unwrap();
        assert_eq!(object["request_id"], format!("req-{worker}"), "{line}");
        assert_eq!(object["worker"], worker, "{line}");
    }
}
