//! CPython's `contextvars`, timed by a small `timeit` script in a `python3`
//! subprocess, with the same method as the Rust side: calibrated
//! repetitions, one warm-up round, then interleaved rounds, medians.
//!
//! Each statement runs inside a context that holds `n` variables (entered
//! with `Context.run`), like the Rust benchmark it is compared with. The
//! timed objects are locals of the timed function (`timeit`'s `setup`), as
//! with `python -m timeit -s`. The `pass` row is `timeit`'s own loop
//! overhead; [`PyReport::net`] subtracts it.

use std::process::Command;
use std::time::Duration;

/// The script. Arguments: repetitions, target seconds per repetition.
/// Output: a `version` line, then one `id median_ns min_ns` line per case.
const SCRIPT: &str = r#"
import contextvars, sys, timeit

REPS = int(sys.argv[1])
TARGET = float(sys.argv[2])
VARS = [contextvars.ContextVar(f"var{i}") for i in range(1024)]
DEFAULTED = contextvars.ContextVar("defaulted", default=7)

def ctx_with(n):
    ctx = contextvars.Context()
    def fill():
        for i, v in enumerate(VARS[:n]):
            v.set(i)
    ctx.run(fill)
    return ctx

def noop():
    pass

SETUP = "v = V; d = D; copy_context = cc; snap = S; f = F"

# id, context size, statement
CASES = [
    ("pass", 1, "pass"),
    ("get.1", 1, "v.get()"),
    ("get.1024", 1024, "v.get()"),
    ("get_default.1", 1, "d.get()"),
    ("set_reset.1", 1, "v.reset(v.set(1))"),
    ("set_reset.16", 16, "v.reset(v.set(1))"),
    ("set_reset.1024", 1024, "v.reset(v.set(1))"),
    ("copy.1", 1, "copy_context()"),
    ("copy.1024", 1024, "copy_context()"),
    ("call.1", 1, "f()"),
    ("run.1", 1, "snap.run(f)"),
]

timers = []
for cid, n, stmt in CASES:
    g = {"V": VARS[n - 1], "D": DEFAULTED, "cc": contextvars.copy_context,
         "S": ctx_with(1), "F": noop}
    timer = timeit.Timer(stmt, SETUP, globals=g)
    ctx = ctx_with(n)
    per = ctx.run(timer.timeit, 2000) / 2000
    number = max(1000, int(TARGET / max(per, 1e-9)))
    timers.append((cid, ctx, timer, number))

samples = {cid: [] for cid, _, _ in CASES}
for rep in range(REPS + 1):
    for cid, ctx, timer, number in timers:
        t = ctx.run(timer.timeit, number) / number
        if rep > 0:
            samples[cid].append(t)

print("version", sys.version.split()[0])
for cid, _, _ in CASES:
    s = sorted(samples[cid])
    mid = len(s) // 2
    med = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    print(cid, med * 1e9, s[0] * 1e9)
"#;

/// One timed statement.
#[derive(Debug, Clone)]
pub struct PyRow {
    /// Case id, e.g. `get.1` (`get` in a context of 1 variable).
    pub id: String,
    /// Median, ns per statement, `timeit` loop overhead included.
    pub median_ns: f64,
    /// Fastest repetition, ns per statement.
    pub min_ns: f64,
}

/// The results of the script.
#[derive(Debug, Clone)]
pub struct PyReport {
    /// `sys.version` of the interpreter, e.g. `3.11.7`.
    pub version: String,
    /// One per case, in the script's order.
    pub rows: Vec<PyRow>,
}

impl PyReport {
    /// The row of case `id`.
    pub fn row(&self, id: &str) -> Option<&PyRow> {
        self.rows.iter().find(|r| r.id == id)
    }

    /// Median of case `id` minus the median of the `pass` case (`timeit`'s
    /// loop overhead), in ns, floored at 0.
    pub fn net(&self, id: &str) -> Option<f64> {
        Some((self.row(id)?.median_ns - self.row("pass")?.median_ns).max(0.0))
    }
}

/// Runs the script with `python3`: `reps` interleaved repetitions of about
/// `rep_target` each, after one warm-up round.
///
/// # Errors
///
/// A message if `python3` cannot be started, fails, or prints something
/// unexpected.
pub fn run(reps: usize, rep_target: Duration) -> Result<PyReport, String> {
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(reps.to_string())
        .arg(rep_target.as_secs_f64().to_string())
        .output()
        .map_err(|err| format!("cannot run python3: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "python3 failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut version = None;
    let mut rows = Vec::new();
    for line in stdout.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["version", v] => version = Some((*v).to_string()),
            [id, median, min] => rows.push(PyRow {
                id: (*id).to_string(),
                median_ns: median
                    .parse()
                    .map_err(|err| format!("bad line {line:?}: {err}"))?,
                min_ns: min
                    .parse()
                    .map_err(|err| format!("bad line {line:?}: {err}"))?,
            }),
            _ => return Err(format!("unexpected output line {line:?}")),
        }
    }
    Ok(PyReport {
        version: version.ok_or("no version line")?,
        rows,
    })
}
