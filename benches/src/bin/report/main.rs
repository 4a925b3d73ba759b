//! The side-by-side report: `cargo run --release -p contextvars-benches --bin report`.
//!
//! Times `contextvars` and its alternatives in one process (see
//! `contextvars_benches::harness` for the method): reads (a `u64`, stored
//! inline, by value and borrowed; a `String`, shared behind an `Arc`, as its
//! `Arc`), writes (set + reset of an inline `u64` and of a `String` in its
//! `Arc`, in an unshared context and right after a copy), copies, `run`,
//! polls, spawns (`async {}` and a 512-byte future, on a current_thread and
//! a multi_thread runtime) and the request-context middleware called in
//! process (`http.rs`), each beside `thread_local!`, tokio's `task_local!`,
//! OpenTelemetry's `Context`, tokio's own `spawn` or tower-http's
//! request-id layers, and reference rows that show what an operation's
//! parts cost alone (an `Arc` allocation, the least a safe map read can do).
//! It times CPython's `contextvars` through `python3` when it is installed,
//! and measures the requests per second of a minimal axum app with and
//! without `contextvars_tower::RequestContextLayer` on loopback, with
//! tower-http's request-id layers as a reference, for information.
//!
//! It prints one table per group (ns per operation, allocations per
//! operation, ratio to each baseline of the group), the CPython and HTTP
//! tables, the definitions of the summary ratios with their targets and the
//! checks (allocation-free reads, copies and inline writes; a write among
//! 1,024 variables under a microsecond), and ends with exactly one line:
//!
//! ```text
//! get_vs_otel=R get_vs_cpython=R set_reset_vs_otel=R set_reset_arc_vs_otel=R copy_flat=R poll_vs_task_local=R spawn_vs_tokio=R http_added_vs_tower_http=R
//! ```
//!
//! | key | ours / theirs, medians of the same run | target |
//! |---|---|---:|
//! | `get_vs_otel` | `VAR.get()` of a `u64` (row `get.value.1`) / OpenTelemetry `Context::map_current(\|c\| c.get::<T>().copied())` (`otel.map_current`) | ≤ 0.5 |
//! | `get_vs_cpython` | the same `get()` / CPython's `var.get()` net of `timeit`'s loop | ≤ 0.25 |
//! | `set_reset_vs_otel` | set + reset of a `u64`, unshared context (`set_reset.inline.unshared.1`) / `current_with_value(v).attach()` + drop (`otel.set_reset`) | ≤ 0.3 |
//! | `set_reset_arc_vs_otel` | the same with a `String` (`set_reset.arc.unshared.1` / `otel.set_reset.string`) | ≤ 0.55 |
//! | `copy_flat` | `copy_context()` at 1,024 variables / at 1 (`copy.1024` / `copy.1`) | ≤ 1.2 |
//! | `poll_vs_task_local` | one poll of `WithContext`, a task's root (`poll.with_context.1`) / of a `task_local` scope (`poll.task_local`) | ≤ 1.5 |
//! | `spawn_vs_tokio` | `contextvars_tokio::spawn(f).await` / `tokio::spawn(f).await`, `f` a 512-byte future, the worse of the two runtime flavours (`spawn.{ct,mt}.contextvars.fut512` / `spawn.{ct,mt}.tokio.fut512`) | ≤ 1.08 |
//! | `http_added_vs_tower_http` | in process: (`http.inproc.layered` − `http.inproc.bare`) / (`http.inproc.tower_http` − `http.inproc.bare`) | ≤ 1.0 |
//!
//! Build with `RUSTFLAGS="--cfg tokio_unstable"` to include the automatic
//! (task-hook) mode of `contextvars-tokio`.
//!
//! For profilers: `report --only ID [ITERATIONS]` runs the one benchmark whose
//! id is `ID` (ids are listed by `report --list`) for `ITERATIONS` iterations
//! (default 1,000,000) and prints its time, e.g.
//! `valgrind --tool=callgrind target/release/report --only poll.with_context.1 100000`.
//! `report --only http [ROUNDS]` runs the HTTP comparison alone, with
//! `ROUNDS` recorded rounds per server (default as in the report).
//!
//! The process exits with status 1, after printing the report, if a request
//! of the HTTP comparison failed.

