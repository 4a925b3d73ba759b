//! Two threads, each in a copy of the main thread's context, set and read
//! the same variables concurrently and never see each other's values; the
//! main thread never sees theirs.
//!
//! Run with `cargo run --release -p contextvars --example isolation`.

use std::process::ExitCode;
use std::sync::{Arc, Barrier};

use contextvars::{copy_context, ContextVar};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&str> = ContextVar::with_default("user", || "anonymous");

const ROUNDS: usize = 100_000;

/// Deep in the call stack: no parameters, the context carries the values.
fn log_line(step: usize) -> String {
    format!(
        "request_id={} user={} step={step}",
        REQUEST_ID.get(),
        USER.get()
    )
}

fn worker(name: &'static str, start: Arc<Barrier>) -> usize {
    // Inherited from the main thread, copied when the thread was spawned.
    println!("[{name}] inherited: {}", log_line(0));
    USER.set(name);
    start.wait();
    let mut cross_talk = 0;
    for round in 0..ROUNDS {
        let id = format!("{name}-{round}");
        let token = REQUEST_ID.set(id.clone());
        std::thread::yield_now();
        if REQUEST_ID.get() != id || USER.get() != name {
            cross_talk += 1;
        }
        REQUEST_ID
            .reset(&token)
            .expect("token made here, in this context");
    }
    println!("[{name}] after {ROUNDS} rounds: {}", log_line(ROUNDS));
    cross_talk
}

fn main() -> ExitCode {
    REQUEST_ID.set("main".to_string());
    let snapshot = copy_context();
    println!("[main] {}", log_line(0));

    let start = Arc::new(Barrier::new(2));
    let threads: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|name| {
            let start = start.clone();
            contextvars::thread::spawn(move || worker(name, start))
        })
        .collect();
    let cross_talk: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();

    // The workers' sets stayed in their own copies.
    let main_unchanged = REQUEST_ID.get() == "main" && USER.get() == "anonymous";
    // A copy is a snapshot: later sets in the main context do not reach it.
    REQUEST_ID.set("main-later".to_string());
    let snapshot_unchanged = snapshot.run(|| REQUEST_ID.get() == "main");
    println!("[main] {}", log_line(1));
    println!("[main] snapshot taken before the threads: {snapshot:?}");
    println!("[main] current context now: {:?}", copy_context());

    let ok = cross_talk == 0 && main_unchanged && snapshot_unchanged;
    println!(
        "threads=2 rounds={ROUNDS} cross_talk={cross_talk} main_unchanged={main_unchanged} snapshot_unchanged={snapshot_unchanged}"
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
