//! Model-based test of the asyncio semantics: random programs of tasks,
//! awaits and context-variable operations, run on both runtime flavours and
//! checked step by step against a naive reference model.
//!
//! The reference model gives every context a plain `BTreeMap` from variable
//! to value, and implements the asyncio rules directly:
//!
//! * every task has a context of its own; `contextvars_tokio::spawn` copies
//!   the spawner's map at the spawn, and a child's writes never reach its
//!   parent (nor the parent's later writes the child);
//! * a directly awaited async block shares its task's context (A6);
//! * `with_current_context` copies the context at the call, so each branch
//!   of a `tokio::join!` of wrapped bodies runs in a copy of its own;
//! * `contextvars_tokio::spawn_blocking` runs the closure in a copy;
//! * `Context::run` of a saved copy records the changes in that copy (a
//!   later run of the same copy sees them), and entering a copy that is
//!   already entered fails;
//! * `reset` checks already-used, then wrong variable, then wrong context
//!   (a token created inside `Context::run`, or by another task, is of
//!   another context);
//! * `get` falls back to the default, then fails with `LookupError`.
//!
//! The harness runs the real program and the model in lockstep: each task
//! (and each `join!` branch, and each blocking closure) carries the model of
//! its own contexts and checks every observation as it happens. A task's
//! observations depend only on its own history, never on how tasks
//! interleave, so the model needs no schedule: on a `multi_thread` runtime
//! children run in parallel with their parents, and the checks still hold.
//! The one timing-dependent outcome, awaiting an aborted child, accepts both
//! a cancellation and the child's completed result.
//!
//! A check that fails inside a task panics there, and is also recorded in a
//! list shared by the whole program, so that a failure in a task nobody
//! awaits (a grandchild of an aborted child) is not lost.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Flavor;
use contextvars::{copy_context, Context, ContextVar, EnterError, ResetError, Token};
use contextvars_tokio::FutureExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};
use tokio::task::JoinHandle;

// === Variables ===

/// Default of variable 2.
const DEFAULT: u32 = 7777;

static A: ContextVar<u32> = ContextVar::new("a");
static B: ContextVar<u32> = ContextVar::new("b");
static C: ContextVar<u32> = ContextVar::with_default("c", || DEFAULT);

const NVARS: usize = 3;

fn var(i: usize) -> &'static ContextVar<u32> {
    match i {
        0 => &A,
        1 => &B,
        _ => &C,
    }
}

fn default_of(i: usize) -> Option<u32> {
    (i == 2).then_some(DEFAULT)
}

// === Programs ===

/// Operations that need no `.await`: the body of `Context::run` and of a
/// blocking closure.
#[derive(Clone, Debug)]
enum SyncOp {
    /// `var.set(value)`; the token is kept, and the value checked.
    Set(usize, u32),
    /// `var.reset(tokens[token % len])`, any variable with any token of the
    /// task (used ones, other variables', other contexts').
    Reset { var: usize, token: usize },
    /// `try_get` (and `get` when a value or default exists).
    Get(usize),
    /// Saves `copy_context()`.
    Copy,
    /// `saved[i % len].try_run(body)`.
    RunIn(usize, Vec<SyncOp>),
}

#[derive(Clone, Debug)]
enum Op {
    Sync(SyncOp),
    /// `tokio::task::yield_now().await`, then checks every variable.
    Yield,
    /// `tokio::time::sleep(micros)`, then checks every variable.
    Sleep(u64),
    /// `contextvars_tokio::spawn(body)`; the handle is kept.
    Spawn(Vec<Op>),
    /// Awaits `handles[i % len]` (if not awaited yet); the child's result
    /// is its final observations.
    Await(usize),
    /// `contextvars_tokio::spawn_blocking(body)`, awaited at once.
    SpawnBlocking(Vec<SyncOp>),
    /// Aborts `handles[i % len]` (if not awaited yet).
    Abort(usize),
    /// `async { body }.await`: shares the task's context.
    AwaitDirect(Vec<Op>),
    /// `tokio::join!(a.with_current_context(), b.with_current_context())`.
    WrapJoin(Vec<Op>, Vec<Op>),
}

