//! Helpers shared by the integration tests.
//!
//! * [`on_both_runtimes!`] turns one `async fn` into two `#[test]`s, one on
//!   a `current_thread` runtime and one on a `multi_thread` runtime with
//!   [`WORKERS`] workers. The body runs as the runtime's main future inside
//!   [`contextvars_tokio::root`] (asyncio's `asyncio.run(main())`: the main
//!   coroutine runs in a context of its own), and afterwards the test thread's
//!   own context must still be empty: nothing leaked out of the runtime.
//! * [`Rng`]: a seeded xorshift, so that "random" schedules replay
//!   identically.
//! * [`probe_every_worker`]: runs a check in tasks on every worker thread of
//!   the current runtime, to look for values left behind on a worker.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_macros)]

use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use contextvars::copy_context;
use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

/// Worker threads of the `multi_thread` runtime.
pub(crate) const WORKERS: usize = 2;

/// The two tokio runtime flavours every test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    pub(crate) const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread];

    /// A new runtime of this flavour, with the time driver enabled.
    pub(crate) fn runtime(self) -> Runtime {
        match self {
            Flavor::CurrentThread => Builder::new_current_thread().enable_all().build(),
            Flavor::MultiThread => Builder::new_multi_thread()
                .worker_threads(WORKERS)
                .enable_all()
                .build(),
        }
        .expect("building a tokio runtime")
    }
}

/// Runs `body` as the main future of a new runtime of `flavor`, inside
/// [`contextvars_tokio::root`], shuts the runtime down, and checks that the
/// calling thread's own context is still empty.
pub(crate) fn run<F: Future>(flavor: Flavor, body: F) -> F::Output {
    let rt = flavor.runtime();
    let out = rt.block_on(contextvars_tokio::root(body));
    drop(rt);
    let outer = copy_context();
    assert!(
        outer.is_empty(),
        "values leaked into the test thread's own context: {outer:?}"
    );
    out
}

/// `on_both_runtimes!(name)`, for an `async fn name()` in the same module,
/// defines `mod name` with two tests, `current_thread` and `multi_thread`,
/// each running `name()` through [`run`] (functions and modules live in
/// different namespaces, so they can share the name).
macro_rules! on_both_runtimes {
    ($name:ident) => {
        mod $name {
            #[test]
            fn current_thread() {
                crate::common::run(crate::common::Flavor::CurrentThread, super::$name())
            }

            #[test]
            fn multi_thread() {
                crate::common::run(crate::common::Flavor::MultiThread, super::$name())
            }
        }
    };
}

/// Whether the current runtime is a `multi_thread` one.
pub(crate) fn is_multi_thread() -> bool {
    Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread
}

/// Deterministic pseudo-random numbers (xorshift64*).
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A short random suspension: always yields to the scheduler once, then
/// sleeps 0, 1 or 2 ms (asyncio's `await asyncio.sleep(random.uniform(...))`).
pub(crate) async fn random_pause(rng: &mut Rng) {
    tokio::task::yield_now().await;
    let ms = rng.below(3);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Spins (yielding the OS thread) until `done()` or until `limit` has passed.
/// Returns whether `done()` became true. The limit only bounds the test's
/// duration; no test asserts on elapsed time.
pub(crate) fn spin_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Awaits `fut`, failing the test instead of hanging if it does not complete
/// within 10 s (for waits on something that a bug could prevent, such as a
/// drop that never happens).
pub(crate) async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// How [`probe_every_worker`] spawns its probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spawner {
    /// Plain `tokio::spawn`: the probe runs in the worker thread's own
    /// context.
    Plain,
    /// `contextvars_tokio::spawn`: the probe runs in a copy of the caller's
    /// context.
    Contextvars,
}

/// Runs `probe` in rounds of one task per worker thread, spawned by
/// `spawner`, and returns each result. Runs at least `min_rounds` rounds, and
/// more (up to 100) until probes have run on every worker thread, which it
/// asserts.
///
/// In every round the probes meet at a rendezvous: each spins (blocking its
/// worker) until all of the round's probes have started, or for at most
/// 100 ms, so that a round's probes usually run at the same time, hence one
/// on each worker. (tokio may queue both behind the first one on the same
/// worker, in which case that round covers one worker only and the next
/// round tries again.) Must be called from the main future (not from a
/// worker thread), so that the probes go to the runtime's shared queue.
pub(crate) async fn probe_every_worker<T, P>(
    spawner: Spawner,
    min_rounds: usize,
    probe: P,
) -> Vec<T>
where
    P: Fn() -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let workers = Handle::current().metrics().num_workers();
    let probe = Arc::new(probe);
    let mut results = Vec::new();
    let mut threads = HashSet::new();
    let mut rounds = 0;
    while rounds < min_rounds || (threads.len() < workers && rounds < 100) {
        rounds += 1;
        let arrived = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..workers {
            let arrived = arrived.clone();
            let probe = probe.clone();
            let task = async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                spin_until(Duration::from_millis(100), || {
                    arrived.load(Ordering::SeqCst) >= workers
                });
                (std::thread::current().id(), probe())
            };
            handles.push(match spawner {
                Spawner::Plain => tokio::spawn(task),
                Spawner::Contextvars => contextvars_tokio::spawn(task),
            });
        }
        for handle in handles {
            let (thread, result): (ThreadId, T) = handle.await.expect("a probe task failed");
            threads.insert(thread);
            results.push(result);
        }
    }
    assert_eq!(
        threads.len(),
        workers,
        "the probes did not run on every worker thread in {rounds} rounds"
    );
    results
}

/// The message of a panic made by `panic!` or `.expect`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<not a string payload>".to_string()
    }
}