mod alloc;
mod http;
mod suite;

use std::io::Write as _;
use std::time::Instant;

use contextvars_benches::cpython::{self, PyReport};
use contextvars_benches::harness::{measure, AllocProbe, Config, Measured, MeasuredGroup, Role};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// One ratio of the summary line.
struct Ratio {
    key: &'static str,
    /// Exactly what is divided by what.
    definition: &'static str,
    target: Option<Target>,
    value: Option<f64>,
    /// What the value is made of, when it is more than one quotient.
    detail: Option<String>,
}

/// The bound a ratio must stay within.
#[derive(Clone, Copy)]
enum Target {
    /// The ratio must be at most this (a time of ours over theirs).
    AtMost(f64),
}

impl Target {
    fn met(self, value: f64) -> bool {
        match self {
            Target::AtMost(t) => value <= t,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AtMost(t) => write!(f, "≤ {t}"),
        }
    }
}

/// `get_vs_otel`: our read by value (`VAR.get()` of a `u64`, stored inline)
/// in a context of 1 variable / OpenTelemetry's
/// `Context::map_current(|c| c.get::<T>().copied())` (`T` a `u64` newtype)
/// with one entry attached. Both return a copy of the value.
const GET_VS_OTEL: &str = "median of u64 `VAR.get()` (by value) [1 var] / median of OTel \
    `Context::map_current(|c| c.get::<T>().copied())`, T a u64 newtype [1 entry]";
/// `get_vs_cpython`: the same read / CPython's `var.get()` in a context of 1
/// variable, minus `timeit`'s empty-loop time (`pass`).
const GET_VS_CPYTHON: &str = "median of u64 `VAR.get()` (by value) [1 var] / (median of \
    CPython `var.get()` [1 var] - median of timeit `pass`)";
/// `set_reset_vs_otel`: our `var.reset(&var.set(v))` of a `u64` (stored
/// inline, no allocation) in an unshared context of 1 variable /
/// OpenTelemetry's `Context::current_with_value(v).attach()` followed by
/// dropping the guard, overwriting an entry of the same type (a `u64`
/// newtype) in a context of one entry.
const SET_RESET_VS_OTEL: &str = "median of u64 `var.reset(&var.set(v))`, unshared context [1 \
    var] / median of OTel `Context::current_with_value(v).attach()` + drop guard, v a u64 \
    newtype [1 entry, same type]";
/// `set_reset_arc_vs_otel`: the same with a `String` value (`String::new()`,
/// which allocates no buffer: the value's `Arc` is our one allocation) /
/// OpenTelemetry's write of a `String` newtype.
const SET_RESET_ARC_VS_OTEL: &str = "median of String `var.reset(&var.set(String::new()))` (the \
    value's Arc allocated), unshared context [1 var] / median of OTel \
    `Context::current_with_value(v).attach()` + drop guard, v a String newtype [1 entry, same \
    type]";
/// `copy_flat`: `copy_context()` (+drop) in a context of 1,024 variables /
/// the same in a context of 1 variable.
const COPY_FLAT: &str =
    "median of `copy_context()` [1024 vars] / median of `copy_context()` [1 var]";
/// `poll_vs_task_local`: gross time of one poll of `WithContext` (owned
/// context of 1 variable, marked as a task's root with
/// `WithContext::task_root`) around `AlwaysPending` / gross time of one poll of tokio's
/// `TL.scope(1u64, AlwaysPending)`; both polled with `Waker::noop()` and no
/// runtime, the inner future's own poll included.
const POLL_VS_TASK_LOCAL: &str = "median per-poll time of `WithContext` (owned context, 1 var, \
    a task's root: row poll.with_context.1) around AlwaysPending / median per-poll time of \
    tokio `task_local` u64 `KEY.scope(v, AlwaysPending)`; same hand-written always-Pending \
    future, Waker::noop(), no runtime";
