//! The report's timing loop: calibrated repetitions, interleaved across the
//! benchmarks of a group, summarized by their median.
//!
//! The machine is shared and noisy, so, as in `shared/anchor-bench.md`:
//!
//! 1. each benchmark's iteration count is calibrated so that one repetition
//!    takes about [`Config::rep_target`] (at most [`Config::max_iters`]
//!    iterations);
//! 2. one warm-up round runs every benchmark of the group once;
//! 3. [`Config::reps`] rounds follow, each running every benchmark of the
//!    group once, in order (repetition 1 of every benchmark, then repetition
//!    2, …), so that a slow spell of the machine hits all of them alike;
//! 4. a benchmark's time is the **median** of its repetitions (the min is
//!    shown too), in ns per operation;
//! 5. each round runs at another depth of the stack ([`at_stack_depth`]), so
//!    that the median does not hang on one placement of the measured loop's
//!    stack frame against the thread-locals and the heap: on the machines
//!    here, a store and a later load whose addresses agree in their low 12
//!    bits (4K aliasing) slow a loop of a few nanoseconds by a third, and
//!    which loops suffer changed from one process to the next;
//! 6. allocations are counted afterwards, in a separate untimed pass (see
//!    [`AllocProbe`]).

use std::fmt;
use std::time::{Duration, Instant};

/// How long the timing takes.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Target duration of one repetition.
    pub rep_target: Duration,
    /// Number of recorded repetitions (after one warm-up).
    pub reps: usize,
    /// Upper bound of the iteration count of one repetition.
    pub max_iters: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rep_target: Duration::from_millis(50),
            reps: 9,
            max_iters: 20_000_000,
        }
    }
}

/// What a row is, for the ratios of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A measurement of `contextvars`.
    Ours,
    /// An alternative that the rows of its group are compared to; the label
    /// heads the ratio column.
    Baseline(&'static str),
    /// Shown for context, without a ratio column.
    Info,
}

/// Runs `n` iterations of the measured operation and returns the time they
/// took. Set-up and tear-down happen outside of the timed region.
pub type Routine = Box<dyn FnMut(u64) -> Duration>;

/// Counts the heap allocations (`alloc`, `alloc_zeroed` and `realloc` calls,
/// on any thread) made while the given closure runs.
pub type AllocProbe<'a> = &'a dyn Fn(&mut dyn FnMut()) -> u64;

/// One benchmark.
pub struct Bench {
    /// Stable key, used to compute the summary ratios.
    pub id: String,
    /// What is measured, as printed.
    pub name: String,
    /// Ours, a baseline or for information.
    pub role: Role,
    routine: Routine,
}

impl Bench {
    /// A benchmark of `contextvars`.
    pub fn ours(id: impl Into<String>, name: impl Into<String>, routine: Routine) -> Self {
        Bench::new(id, name, Role::Ours, routine)
    }

    /// A baseline, whose ratio column is headed by `label`.
    pub fn baseline(
        id: impl Into<String>,
        label: &'static str,
        name: impl Into<String>,
        routine: Routine,
    ) -> Self {
        Bench::new(id, name, Role::Baseline(label), routine)
    }

    /// A row shown for context.
    pub fn info(id: impl Into<String>, name: impl Into<String>, routine: Routine) -> Self {
        Bench::new(id, name, Role::Info, routine)
    }

    /// Runs `n` iterations once and returns their time (no calibration, no
    /// repetitions): for profilers.
    pub fn run(&mut self, n: u64) -> Duration {
        (self.routine)(n)
    }

    fn new(id: impl Into<String>, name: impl Into<String>, role: Role, routine: Routine) -> Self {
        Bench {
            id: id.into(),
            name: name.into(),
            role,
            routine,
        }
    }
}

impl fmt::Debug for Bench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bench")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Benchmarks measured together: interleaved, and shown as one table.
#[derive(Debug)]
pub struct Group {
    /// Heading of the table.
    pub title: String,
    /// What the rows have in common, printed under the heading.
    pub note: String,
    /// The rows.
    pub benches: Vec<Bench>,
}

/// The result of one benchmark.
#[derive(Debug, Clone)]
pub struct Measured {
    /// As [`Bench::id`].
    pub id: String,
    /// As [`Bench::name`].
    pub name: String,
    /// As [`Bench::role`].
    pub role: Role,
    /// Median of the repetitions, ns per operation.
    pub median_ns: f64,
    /// Fastest repetition, ns per operation.
    pub min_ns: f64,
    /// Iterations per repetition.
    pub iters: u64,
    /// Heap allocations per operation, if counted.
    pub allocs_per_op: Option<f64>,
}

/// The results of a [`Group`].
#[derive(Debug, Clone)]
pub struct MeasuredGroup {
    /// As [`Group::title`].
    pub title: String,
    /// As [`Group::note`].
    pub note: String,
    /// One per benchmark, in order.
    pub rows: Vec<Measured>,
}