fn var_strategy() -> impl Strategy<Value = usize> {
    0..NVARS
}

fn value_strategy() -> impl Strategy<Value = u32> {
    0..4u32
}

fn index_strategy() -> impl Strategy<Value = usize> {
    0..16usize
}

fn sync_leaf() -> impl Strategy<Value = SyncOp> {
    prop_oneof![
        5 => (var_strategy(), value_strategy()).prop_map(|(v, x)| SyncOp::Set(v, x)),
        4 => (var_strategy(), index_strategy())
            .prop_map(|(var, token)| SyncOp::Reset { var, token }),
        3 => var_strategy().prop_map(SyncOp::Get),
        2 => Just(SyncOp::Copy),
    ]
}

fn sync_op_strategy() -> impl Strategy<Value = SyncOp> {
    sync_leaf().prop_recursive(2, 24, 6, |inner| {
        prop_oneof![
            4 => sync_leaf(),
            1 => (index_strategy(), prop::collection::vec(inner, 0..6))
                .prop_map(|(i, body)| SyncOp::RunIn(i, body)),
        ]
    })
}

fn sync_body() -> impl Strategy<Value = Vec<SyncOp>> {
    prop::collection::vec(sync_op_strategy(), 0..8)
}

fn async_leaf() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => sync_leaf().prop_map(Op::Sync),
        2 => Just(Op::Yield),
        2 => (0..300u64).prop_map(Op::Sleep),
        3 => index_strategy().prop_map(Op::Await),
        1 => index_strategy().prop_map(Op::Abort),
        2 => (index_strategy(), sync_body()).prop_map(|(i, b)| Op::Sync(SyncOp::RunIn(i, b))),
        1 => sync_body().prop_map(Op::SpawnBlocking),
    ]
}

/// At most three levels of nested bodies, at most 12 operations per body.
fn op_strategy() -> impl Strategy<Value = Op> {
    async_leaf().prop_recursive(3, 64, 8, |inner| {
        let body = || prop::collection::vec(inner.clone(), 0..12);
        prop_oneof![
            6 => async_leaf(),
            3 => body().prop_map(Op::Spawn),
            1 => body().prop_map(Op::AwaitDirect),
            1 => (body(), body()).prop_map(|(a, b)| Op::WrapJoin(a, b)),
        ]
    })
}

fn program_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 0..12)
}

// === Reference model ===

/// Model context ids, unique over the whole test.
static NEXT_CTX: AtomicU64 = AtomicU64::new(1);

fn new_ctx_id() -> u64 {
    NEXT_CTX.fetch_add(1, Ordering::Relaxed)
}

/// A context of the model.
#[derive(Clone, Debug)]
struct MCtx {
    id: u64,
    map: BTreeMap<usize, u32>,
}