/// `spawn_vs_tokio`: `contextvars_tokio::spawn(f).await` /
/// `tokio::spawn(f).await`, `f` a 512-byte future ready at its first poll,
/// both looped by the same spawner inside a `contextvars_tokio::root`
/// context that binds one variable; the larger of the ratios on a
/// current_thread runtime and on a multi_thread runtime (spawned from a
/// worker).
const SPAWN_VS_TOKIO: &str = "median of `contextvars_tokio::spawn(f).await` / median of \
    `tokio::spawn(f).await`, f a 512-byte future, same spawner (a root context binding 1 \
    var); the worse of the current_thread and multi_thread (2 workers, spawned from a \
    worker) runtimes";
/// `http_added_vs_tower_http`: what `RequestContextLayer` adds to a request
/// over bare axum / what tower-http's `SetRequestIdLayer` +
/// `PropagateRequestIdLayer` add, in process (`Service::call`, no sockets),
/// with the same header mix.
const HTTP_ADDED_VS_TOWER_HTTP: &str = "in process (`Service::call`, same header mix): \
    (median of axum + RequestContextLayer - median of bare axum) / (median of axum + \
    tower-http SetRequestId + PropagateRequestId - median of bare axum)";

fn main() {
    let started = Instant::now();
    // Linked with contextvars-tokio, `set` asks tokio whether it runs in a
    // task (the core's `tokio` feature): measured as deployed.
    let _ = contextvars_benches::fixtures::vars();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--list") => return list(),
        Some("--only") => return only(&args[1..]),
        Some(other) => {
            eprintln!(
                "unknown argument {other:?}; usage: report [--list | --only ID [ITERATIONS]]"
            );
            std::process::exit(2);
        }
        None => {}
    }

    let config = Config::default();
    let probe: AllocProbe<'_> = &alloc::count_allocs;
    let mut groups = Vec::new();
    for group in suite::groups() {
        eprintln!(
            "[{:5.1}s] measuring {} ({} benchmarks)",
            started.elapsed().as_secs_f64(),
            group.title,
            group.benches.len()
        );
        groups.push(measure(group, &config, Some(probe)));
    }
    eprintln!(
        "[{:5.1}s] timing CPython through python3",
        started.elapsed().as_secs_f64()
    );
    let python = cpython::run(config.reps, config.rep_target);
    eprintln!(
        "[{:5.1}s] measuring HTTP: axum bare, behind RequestContextLayer and behind tower-http",
        started.elapsed().as_secs_f64()
    );
    let http = http::measure(http::ROUNDS, Some(probe));
    if let Err(err) = &http {
        eprintln!("HTTP comparison FAILED: {err}");
    }

    let mut out = String::new();
    header(&mut out, &config);
    for group in &groups {
        table(&mut out, group);
    }
    if !suite::AUTO_MODE {
        out.push_str(
            "## automatic mode (tokio_unstable task hooks)\n\nNot measured: build with \
             `RUSTFLAGS=\"--cfg tokio_unstable\"` (e.g. with CARGO_TARGET_DIR=target/unstable).\n\n",
        );
    }
    python_table(&mut out, &groups, python.as_ref());
    http_table(&mut out, http.as_ref());

    let ratios = ratios(&groups, python.as_ref().ok());
    checks(&mut out, &groups, &ratios);
    out.push_str(&format!(
        "Total time of the report: {:.1} s.\n\n",
        started.elapsed().as_secs_f64()
    ));
    let last: Vec<String> = ratios
        .iter()
        .map(|r| format!("{}={}", r.key, fmt_ratio(r.value)))
        .collect();
    out.push_str(&last.join(" "));
    out.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .expect("write the report to stdout");
    drop(stdout);
    if http.is_err() {
        std::process::exit(1);
    }
}

/// Prints the id and name of every benchmark.
fn list() {
    for group in suite::groups() {
        for bench in group.benches {
            println!("{}\t{}", bench.id, bench.name);
        }
    }
    println!(
        "http\trequests/s of axum, bare, behind RequestContextLayer and behind tower-http's \
         request-id layers (interleaved rounds)"
    );
}