/// Measures every benchmark of `group` as described in the [module
/// docs](self), and counts allocations with `probe` if given.
pub fn measure(group: Group, config: &Config, probe: Option<AllocProbe<'_>>) -> MeasuredGroup {
    let Group {
        title,
        note,
        mut benches,
    } = group;
    let iters: Vec<u64> = benches
        .iter_mut()
        .map(|b| calibrate(&mut b.routine, config))
        .collect();
    // Warm-up round, then the recorded rounds, interleaved.
    for (bench, &n) in benches.iter_mut().zip(&iters) {
        (bench.routine)(n);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(config.reps); benches.len()];
    for round in 0..config.reps {
        for ((bench, &n), samples) in benches.iter_mut().zip(&iters).zip(&mut samples) {
            let elapsed = at_stack_depth(round * STACK_STEP, &mut || (bench.routine)(n));
            samples.push(elapsed.as_secs_f64() * 1e9 / n as f64);
        }
    }
    let rows = benches
        .into_iter()
        .zip(iters)
        .zip(samples)
        .map(|((mut bench, iters), mut samples)| {
            samples.sort_by(f64::total_cmp);
            let allocs_per_op = probe.map(|probe| allocs_per_op(&mut bench.routine, probe));
            Measured {
                id: bench.id,
                name: bench.name,
                role: bench.role,
                median_ns: median(&samples),
                min_ns: samples[0],
                iters,
                allocs_per_op,
            }
        })
        .collect();
    MeasuredGroup { title, note, rows }
}

/// Frames of [`at_stack_depth`] added from one round to the next: with
/// frames of about 100 bytes, the rounds' stacks start at offsets spread
/// over more than a 4 KiB page.
const STACK_STEP: usize = 5;

/// Runs `f` `frames` stack frames of at least 64 bytes deeper than the
/// caller.
#[inline(never)]
pub fn at_stack_depth<R>(frames: usize, f: &mut dyn FnMut() -> R) -> R {
    let pad = std::hint::black_box([0u8; 64]);
    let result = if frames == 0 {
        f()
    } else {
        at_stack_depth(frames - 1, f)
    };
    // Used after the call, so the frame keeps its pad (and the call is not
    // a tail call).
    std::hint::black_box(&pad);
    result
}

/// The iteration count that makes one repetition last about
/// `config.rep_target`.
fn calibrate(routine: &mut Routine, config: &Config) -> u64 {
    let floor = config.rep_target / 8;
    let mut n = 1u64;
    loop {
        let elapsed = routine(n);
        if elapsed >= floor || n >= config.max_iters {
            let per_iter = elapsed.as_secs_f64().max(1e-12) / n as f64;
            let wanted = config.rep_target.as_secs_f64() / per_iter;
            return (wanted as u64).clamp(1, config.max_iters);
        }
        // Grow fast, but not past ~2x the floor.
        let per_iter = elapsed.as_secs_f64().max(1e-9) / n as f64;
        let next = (floor.as_secs_f64() * 2.0 / per_iter) as u64;
        n = next.clamp(n * 2, n * 100).min(config.max_iters);
    }
}

/// Allocations per operation: the difference between two runs of different
/// lengths, so that what a routine allocates once per call (entering a
/// runtime, building a wrapper) does not count.
fn allocs_per_op(routine: &mut Routine, probe: AllocProbe<'_>) -> f64 {
    const SHORT: u64 = 100;
    const LONG: u64 = 2_100;
    let short = probe(&mut || {
        routine(SHORT);
    });
    let long = probe(&mut || {
        routine(LONG);
    });
    (long as f64 - short as f64).max(0.0) / (LONG - SHORT) as f64
}

/// The median of sorted samples.
///
/// # Panics
///
/// Panics on an empty slice.
pub fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Times `n` iterations of `op`, passing each the iteration number.
///
/// The result of `op` goes through [`std::hint::black_box`].
#[inline]
pub fn time_loop<R>(n: u64, mut op: impl FnMut(u64) -> R) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        std::hint::black_box(op(std::hint::black_box(i)));
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn measure_reports_every_bench_in_order_with_allocations() {
        let config = Config {
            rep_target: Duration::from_millis(1),
            reps: 3,
            max_iters: 10_000,
        };
        let group = Group {
            title: "t".into(),
            note: "n".into(),
            benches: vec![
                Bench::baseline("a", "A", "adds", Box::new(|n| time_loop(n, |i| i + 1))),
                Bench::ours("b", "boxes", Box::new(|n| time_loop(n, Box::new))),
            ],
        };
        // A fake probe: one "allocation" per call of the routine's loop
        // would be indistinguishable from a constant, so count 0 for the
        // short run and 2,000 for the long one: 1 per op.
        let calls = std::cell::Cell::new(0u64);
        let probe = |f: &mut dyn FnMut()| {
            f();
            calls.set(calls.get() + 1);
            if calls.get() % 2 == 1 {
                0
            } else {
                2_000
            }
        };
        let measured = measure(group, &config, Some(&probe));
        let ids: Vec<&str> = measured.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        for row in &measured.rows {
            assert!(
                row.median_ns > 0.0 && row.min_ns <= row.median_ns,
                "{row:?}"
            );
            assert!(row.iters >= 1 && row.iters <= config.max_iters);
            assert_eq!(row.allocs_per_op, Some(1.0));
        }
        assert_eq!(measured.rows[0].role, Role::Baseline("A"));
    }
}