impl MCtx {
    fn new(map: BTreeMap<usize, u32>) -> Self {
        MCtx {
            id: new_ctx_id(),
            map,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct MToken {
    var: usize,
    ctx: u64,
    old: Option<u32>,
    used: bool,
}

/// Things a program can exercise; the test checks that enough programs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    ResetOk,
    ResetAlreadyUsed,
    ResetWrongVar,
    ResetWrongContext,
    /// A token of the parent was reset in a `join!` branch.
    ResetParentToken,
    AlreadyEntered,
    /// A `RunIn` saw what an earlier run of the same copy recorded.
    ReenteredCopy,
    LookupError,
    DefaultSeen,
    /// A child saw a value inherited from its spawner.
    InheritedSeen,
    AwaitedChild,
    /// Awaiting an aborted child gave a cancellation...
    AbortCancelled,
    /// ... or the child's result.
    AbortFinished,
    Blocking,
    Join,
    Direct,
}

impl Event {
    /// Minimum share of programs, in percent, that must exercise the event
    /// (the timing-dependent abort outcomes are not required).
    const REQUIRED: [(Event, u32); 14] = [
        (Event::ResetOk, 20),
        (Event::ResetAlreadyUsed, 5),
        (Event::ResetWrongVar, 10),
        (Event::ResetWrongContext, 5),
        (Event::ResetParentToken, 2),
        (Event::AlreadyEntered, 1),
        (Event::ReenteredCopy, 3),
        (Event::LookupError, 20),
        (Event::DefaultSeen, 10),
        (Event::InheritedSeen, 10),
        (Event::AwaitedChild, 20),
        (Event::Blocking, 10),
        (Event::Join, 5),
        (Event::Direct, 5),
    ];
}

/// What every task of one program shares: the failures and the coverage.
#[derive(Debug, Default)]
struct Shared {
    failures: Mutex<Vec<String>>,
    events: Mutex<BTreeSet<Event>>,
}

/// What a task, `join!` branch or blocking closure returns: its final
/// observations, and what the model expected of them.
#[derive(Debug)]
struct Outcome {
    who: String,
    observed: Vec<Option<u32>>,
    expected: Vec<Option<u32>>,
}

/// A spawned child not awaited yet, and whether it was aborted.
type Child = (JoinHandle<Outcome>, bool);

/// The state of one task (or `join!` branch, or blocking closure): its real
/// tokens, saved contexts and children, and the model of its contexts.
struct Task {
    who: String,
    shared: Arc<Shared>,
    /// `ctxs[0]` is the task's own context, `ctxs[i + 1]` is `saved[i]`.
    ctxs: Vec<MCtx>,
    /// Entered contexts, as indices into `ctxs`; the last is current.
    stack: Vec<usize>,
    saved: Vec<Arc<Context>>,
    tokens: Vec<(Arc<Token<u32>>, MToken)>,
    /// The first `inherited` tokens are the parent's (`join!` branches).
    inherited: usize,
    /// Contexts (indices into `ctxs`) changed while current.
    modified: BTreeSet<usize>,
    children: Vec<Option<Child>>,
    spawned: usize,
}

impl Task {
    fn new(who: String, shared: Arc<Shared>, map: BTreeMap<usize, u32>) -> Self {
        Task {
            who,
            shared,
            ctxs: vec![MCtx::new(map)],
            stack: vec![0],
            saved: Vec::new(),
            tokens: Vec::new(),
            inherited: 0,
            modified: BTreeSet::new(),
            children: Vec::new(),
            spawned: 0,
        }
    }

    /// A new task whose context is a copy of the current one.
    fn child(&mut self, kind: &str) -> Task {
        self.spawned += 1;
        let who = format!("{}/{kind}{}", self.who, self.spawned);
        Task::new(who, self.shared.clone(), self.current().map.clone())
    }

    fn current(&self) -> &MCtx {
        &self.ctxs[*self.stack.last().expect("always inside a context")]
    }

    fn event(&self, event: Event) {
        self.shared.events.lock().unwrap().insert(event);
    }

    /// Records a failed check for the whole program, then panics.
    #[track_caller]
    fn fail(&self, what: String) -> ! {
        let msg = format!("{}: {what}", self.who);
        self.shared.failures.lock().unwrap().push(msg.clone());
        panic!("{msg}");
    }

    #[track_caller]
    fn check<T: PartialEq + std::fmt::Debug>(&self, actual: T, expected: T, what: &str) {
        if actual != expected {
            self.fail(format!("{what}: got {actual:?}, expected {expected:?}"));
        }
    }

    fn model_get(&self, v: usize) -> Option<u32> {
        self.current().map.get(&v).copied().or(default_of(v))
    }

    fn check_get(&self, v: usize) {
        let expected = self.model_get(v);
        let actual = var(v).try_get().ok();
        self.check(actual, expected, &format!("get({v})"));
        match (self.current().map.get(&v), expected) {
            (None, None) => self.event(Event::LookupError),
            (None, Some(_)) => self.event(Event::DefaultSeen),
            _ => {}
        }
        if let Some(x) = expected {
            self.check(var(v).get(), x, &format!("get({v}) after try_get"));
        }
    }

    fn check_all(&self) {
        for v in 0..NVARS {
            self.check_get(v);
        }
    }

    /// Checks the map view of every saved context.
    fn check_saved(&self) {
        for (i, ctx) in self.saved.iter().enumerate() {
            let model = &self.ctxs[i + 1].map;
            for v in 0..NVARS {
                let actual = ctx.get(var(v)).map(|x| *x);
                self.check(
                    actual,
                    model.get(&v).copied(),
                    &format!("saved[{i}].get({v})"),
                );
            }
            self.check(ctx.len(), model.len(), &format!("saved[{i}].len()"));
        }
    }

    fn outcome(&self) -> Outcome {
        self.check_saved();
        Outcome {
            who: self.who.clone(),
            observed: (0..NVARS).map(|v| var(v).try_get().ok()).collect(),
            expected: (0..NVARS).map(|v| self.model_get(v)).collect(),
        }
    }

    fn check_outcome(&self, outcome: &Outcome) {
        self.check(
            &outcome.observed,
            &outcome.expected,
            &format!("final observations of {}", outcome.who),
        );
    }

    // --- Synchronous operations ---

    fn exec_sync(&mut self, ops: &[SyncOp]) {
        for op in ops {
            self.step_sync(op);
        }
    }

    fn step_sync(&mut self, op: &SyncOp) {
        match *op {
            SyncOp::Set(v, x) => {
                let cur = *self.stack.last().unwrap();
                let ctx = &mut self.ctxs[cur];
                let old = ctx.map.insert(v, x);
                let model = MToken {
                    var: v,
                    ctx: ctx.id,
                    old,
                    used: false,
                };
                let token = var(v).set(x);
                self.check(
                    token.old_value().copied(),
                    old,
                    &format!("old value of set({v}, {x})"),
                );
                self.tokens.push((Arc::new(token), model));
                self.modified.insert(cur);
                self.check_get(v);
            }
            SyncOp::Reset { var: v, token } => {
                if self.tokens.is_empty() {
                    return;
                }
                let t = token % self.tokens.len();
                let expected = self.model_reset(v, t);
                let actual = var(v).reset(&self.tokens[t].0);
                self.check(
                    actual,
                    expected,
                    &format!("reset of token {t} with var {v}"),
                );
                self.check(
                    self.tokens[t].0.is_used(),
                    self.tokens[t].1.used,
                    &format!("token {t}'s used flag"),
                );
                self.check_get(v);
            }
            SyncOp::Get(v) => self.check_get(v),
            SyncOp::Copy => {
                let map = self.current().map.clone();
                self.ctxs.push(MCtx::new(map));
                self.saved.push(Arc::new(copy_context()));
            }
            SyncOp::RunIn(i, ref body) => {
                if self.saved.is_empty() {
                    return;
                }
                let i = i % self.saved.len();
                let idx = i + 1;
                let ctx = self.saved[i].clone();
                let depth = self.stack.len();
                let entered = self.stack.contains(&idx);
                if self.modified.contains(&idx) {
                    self.event(Event::ReenteredCopy);
                }
                let result = ctx.try_run(|| {
                    self.stack.push(idx);
                    self.check_all();
                    self.exec_sync(body);
                });
                if entered {
                    self.event(Event::AlreadyEntered);
                    self.check(result, Err(EnterError::AlreadyEntered), "re-entering saved");
                } else {
                    self.check(result, Ok(()), &format!("try_run of saved[{i}]"));
                    self.stack.truncate(depth);
                }
                self.check_all();
            }
        }
    }

    /// PEP 567's `reset`, in its order of checks.
    fn model_reset(&mut self, v: usize, t: usize) -> Result<(), ResetError> {
        let cur = *self.stack.last().unwrap();
        let ctx = &mut self.ctxs[cur];
        let token = &mut self.tokens[t].1;
        let result = if token.used {
            Err(ResetError::AlreadyUsed)
        } else if token.var != v {
            Err(ResetError::WrongVar)
        } else if token.ctx != ctx.id {
            Err(ResetError::WrongContext)
        } else {
            match token.old {
                Some(old) => ctx.map.insert(v, old),
                None => ctx.map.remove(&v),
            };
            token.used = true;
            self.modified.insert(cur);
            Ok(())
        };
        let event = match result {
            Ok(()) => Event::ResetOk,
            Err(ResetError::AlreadyUsed) => Event::ResetAlreadyUsed,
            Err(ResetError::WrongVar) => Event::ResetWrongVar,
            Err(_) => Event::ResetWrongContext,
        };
        self.event(event);
        if t < self.inherited {
            self.event(Event::ResetParentToken);
        }
        result
    }

    // --- Asynchronous operations ---

    /// Runs `ops`; boxed, as it recurses.
    fn exec<'a>(
        &'a mut self,
        ops: &'a [Op],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            for op in ops {
                self.step(op).await;
            }
        })
    }

    async fn step(&mut self, op: &Op) {
        match op {
            Op::Sync(op) => self.step_sync(op),
            Op::Yield => {
                tokio::task::yield_now().await;
                self.check_all();
            }
            Op::Sleep(micros) => {
                tokio::time::sleep(Duration::from_micros(*micros)).await;
                self.check_all();
            }
            Op::Spawn(body) => {
                let mut child = self.child("spawn");
                if !child.ctxs[0].map.is_empty() {
                    // The first check of the child will see inherited values.
                    self.event(Event::InheritedSeen);
                }
                let body = body.clone();
                let handle = contextvars_tokio::spawn(async move {
                    child.check_all();
                    child.exec(&body).await;
                    child.finish().await
                });
                self.children.push(Some((handle, false)));
            }
            Op::Await(i) => {
                if self.children.is_empty() {
                    return;
                }
                let i = i % self.children.len();
                if let Some(child) = self.children[i].take() {
                    self.await_child(child).await;
                }
                self.check_all();
            }
            Op::Abort(i) => {
                if self.children.is_empty() {
                    return;
                }
                let i = i % self.children.len();
                if let Some((handle, aborted)) = &mut self.children[i] {
                    handle.abort();
                    *aborted = true;
                }
            }
            Op::SpawnBlocking(body) => {
                self.event(Event::Blocking);
                let mut child = self.child("blocking");
                let body = body.clone();
                let result = contextvars_tokio::spawn_blocking(move || {
                    child.check_all();
                    child.exec_sync(&body);
                    child.outcome()
                })
                .await;
                match result {
                    Ok(outcome) => self.check_outcome(&outcome),
                    Err(err) => panic::resume_unwind(err.into_panic()),
                }
                self.check_all();
            }
            Op::AwaitDirect(body) => {
                self.event(Event::Direct);
                async {
                    self.exec(body).await;
                }
                .await;
                self.check_all();
            }
            Op::WrapJoin(a, b) => {
                self.event(Event::Join);
                let mut ta = self.child("join");
                let mut tb = self.child("join");
                // The branches may try the parent's tokens: they belong to
                // another context.
                for branch in [&mut ta, &mut tb] {
                    branch.tokens = self.tokens.clone();
                    branch.inherited = self.tokens.len();
                }
                let (oa, ob) = tokio::join!(
                    async {
                        ta.check_all();
                        ta.exec(a).await;
                        ta.finish().await
                    }
                    .with_current_context(),
                    async {
                        tb.check_all();
                        tb.exec(b).await;
                        tb.finish().await
                    }
                    .with_current_context(),
                );
                self.check_outcome(&oa);
                self.check_outcome(&ob);
                self.check_all();
            }
        }
    }

    async fn await_child(&mut self, (handle, aborted): Child) {
        match handle.await {
            Ok(outcome) => {
                self.event(if aborted {
                    Event::AbortFinished
                } else {
                    Event::AwaitedChild
                });
                self.check_outcome(&outcome);
            }
            Err(err) if err.is_cancelled() => {
                if !aborted {
                    self.fail("a child not aborted was cancelled".to_string());
                }
                self.event(Event::AbortCancelled);
            }
            Err(err) => panic::resume_unwind(err.into_panic()),
        }
    }

    /// Awaits the children not awaited yet, and returns the final
    /// observations.
    async fn finish(&mut self) -> Outcome {
        let children: Vec<_> = self.children.drain(..).flatten().collect();
        for child in children {
            self.await_child(child).await;
        }
        self.check_all();
        self.outcome()
    }
}