/// Runs one benchmark once, for a profiler.
fn only(args: &[String]) {
    let Some(id) = args.first() else {
        eprintln!("usage: report --only ID [ITERATIONS]");
        std::process::exit(2);
    };
    if id == "http" {
        return only_http(args.get(1));
    }
    let iters: u64 = match args.get(1).map(|n| n.parse()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(err)) => {
            eprintln!("bad iteration count: {err}");
            std::process::exit(2);
        }
    };
    let Some(mut bench) = suite::groups()
        .into_iter()
        .flat_map(|g| g.benches)
        .find(|b| b.id == *id)
    else {
        eprintln!("no benchmark with id {id:?}; see report --list");
        std::process::exit(2);
    };
    let elapsed = bench.run(iters);
    println!(
        "{}: {} iterations, {:.2} ns/op",
        bench.name,
        iters,
        elapsed.as_secs_f64() * 1e9 / iters as f64
    );
}

/// Runs the HTTP comparison alone, with `rounds` rounds per server.
fn only_http(rounds: Option<&String>) {
    let rounds = match rounds.map(|n| n.parse()) {
        None => http::ROUNDS,
        Some(Ok(n)) => n,
        Some(Err(err)) => {
            eprintln!("bad round count: {err}");
            std::process::exit(2);
        }
    };
    match http::measure(rounds, Some(&alloc::count_allocs)) {
        Ok(h) => {
            let bare = h.run(http::Setup::Bare).throughput.median_rps;
            for run in &h.runs {
                let t = &run.throughput;
                println!(
                    "{:<17} {:>7.0} requests/s ({:.0} – {:.0}), {} allocs/request, vs bare {} \
                     (paired {})",
                    run.setup.name(),
                    t.median_rps,
                    t.min_rps,
                    t.max_rps,
                    fmt_allocs(t.allocs_per_request),
                    fmt_ratio(Some(t.median_rps / bare)),
                    fmt_ratio(Some(run.paired_vs_bare)),
                );
            }
            println!(
                "(medians of {} rounds of {} ms, {} connections): http_vs_bare={} (paired {}), \
                 {:.1} s",
                h.rounds,
                h.round.as_millis(),
                h.connections,
                fmt_ratio(Some(h.ratio())),
                fmt_ratio(Some(h.paired_ratio())),
                h.elapsed.as_secs_f64()
            );
        }
        Err(err) => {
            eprintln!("HTTP comparison FAILED: {err}");
            std::process::exit(1);
        }
    }
}

fn header(out: &mut String, config: &Config) {
    out.push_str("# contextvars: side-by-side report\n\n");
    out.push_str(&format!(
        "Method: each benchmark calibrated to ~{} ms per repetition (at most {} iterations), \
         one warm-up round, then {} repetitions interleaved round-robin within each group, \
         each round at another depth of the stack (so that no median hangs on one placement \
         of the loop's frame against the thread-locals); ns/op is the median (min in \
         parentheses). Ratios are median / median of the named \
         baseline, in the same run. allocs/op: heap allocations per operation, counted in a \
         separate untimed pass (difference of a 2,100- and a 100-iteration run). {} CPUs; \
         automatic mode {}.\n\n",
        config.rep_target.as_millis(),
        config.max_iters,
        config.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if suite::AUTO_MODE {
            "measured (built with --cfg tokio_unstable)"
        } else {
            "not built"
        },
    ));
}

fn fmt_ns(ns: f64) -> String {
    if ns < 10.0 {
        format!("{ns:.2}")
    } else if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r < 0.1 => format!("{r:.3}"),
        Some(r) => format!("{r:.2}"),
        None => "NA".into(),
    }
}

fn fmt_allocs(a: Option<f64>) -> String {
    match a {
        Some(a) if a == a.round() => format!("{a:.0}"),
        Some(a) => format!("{a:.2}"),
        None => "-".into(),
    }
}

