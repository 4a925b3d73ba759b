//! `--soak`: many requests under injected faults — client cancellations
//! (connections dropped mid-request), handler panics and backend timeouts —
//! then the checks: no cross-talk, no missing ids, every context made for a
//! request gone again, memory stable.
//!
//! The last line is `requests=N ok=N cancelled=N panicked=N cross_talk=0
//! missing=0 live_contexts=0`, where `ok` counts the requests answered
//! correctly (including the `504`s of the injected backend timeouts) and
//! `live_contexts` the contexts still alive after the run beyond those that
//! existed before it.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::*;

/// How an order ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ended {
    /// Answered correctly: a checked `200`, or the `504` of an injected timeout.
    Ok,
    /// The client gave up (injected).
    Cancelled,
    /// The handler panicked (injected) and the request got its `500`.
    Panicked,
    /// Anything else: counted in the line's `missing` or `cross_talk`.
    Failed,
}

/// The request id the server must use for `sent`, when the client can know it.
fn known_id(sent: &Sent) -> Option<&str> {
    match sent {
        Sent::RequestId(id) => Some(id),
        Sent::TraceParent { trace_id } => Some(trace_id),
        Sent::InvalidId(_) | Sent::Nothing => None,
    }
}

/// Checks an order that met an injected fault: every log line it produced
/// carries one request id — the expected one — and one trace id, and the
/// response (if any) carries that id too.
fn check_faulted(
    outcome: &Outcome,
    fault: Fault,
    lines: &[LogLine<'_>],
    tally: &mut Tally,
) -> Ended {
    let (cross_before, missing_before) = (tally.cross_talk, tally.missing);
    let order = outcome.order;
    let expected = known_id(&outcome.sent)
        .or(outcome.header_id.as_deref())
        .or_else(|| lines.iter().find_map(|l| l.request_id));
    let trace = lines.iter().find_map(|l| l.trace_id);
    for line in lines {
        match (line.request_id, expected) {
            (Some(got), Some(want)) if got == want => {}
            (Some(got), _) => tally.cross_talk(format!(
                "order {order} ({fault:?}): log line with id {got:?}"
            )),
            (None, _) => tally.missing(format!(
                "order {order} ({fault:?}): log line without request_id"
            )),
        }
        match (line.trace_id, trace) {
            (Some(got), Some(want)) if got == want => {}
            (Some(got), _) => tally.cross_talk(format!(
                "order {order} ({fault:?}): log line with trace {got:?}"
            )),
            (None, _) => tally.missing(format!(
                "order {order} ({fault:?}): log line without trace_id"
            )),
        }
    }
    if let (Some(header), Some(want)) = (outcome.header_id.as_deref(), expected) {
        if header != want {
            tally.cross_talk(format!("order {order} ({fault:?}): response id {header:?}"));
        }
    }
    let logged = |step: &str| lines.iter().any(|l| l.step == Some(step));
    let ended = match fault {
        Fault::ClientCancel if outcome.cancelled => Ended::Cancelled,
        Fault::Panic if outcome.status == Some(StatusCode::INTERNAL_SERVER_ERROR) => {
            if outcome.header_id.is_none() {
                tally.missing(format!("order {order}: the 500 has no x-request-id"));
            }
            Ended::Panicked
        }
        Fault::Timeout if outcome.status == Some(StatusCode::GATEWAY_TIMEOUT) => {
            if outcome.header_id.is_none() {
                tally.missing(format!("order {order}: the 504 has no x-request-id"));
            }
            if !logged("timeout") {
                tally.missing(format!("order {order}: the timeout was not logged"));
            }
            Ended::Ok
        }
        _ => {
            tally.missing(format!(
                "order {order} ({fault:?}): ended with {:?}, cancelled={}",
                outcome.status, outcome.cancelled
            ));
            Ended::Failed
        }
    };
    // A client may give up before the server even reads its request.
    if fault != Fault::ClientCancel && !logged("received") {
        tally.missing(format!("order {order} ({fault:?}): not even received"));
    }
    if tally.cross_talk == cross_before && tally.missing == missing_before {
        ended
    } else {
        Ended::Failed
    }
}

/// The process's resident memory, in KiB (Linux), if it can be read.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits (up to `limit`) until no more contexts than `baseline` are alive,
/// and returns how many more there are.
async fn settle(baseline: usize, limit: Duration) -> usize {
    let started = Instant::now();
    loop {
        let extra = contextvars::live_contexts().saturating_sub(baseline);
        if extra == 0 || started.elapsed() > limit {
            return extra;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn run(options: &Options) -> ExitCode {
    // Injected panics are expected: keep them off the terminal, count them.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("injected panic"));
        if !injected {
            default_hook(info);
        }
    }));

    let services = match start_services(0, true).await {
        Ok(services) => services,
        Err(err) => {
            eprintln!("cannot start the services: {err}");
            return ExitCode::FAILURE;
        }
    };
    let baseline = contextvars::live_contexts();
    println!(
        "soak: {} orders through {} and {}, {} at a time; every 50 orders one handler \
         panics, one backend call times out and one client hangs up mid-request",
        options.requests, services.frontend, services.backend, options.concurrency
    );

    let mut tally = Tally::default();
    let mut counts: HashMap<Ended, u64> = HashMap::new();
    let mut timeouts = 0u64;
    let mut rss = Vec::new();
    let started = Instant::now();
    // Four quarters, with the logs checked and dropped after each, so that
    // the memory after each quarter is comparable: a leak shows as steady
    // growth, where the allocator's own caching levels off.
    let quarter = options.requests / 4;
    let phases = [
        0..quarter,
        quarter..2 * quarter,
        2 * quarter..3 * quarter,
        3 * quarter..options.requests,
    ];
    for phase in phases {
        let outcomes = drive(&services.frontend, phase.clone(), options.concurrency, true).await;
        // Let cancelled handlers, slow backend calls and their subtasks end.
        settle(baseline, Duration::from_secs(5)).await;
        let log = std::mem::take(&mut *LOG.lock().unwrap());
        let received = std::mem::take(&mut *services.state.received.lock().unwrap());
        let mut by_order: HashMap<u64, Vec<LogLine<'_>>> = HashMap::new();
        for line in log.iter().map(|l| parse_line(l)) {
            if let Some(order) = line.order {
                by_order.entry(order).or_default().push(line);
            }
        }
        if outcomes.len() as u64 != phase.end - phase.start {
            tally.missing(format!(
                "{} of {} orders sent",
                outcomes.len(),
                phase.end - phase.start
            ));
        }
        for outcome in &outcomes {
            let lines = by_order.remove(&outcome.order).unwrap_or_default();
            let ended = match Fault::of(outcome.order) {
                None => {
                    if check_order(outcome, &lines, received.get(&outcome.order), &mut tally) {
                        Ended::Ok
                    } else {
                        Ended::Failed
                    }
                }
                Some(fault) => {
                    let ended = check_faulted(outcome, fault, &lines, &mut tally);
                    if fault == Fault::Timeout && ended == Ended::Ok {
                        timeouts += 1;
                    }
                    ended
                }
            };
            *counts.entry(ended).or_default() += 1;
        }
        for (order, _) in by_order {
            tally.cross_talk(format!("log lines for order {order}, which was not sent"));
        }
        drop(log);
        rss.push(rss_kib());
    }
    let elapsed = started.elapsed();
    let live = settle(baseline, Duration::from_secs(10)).await;

    let count = |e: Ended| counts.get(&e).copied().unwrap_or(0);
    println!(
        "{} orders in {:.1?} ({:.0} requests/s): {} ok (of which {timeouts} backend timeouts \
         answered 504), {} cancelled by the client, {} handler panics answered 500, {} failed",
        options.requests,
        elapsed,
        options.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        count(Ended::Ok),
        count(Ended::Cancelled),
        count(Ended::Panicked),
        count(Ended::Failed),
    );
    match rss.iter().copied().collect::<Option<Vec<u64>>>() {
        Some(kib) => println!(
            "memory (resident, after each quarter, its logs checked and dropped): {} KiB",
            kib.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => println!("memory: not readable on this system"),
    }
    println!(
        "contexts alive: {} before the run, {} extra after it",
        baseline, live
    );
    for problem in &tally.problems {
        println!("problem: {problem}");
    }
    println!(
        "requests={} ok={} cancelled={} panicked={} cross_talk={} missing={} live_contexts={}",
        options.requests,
        count(Ended::Ok),
        count(Ended::Cancelled),
        count(Ended::Panicked),
        tally.cross_talk,
        tally.missing,
        live
    );
    let all_accounted =
        count(Ended::Ok) + count(Ended::Cancelled) + count(Ended::Panicked) == options.requests;
    if all_accounted && tally.cross_talk == 0 && tally.missing == 0 && live == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