// === Running programs ===

/// Runs `program` as the main task inside `contextvars_tokio::root` on a new
/// runtime of `flavor`; the test thread's own context must stay empty.
fn run_program(flavor: Flavor, program: &[Op]) -> BTreeSet<Event> {
    let shared = Arc::new(Shared::default());
    let mut root = Task::new("root".to_string(), shared.clone(), BTreeMap::new());
    let outcome = common::run(flavor, async {
        root.check_all();
        root.exec(program).await;
        root.finish().await
    });
    root.check_outcome(&outcome);
    let failures = shared.failures.lock().unwrap();
    assert!(failures.is_empty(), "failed checks: {failures:#?}");
    for v in 0..NVARS {
        assert_eq!(var(v).get_opt(), None, "var {v} leaked to the test thread");
    }
    let events = shared.events.lock().unwrap().clone();
    events
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

fn random_programs(flavor: Flavor) {
    let config = Config {
        cases: cases(),
        // A failure is to be minimized into a fixed-program `#[test]` below,
        // not persisted in a side file.
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    };
    let start = Instant::now();
    let seen: Mutex<BTreeMap<Event, u32>> = Mutex::default();
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(&program_strategy(), |program| {
        for event in run_program(flavor, &program) {
            *seen.lock().unwrap().entry(event).or_default() += 1;
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let seen = seen.into_inner().unwrap();
    eprintln!(
        "{flavor:?}: {} cases in {:?}; programs per event: {seen:?}",
        config.cases,
        start.elapsed()
    );
    if config.cases >= 200 {
        for (event, percent) in Event::REQUIRED {
            let n = seen.get(&event).copied().unwrap_or(0);
            assert!(
                n * 100 >= config.cases * percent,
                "only {n} of {} programs exercised {event:?}",
                config.cases
            );
        }
    }
}

#[test]
fn random_programs_match_the_model_current_thread() {
    random_programs(Flavor::CurrentThread);
}

#[test]
fn random_programs_match_the_model_multi_thread() {
    random_programs(Flavor::MultiThread);
}

// === Fixed programs ===

/// One deterministic program through the main rules: the child copies the
/// spawner's context at the spawn (the parent's later set is not seen), a
/// token made inside `Context::run` is of another context outside it and
/// resets inside a later run of the same copy, which cannot be entered
/// twice; a directly awaited block writes into the task's context, `join!`
/// branches into copies (where the parent's tokens are of another context),
/// and the blocking closure into a copy.
fn fixed_program(flavor: Flavor) {
    use Op::*;
    use SyncOp::*;
    let program = vec![
        Sync(Set(0, 1)),
        Spawn(vec![Sync(Get(0)), Sync(Set(0, 2)), Yield, Sync(Get(0))]),
        Sync(Set(0, 3)),
        Sync(Copy),
        Sync(RunIn(0, vec![Set(1, 1)])),
        Sync(Reset { var: 1, token: 2 }),
        Sync(RunIn(
            0,
            vec![Get(1), Reset { var: 1, token: 2 }, RunIn(0, vec![])],
        )),
        Await(0),
        AwaitDirect(vec![Sync(Set(2, 5))]),
        WrapJoin(
            vec![
                Sync(Set(2, 6)),
                Sleep(100),
                Sync(Reset { var: 0, token: 1 }),
            ],
            vec![Yield, Sync(Get(2)), Sync(Reset { var: 2, token: 3 })],
        ),
        SpawnBlocking(vec![Set(0, 9), Reset { var: 0, token: 0 }]),
        Sync(Reset { var: 2, token: 3 }),
        Sync(Reset { var: 2, token: 3 }),
    ];
    let events = run_program(flavor, &program);
    for event in [
        Event::ResetOk,
        Event::ResetAlreadyUsed,
        Event::ResetWrongContext,
        Event::ResetParentToken,
        Event::AlreadyEntered,
        Event::ReenteredCopy,
        Event::InheritedSeen,
        Event::AwaitedChild,
        Event::Blocking,
        Event::Join,
        Event::Direct,
    ] {
        assert!(events.contains(&event), "{event:?} not in {events:?}");
    }
}

#[test]
fn fixed_program_current_thread() {
    fixed_program(Flavor::CurrentThread);
}

#[test]
fn fixed_program_multi_thread() {
    fixed_program(Flavor::MultiThread);
}