fn table(out: &mut String, group: &MeasuredGroup) {
    let baselines: Vec<(&'static str, f64)> = group
        .rows
        .iter()
        .filter_map(|r| match r.role {
            Role::Baseline(label) => Some((label, r.median_ns)),
            _ => None,
        })
        .collect();
    out.push_str(&format!("## {}\n\n{}\n\n", group.title, group.note));
    out.push_str("| | benchmark | ns/op median (min) | allocs/op |");
    for (label, _) in &baselines {
        out.push_str(&format!(" vs {label} |"));
    }
    out.push_str("\n|---|---|---:|---:|");
    for _ in &baselines {
        out.push_str("---:|");
    }
    out.push('\n');
    for row in &group.rows {
        let tag = match row.role {
            Role::Ours => "**ours**",
            Role::Baseline(_) => "baseline",
            Role::Info => "",
        };
        out.push_str(&format!(
            "| {tag} | {} | {} ({}) | {} |",
            row.name,
            fmt_ns(row.median_ns),
            fmt_ns(row.min_ns),
            fmt_allocs(row.allocs_per_op)
        ));
        for (_, base) in &baselines {
            out.push_str(&format!(" {:.2}x |", row.median_ns / base));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn find<'a>(groups: &'a [MeasuredGroup], id: &str) -> Option<&'a Measured> {
    groups.iter().flat_map(|g| &g.rows).find(|r| r.id == id)
}

fn median_of(groups: &[MeasuredGroup], id: &str) -> Option<f64> {
    find(groups, id).map(|r| r.median_ns)
}

fn python_table(out: &mut String, groups: &[MeasuredGroup], python: Result<&PyReport, &String>) {
    out.push_str("## CPython contextvars (python3 subprocess, timeit)\n\n");
    let py = match python {
        Ok(py) => py,
        Err(err) => {
            out.push_str(&format!("Not measured: {err}.\n\n"));
            return;
        }
    };
    out.push_str(&format!(
        "CPython {}. \"net\" = median - median of `pass` (timeit's loop); for `ctx.run(f)`, \
         net = median - median of a bare `f()` call. Ratio = our median / CPython net.\n\n",
        py.version
    ));
    out.push_str(
        "| CPython statement | CPython ns median (min) | net ns | ours | our ns | ours / CPython net |\n\
         |---|---:|---:|---|---:|---:|\n",
    );
    let rows: [(&str, &str, &str); 12] = [
        ("pass", "timeit loop overhead: `pass`", ""),
        ("get.1", "`var.get()` [1 var]", "get.value.1"),
        ("get.1", "`var.get()` [1 var]", "get.with.1"),
        ("get.1", "`var.get()` [1 var]", "get.arc.1"),
        ("get.1024", "`var.get()` [1024 vars]", "get.value.1024"),
        (
            "get_default.1",
            "`var.get()` unset, default [1 var]",
            "get_default.value.1",
        ),
        (
            "set_reset.1",
            "`var.reset(var.set(1))` [1 var]",
            "set_reset.inline.unshared.1",
        ),
        (
            "set_reset.1",
            "`var.reset(var.set(1))` [1 var]",
            "set_reset.arc.unshared.1",
        ),
        (
            "set_reset.16",
            "`var.reset(var.set(1))` [16 vars]",
            "set_reset.inline.unshared.16",
        ),
        (
            "set_reset.1024",
            "`var.reset(var.set(1))` [1024 vars]",
            "set_reset.inline.unshared.1024",
        ),
        ("copy.1", "`copy_context()` [1 var]", "copy.1"),
        ("copy.1024", "`copy_context()` [1024 vars]", "copy.1024"),
    ];
    let run_net = match (py.row("run.1"), py.row("call.1")) {
        (Some(run), Some(call)) => Some((run.median_ns - call.median_ns).max(0.0)),
        _ => None,
    };
    let all = rows.iter().map(|&(id, label, ours)| {
        let net = if id == "pass" { None } else { py.net(id) };
        (id, label.to_string(), ours, net)
    });
    let all = all.chain(std::iter::once((
        "run.1",
        "`snap.run(f)` no-op f, net of `f()` [1 var]".to_string(),
        "run.1",
        run_net,
    )));
    for (id, label, ours, net) in all {
        let Some(row) = py.row(id) else { continue };
        let our = find(groups, ours);
        out.push_str(&format!(
            "| {label} | {} ({}) | {} | {} | {} | {} |\n",
            fmt_ns(row.median_ns),
            fmt_ns(row.min_ns),
            net.map_or("-".into(), fmt_ns),
            our.map_or(String::new(), |r| r.name.clone()),
            our.map_or("-".into(), |r| fmt_ns(r.median_ns)),
            match (our, net) {
                (Some(r), Some(net)) if net > 0.0 => format!("{:.3}", r.median_ns / net),
                _ => "-".into(),
            }
        ));
    }
    out.push('\n');
}

/// How the `## HTTP` section names each configuration: its role, its row
/// name, and what it does.
fn http_setup(setup: http::Setup) -> (&'static str, &'static str, &'static str) {
    match setup {
        http::Setup::Bare => (
            "baseline",
            "bare axum",
            "no middleware; the handler returns the body",
        ),
        http::Setup::Layered => (
            "**ours**",
            "axum + RequestContextLayer, handler reads REQUEST_ID",
            "`RequestContextLayer::new()`, which per request parses `x-request-id`, \
             `traceparent`, `tracestate` and `baggage`, takes the id from `x-request-id`, else \
             the trace id of `traceparent`, else makes a UUIDv7, runs the handler in a fresh \
             context with 3 variables set, puts `RequestId`, `TraceContext` and `Baggage` in \
             the request's extensions and echoes the id as a response header and in the \
             response's extensions; the handler reads `REQUEST_ID`",
        ),
        http::Setup::TowerHttp => (
            "reference",
            "axum + tower-http SetRequestId(MakeRequestUuid) + PropagateRequestId, handler \
             reads RequestId",
            "the conventional request-id middleware: tower-http's \
             `SetRequestIdLayer::x_request_id(MakeRequestUuid)` takes `x-request-id` if \
             present, else makes a UUIDv4, and puts it in the request's header and \
             extensions; inside it `PropagateRequestIdLayer::x_request_id()` copies the \
             request's `x-request-id` to the response's header and extensions. No trace \
             context, baggage or context variables; the handler reads `RequestId` from the \
             request's extensions",
        ),
        http::Setup::LayeredNoEcho => (
            "ours",
            "axum + RequestContextLayer, echo_request_id(false), handler reads REQUEST_ID",
            "`RequestContextLayer::new().echo_request_id(false)`, the same layer without the \
             `x-request-id` response header (the id still goes in the response's \
             extensions); the handler reads `REQUEST_ID`",
        ),
    }
}

/// The `## HTTP` section: the set-up, one row per server, or the failure.
fn http_table(out: &mut String, http: Result<&http::HttpResult, &String>) {
    out.push_str(
        "## HTTP: minimal axum app, bare, behind RequestContextLayer, and behind tower-http's \
         request-id layers\n\n",
    );
    let h = match http {
        Ok(h) => h,
        Err(err) => {
            out.push_str(&format!("**FAILED**: {err}.\n\n"));
            return;
        }
    };
    out.push_str(&format!(
        "{} axum servers on 127.0.0.1 answer `GET /` with the same 2-byte body; they differ \
         only in the middleware and the handler:\n\n",
        h.runs.len()
    ));
    for run in &h.runs {
        let (_, _, what) = http_setup(run.setup);
        out.push_str(&format!("- {}: {what}.\n", run.setup.name()));
    }
    out.push_str(&format!(
        "\nServers and load generator share one multi_thread tokio runtime ({} workers). The \
         load: {} keep-alive HTTP/1.1 connections per server (hyper `client::conn::http1`), one \
         request in flight on each; the requests cycle through the same 64 header sets for all \
         servers: 4 in 8 with a valid `x-request-id`, 1 in 8 with a `traceparent`, 1 in 8 with \
         `traceparent` + `tracestate` + `baggage`, 2 in 8 with none (RequestContextLayer makes \
         the id and a new trace; tower-http, which ignores trace headers, makes an id for all 4 \
         in 8 without `x-request-id`). Every response is checked (200, body, `x-request-id` \
         echoed exactly by the setups that echo it: layered and tower-http); one failure fails \
         the comparison. One warm-up round each, then {} cycles of one round of {} ms per \
         server, the order within a cycle rotating (Williams design: every server in every \
         position, and right after every other server, equally often); requests/s is the \
         median over a server's rounds (slowest and fastest round in parentheses). \
         allocs/request: client and server together, in a separate untimed pass. vs bare: \
         ratio of the medians; paired: median over the cycles of the ratio within a cycle.\n\n",
        h.workers,
        h.connections,
        h.rounds,
        h.round.as_millis(),
    ));
    out.push_str(
        "| | server | requests/s median (min – max) | requests | allocs/request | vs bare | \
         paired |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    let bare = h.run(http::Setup::Bare).throughput.median_rps;
    for run in &h.runs {
        let (tag, name, _) = http_setup(run.setup);
        let t = &run.throughput;
        out.push_str(&format!(
            "| {tag} | {name} | {:.0} ({:.0} – {:.0}) | {} | {} | {:.3} | {:.3} |\n",
            t.median_rps,
            t.min_rps,
            t.max_rps,
            t.requests,
            fmt_allocs(t.allocs_per_request),
            t.median_rps / bare,
            run.paired_vs_bare,
        ));
    }
    out.push_str(&format!(
        "\nhttp_vs_bare = {} (ratio of the medians, layered / bare); median of the per-cycle \
         ratios: {}. The comparison took {:.1} s.\n\n",
        fmt_ratio(Some(h.ratio())),
        fmt_ratio(Some(h.paired_ratio())),
        h.elapsed.as_secs_f64(),
    ));
}

fn ratios(groups: &[MeasuredGroup], python: Option<&PyReport>) -> Vec<Ratio> {
    let div = |a: &str, b: &str| Some(median_of(groups, a)? / median_of(groups, b)?);
    let spawn_ct = div("spawn.ct.contextvars.fut512", "spawn.ct.tokio.fut512");
    let spawn_mt = div("spawn.mt.contextvars.fut512", "spawn.mt.tokio.fut512");
    let http_added = || {
        let bare = median_of(groups, "http.inproc.bare")?;
        let ours = median_of(groups, "http.inproc.layered")? - bare;
        let theirs = median_of(groups, "http.inproc.tower_http")? - bare;
        (theirs > 0.0).then(|| ours / theirs)
    };
    vec![
        Ratio {
            key: "get_vs_otel",
            definition: GET_VS_OTEL,
            target: Some(Target::AtMost(0.5)),
            value: div("get.value.1", "otel.map_current"),
            detail: None,
        },
        Ratio {
            key: "get_vs_cpython",
            definition: GET_VS_CPYTHON,
            target: Some(Target::AtMost(0.25)),
            value: python.and_then(|py| {
                let net = py.net("get.1").filter(|&net| net > 0.0)?;
                Some(median_of(groups, "get.value.1")? / net)
            }),
            detail: None,
        },
        Ratio {
            key: "set_reset_vs_otel",
            definition: SET_RESET_VS_OTEL,
            target: Some(Target::AtMost(0.3)),
            value: div("set_reset.inline.unshared.1", "otel.set_reset"),
            detail: None,
        },
        Ratio {
            key: "set_reset_arc_vs_otel",
            definition: SET_RESET_ARC_VS_OTEL,
            target: Some(Target::AtMost(0.55)),
            value: div("set_reset.arc.unshared.1", "otel.set_reset.string"),
            detail: None,
        },
        Ratio {
            key: "copy_flat",
            definition: COPY_FLAT,
            target: Some(Target::AtMost(1.2)),
            value: div("copy.1024", "copy.1"),
            detail: None,
        },
        Ratio {
            key: "poll_vs_task_local",
            definition: POLL_VS_TASK_LOCAL,
            target: Some(Target::AtMost(1.5)),
            value: div("poll.with_context.1", "poll.task_local"),
            detail: None,
        },
        Ratio {
            key: "spawn_vs_tokio",
            definition: SPAWN_VS_TOKIO,
            target: Some(Target::AtMost(1.08)),
            value: spawn_ct.zip(spawn_mt).map(|(ct, mt)| ct.max(mt)),
            detail: Some(format!(
                "current_thread {}, multi_thread {}",
                fmt_ratio(spawn_ct),
                fmt_ratio(spawn_mt)
            )),
        },
        Ratio {
            key: "http_added_vs_tower_http",
            definition: HTTP_ADDED_VS_TOWER_HTTP,
            target: Some(Target::AtMost(1.0)),
            value: http_added(),
            detail: None,
        },
    ]
}

/// The verdict of a check: met, missed or not measured.
fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**MISSED**",
        None => "not measured",
    }
}

/// One row of the summary for an allocation-free claim: every row of ours
/// whose id starts with one of `prefixes` makes no allocation.
fn alloc_check(out: &mut String, groups: &[MeasuredGroup], what: &str, prefixes: &[&str]) {
    let rows: Vec<&Measured> = groups
        .iter()
        .flat_map(|g| &g.rows)
        .filter(|r| r.role == Role::Ours && prefixes.iter().any(|p| r.id.starts_with(p)))
        .collect();
    let allocating: Vec<String> = rows
        .iter()
        .filter(|r| r.allocs_per_op.is_some_and(|a| a > 0.0))
        .map(|r| format!("{} ({} allocs/op)", r.name, fmt_allocs(r.allocs_per_op)))
        .collect();
    let counted = rows.iter().all(|r| r.allocs_per_op.is_some()) && !rows.is_empty();
    out.push_str(&format!(
        "| allocations | {what}: allocations per op ({} rows: {}) | {} | 0 | {} |\n",
        rows.len(),
        prefixes
            .iter()
            .map(|p| format!("`{p}*`"))
            .collect::<Vec<_>>()
            .join(", "),
        if allocating.is_empty() {
            "0".to_string()
        } else {
            allocating.join("; ")
        },
        verdict(counted.then_some(allocating.is_empty())),
    ));
}

fn checks(out: &mut String, groups: &[MeasuredGroup], ratios: &[Ratio]) {
    out.push_str("## Summary ratios (ours / theirs) and targets\n\n");
    out.push_str("| ratio | definition | value | target | |\n|---|---|---:|---:|---|\n");
    for r in ratios {
        let value = match &r.detail {
            Some(detail) => format!("{} ({detail})", fmt_ratio(r.value)),
            None => fmt_ratio(r.value),
        };
        out.push_str(&format!(
            "| {} | {} | {value} | {} | {} |\n",
            r.key,
            r.definition,
            r.target.map_or("-".into(), |t| t.to_string()),
            match r.target {
                Some(t) => verdict(r.value.map(|v| t.met(v))),
                None => "",
            },
        ));
    }
    alloc_check(
        out,
        groups,
        "`get` by value of a u64, `with`, `get_arc` of a shared value, `copy_context` and \
         `child_context` (all variables inherited)",
        &[
            "get.value.",
            "get.with.",
            "get.arc.",
            "get_default.",
            "copy.",
            "child_context.",
        ],
    );
    alloc_check(
        out,
        groups,
        "set + reset of an inline value (u64) in an unshared context",
        &["set_reset.inline.unshared.", "scope.inline."],
    );
    for (id, what) in [
        (
            "set_reset.inline.unshared.1024",
            "u64 set + reset, unshared [1024 vars]",
        ),
        (
            "set_reset.arc.unshared.1024",
            "String set + reset, unshared [1024 vars]",
        ),
        (
            "set_reset.inline.after_copy.1024",
            "u64 copy + set + reset right after the copy [1024 vars]",
        ),
        (
            "set_reset.arc.after_copy.1024",
            "String copy + set + reset right after the copy [1024 vars]",
        ),
    ] {
        let ns = median_of(groups, id);
        out.push_str(&format!(
            "| set at 1024 vars | {what}, median ns | {} | < 1000 ns | {} |\n",
            ns.map_or("NA".into(), fmt_ns),
            verdict(ns.map(|ns| ns < 1000.0)),
        ));
    }
    out.push('\n');
}
