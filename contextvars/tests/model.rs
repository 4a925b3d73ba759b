//! Model-based test: random programs of context-variable operations, checked
//! step by step against a naive reference implementation of PEP 567.
//!
//! The reference keeps every context as a plain `BTreeMap` in an arena, the
//! thread's stack of entered contexts as a `Vec` of arena ids, and tokens as
//! `(var, context, old value, used)` records. It implements PEP 567 directly:
//!
//! * `get`: the value in the current context, else the variable's default,
//!   else `LookupError` (R2);
//! * `set` records the old value (or MISSING) and the current context (R3);
//! * `reset` checks already-used, then wrong variable, then wrong context,
//!   and restores the old value or removes the variable (R4);
//! * `copy` is a snapshot (R9, R16), `run` records changes in the entered
//!   context, even when the closure panics (R12, R15), and entering a
//!   context that is on the stack fails (R13);
//! * the map view ignores defaults (R17, R18) and always shows the context's
//!   current contents.
//!
//! Besides three "main" variables (one with a default), programs can set up
//! to forty more at once, so that maps cross the small-vector / trie boundary
//! of the implementation (above 8 entries, back below 5). The test asserts
//! that the generated programs actually do so.

// Under `--cfg loom` the variables' constructors are not `const`.
#![cfg(not(loom))]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Once;

use contextvars::{
    child_context, copy_context, Context, ContextVar, EnterError, ResetError, Token, VarKey,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};

// === Variables ===

/// Default of variable 2.
const DEFAULT: u32 = 7777;

static A: ContextVar<u32> = ContextVar::new("a");
static B: ContextVar<u32> = ContextVar::new("b");
static C: ContextVar<u32> = ContextVar::with_default("c", || DEFAULT);

/// Number of extra variables; enough to push a context well past the
/// small-vector limit.
const EXTRA: usize = 40;
static EXTRAS: [ContextVar<u32>; EXTRA] = [const { ContextVar::new("extra") }; EXTRA];

/// Number of variables that spawned tasks and threads do not inherit
/// (`child_context` leaves them out).
const LOCAL: usize = 4;
static LOCALS: [ContextVar<u32>; LOCAL] =
    [const { ContextVar::builder("local").not_inherited().build() }; LOCAL];

/// Number of variables in total.
const NVARS: usize = 3 + EXTRA + LOCAL;

fn var(i: usize) -> &'static ContextVar<u32> {
    match i {
        0 => &A,
        1 => &B,
        2 => &C,
        _ if i < 3 + EXTRA => &EXTRAS[i - 3],
        _ => &LOCALS[i - 3 - EXTRA],
    }
}

fn is_inherited(i: usize) -> bool {
    i < 3 + EXTRA
}

fn default_of(i: usize) -> Option<u32> {
    (i == 2).then_some(DEFAULT)
}

/// Maps a key seen in a context back to its variable's index.
fn var_index(key: VarKey) -> usize {
    thread_local! {
        static INDEX: HashMap<VarKey, usize> = (0..NVARS).map(|i| (var(i).key(), i)).collect();
    }
    INDEX
        .with(|index| index.get(&key).copied())
        .unwrap_or_else(|| panic!("unknown key {key:?}"))
}

/// Above this many entries the implementation switches to a trie.
const SMALL_MAX: usize = 8;
/// A trie that shrinks to this many entries switches back.
const SMALL_AGAIN: usize = 4;

// === Programs ===

#[derive(Clone, Debug)]
enum Op {
    /// `var.set(value)`; the token is kept.
    Set(usize, u32),
    /// Sets `count` extra variables starting at `first` (wrapping), keeping
    /// every token.
    SetMany {
        first: usize,
        count: usize,
        value: u32,
    },
    /// `var.reset(token)` with any variable and any token.
    Reset { var: usize, token: usize },
    /// Resets a token with its own variable.
    ResetOwn(usize),
    /// Resets the last `n` tokens, newest first, each with its own variable.
    ResetLast(usize),
    /// `try_get`, and `get`/`with` when a value or default exists.
    Get(usize),
    /// `get_opt` (Python's `var.get(None)`).
    GetOpt(usize),
    /// `get_or(default)`.
    GetOr(usize, u32),
    /// Checks a token's `var`, `old_value` and `is_used`.
    InspectToken(usize),
    /// Saves `copy_context()`.
    Copy,
    /// Saves `child_context()`: a copy without the variables that are not
    /// inherited.
    Child,
    /// Saves `saved[i].copy()`.
    CopySaved(usize),
    /// Saves `Context::new()`.
    NewSaved,
    /// Checks the map view of `saved[i]`: `get`, `contains`, `len`, `keys`,
    /// `iter`.
    Inspect(usize),
    /// Checks `saved[i] == saved[j]` (same variables, same values).
    Eq(usize, usize),
    /// `saved[i].try_run(sub-program)`.
    RunNested(usize, Vec<Op>),
    /// `Context::new().run(sub-program)`.
    RunNew(Vec<Op>),
    /// `copy_context().wrap(sub-program)()`: the owned (`run_mut`) path.
    RunOwned(Vec<Op>),
    /// `saved[i].run(sub-program, then panic)`, caught outside.
    RunPanic(usize, Vec<Op>),
    /// `var.scope(value, sub-program)`.
    Scope(usize, u32, Vec<Op>),
    /// `var.try_with(|v| sub-program)`: writes while a reader holds the map.
    With(usize, Vec<Op>),
}

fn var_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..3usize, 2 => 0..NVARS, 1 => (3 + EXTRA)..NVARS]
}

fn value_strategy() -> impl Strategy<Value = u32> {
    // Few values, so that equal values from different `set`s are common.
    0..4u32
}

fn index_strategy() -> impl Strategy<Value = usize> {
    0..64usize
}

fn leaf() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (var_strategy(), value_strategy()).prop_map(|(v, x)| Op::Set(v, x)),
        2 => (0..EXTRA, 0..=EXTRA, value_strategy())
            .prop_map(|(first, count, value)| Op::SetMany { first, count, value }),
        2 => (var_strategy(), index_strategy()).prop_map(|(var, token)| Op::Reset { var, token }),
        3 => index_strategy().prop_map(Op::ResetOwn),
        2 => (0..=48usize).prop_map(Op::ResetLast),
        3 => var_strategy().prop_map(Op::Get),
        1 => var_strategy().prop_map(Op::GetOpt),
        1 => (var_strategy(), value_strategy()).prop_map(|(v, x)| Op::GetOr(v, x)),
        1 => index_strategy().prop_map(Op::InspectToken),
        2 => Just(Op::Copy),
        1 => Just(Op::Child),
        1 => index_strategy().prop_map(Op::CopySaved),
        1 => Just(Op::NewSaved),
        2 => index_strategy().prop_map(Op::Inspect),
        1 => (index_strategy(), index_strategy()).prop_map(|(i, j)| Op::Eq(i, j)),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    leaf().prop_recursive(3, 96, 10, |inner| {
        let sub = || prop::collection::vec(inner.clone(), 0..10);
        prop_oneof![
            4 => leaf(),
            3 => (index_strategy(), sub()).prop_map(|(i, s)| Op::RunNested(i, s)),
            1 => sub().prop_map(Op::RunNew),
            1 => sub().prop_map(Op::RunOwned),
            1 => (index_strategy(), sub()).prop_map(|(i, s)| Op::RunPanic(i, s)),
            1 => (var_strategy(), value_strategy(), sub()).prop_map(|(v, x, s)| Op::Scope(v, x, s)),
            1 => (var_strategy(), sub()).prop_map(|(v, s)| Op::With(v, s)),
        ]
    })
}

fn program_strategy() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(), 0..40)
}

// === Reference model ===

/// A value in the model: the number, and the serial of the `set` that stored
/// it. The variables hold `u32`s, which are stored inline and compare by
/// value (as Python's `==`), so context equality looks at the number only;
/// the serial tells tokens' restored values apart in the map view checks.
type MValue = (u32, u64);

/// Context equality for maps of inline values: the same variables bound to
/// equal numbers.
fn same_bindings(a: &BTreeMap<usize, MValue>, b: &BTreeMap<usize, MValue>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && va.0 == vb.0)
}

#[derive(Clone, Debug)]
struct MToken {
    var: usize,
    ctx: usize,
    old: Option<MValue>,
    used: bool,
}

/// Things a program can exercise; the test checks that enough programs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A context grew past `SMALL_MAX` entries.
    GrewLarge,
    /// A context that was past `SMALL_MAX` shrank to `SMALL_AGAIN` or less.
    ShrankSmall,
    /// A context with more than `SMALL_MAX` entries was copied.
    CopiedLarge,
    /// A reset succeeded.
    ResetOk,
    /// A reset failed with `AlreadyUsed`.
    ResetAlreadyUsed,
    /// A reset failed with `WrongVar`.
    ResetWrongVar,
    /// A reset failed with `WrongContext`.
    ResetWrongContext,
    /// An entered context was entered again.
    AlreadyEntered,
    /// The map view of a context entered below the current one was checked.
    ViewOfOuter,
    /// The map view of the current context was checked.
    ViewOfCurrent,
    /// A `run` closure panicked.
    PanicInRun,
    /// `child_context` left out a variable that is not inherited.
    ChildLeftOut,
    /// `child_context` left out a variable of a context with more than
    /// `SMALL_MAX` entries.
    ChildOfLargeLeftOut,
}

impl Event {
    /// Minimum share of programs, in percent, that must exercise the event.
    const REQUIRED: [(Event, u32); 13] = [
        (Event::GrewLarge, 20),
        (Event::ShrankSmall, 3),
        (Event::CopiedLarge, 5),
        (Event::ResetOk, 20),
        (Event::ResetAlreadyUsed, 5),
        (Event::ResetWrongVar, 5),
        (Event::ResetWrongContext, 5),
        (Event::AlreadyEntered, 5),
        (Event::ViewOfOuter, 3),
        (Event::ViewOfCurrent, 5),
        (Event::PanicInRun, 5),
        (Event::ChildLeftOut, 10),
        (Event::ChildOfLargeLeftOut, 3),
    ];
}

#[derive(Debug, Default)]
struct Model {
    /// Every context ever made, by arena id.
    ctxs: Vec<BTreeMap<usize, MValue>>,
    /// Whether each context was ever past `SMALL_MAX` entries.
    was_large: Vec<bool>,
    /// Stack of entered contexts; the last is current.
    stack: Vec<usize>,
    tokens: Vec<MToken>,
    /// Arena ids of the saved contexts, in the order of `Harness::saved`.
    saved: Vec<usize>,
    next_serial: u64,
    /// What this program exercised.
    events: BTreeSet<Event>,
}

impl Model {
    fn new_ctx(&mut self, map: BTreeMap<usize, MValue>) -> usize {
        self.ctxs.push(map);
        self.was_large.push(false);
        self.ctxs.len() - 1
    }

    fn current(&self) -> usize {
        *self.stack.last().expect("always inside a context")
    }

    fn lookup(&self, v: usize) -> Option<MValue> {
        self.ctxs[self.current()].get(&v).copied()
    }

    fn get(&self, v: usize) -> Option<u32> {
        self.lookup(v).map(|x| x.0).or(default_of(v))
    }

    fn track_size(&mut self, ctx: usize) {
        let len = self.ctxs[ctx].len();
        if len > SMALL_MAX {
            self.was_large[ctx] = true;
            self.events.insert(Event::GrewLarge);
        } else if len <= SMALL_AGAIN && self.was_large[ctx] {
            self.events.insert(Event::ShrankSmall);
        }
    }

    fn set(&mut self, v: usize, x: u32) -> MToken {
        let ctx = self.current();
        self.next_serial += 1;
        let old = self.ctxs[ctx].insert(v, (x, self.next_serial));
        self.track_size(ctx);
        MToken {
            var: v,
            ctx,
            old,
            used: false,
        }
    }

    fn reset(&mut self, v: usize, token: &mut MToken) -> Result<(), ResetError> {
        let result = self.try_reset(v, token);
        self.events.insert(match result {
            Ok(()) => Event::ResetOk,
            Err(ResetError::AlreadyUsed) => Event::ResetAlreadyUsed,
            Err(ResetError::WrongVar) => Event::ResetWrongVar,
            Err(_) => Event::ResetWrongContext,
        });
        result
    }

    /// PEP 567's `ContextVar.reset`, in its order of checks.
    fn try_reset(&mut self, v: usize, token: &mut MToken) -> Result<(), ResetError> {
        if token.used {
            return Err(ResetError::AlreadyUsed);
        }
        if token.var != v {
            return Err(ResetError::WrongVar);
        }
        let ctx = self.current();
        if token.ctx != ctx {
            return Err(ResetError::WrongContext);
        }
        match token.old {
            Some(old) => self.ctxs[ctx].insert(v, old),
            None => self.ctxs[ctx].remove(&v),
        };
        token.used = true;
        self.track_size(ctx);
        Ok(())
    }

    fn copy(&mut self, ctx: usize) -> usize {
        if self.ctxs[ctx].len() > SMALL_MAX {
            self.events.insert(Event::CopiedLarge);
        }
        self.new_ctx(self.ctxs[ctx].clone())
    }

    fn child(&mut self, ctx: usize) -> usize {
        let mut map = self.ctxs[ctx].clone();
        map.retain(|&v, _| is_inherited(v));
        if map.len() < self.ctxs[ctx].len() {
            self.events.insert(Event::ChildLeftOut);
            if self.ctxs[ctx].len() > SMALL_MAX {
                self.events.insert(Event::ChildOfLargeLeftOut);
            }
        }
        self.new_ctx(map)
    }
}

// === The harness: runs a program on the real crate and on the model ===

/// Payload of the deliberate panics of `RunPanic`.
struct ModelPanic;

struct Harness {
    model: Model,
    /// Saved contexts; `Rc` so that one can be entered while the list grows.
    saved: Vec<Rc<Context>>,
    tokens: Vec<Token<u32>>,
}

impl Harness {
    fn exec(&mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
        }
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Set(v, x) => self.set(v, x),
            Op::SetMany {
                first,
                count,
                value,
            } => {
                for k in 0..count {
                    self.set(3 + (first + k) % EXTRA, value);
                }
            }
            Op::Reset { var, token } => {
                if !self.tokens.is_empty() {
                    self.reset(var, token % self.tokens.len());
                }
            }
            Op::ResetOwn(token) => {
                if !self.tokens.is_empty() {
                    let t = token % self.tokens.len();
                    self.reset(self.model.tokens[t].var, t);
                }
            }
            Op::ResetLast(n) => {
                let len = self.tokens.len();
                for t in (len.saturating_sub(n)..len).rev() {
                    self.reset(self.model.tokens[t].var, t);
                }
            }
            Op::Get(v) => self.check_get(v),
            Op::GetOpt(v) => {
                let expected = self.model.lookup(v).map(|x| x.0);
                assert_eq!(var(v).get_opt().as_ref().copied(), expected, "get_opt({v})");
            }
            Op::GetOr(v, d) => {
                let expected = self.model.lookup(v).map_or(d, |x| x.0);
                assert_eq!(var(v).get_or(d), expected, "get_or({v}, {d})");
            }
            Op::InspectToken(t) => {
                if !self.tokens.is_empty() {
                    self.check_token(t % self.tokens.len());
                }
            }
            Op::Copy => {
                let id = self.model.copy(self.model.current());
                self.model.saved.push(id);
                self.saved.push(Rc::new(copy_context()));
            }
            Op::Child => {
                let id = self.model.child(self.model.current());
                self.model.saved.push(id);
                self.saved.push(Rc::new(child_context()));
            }
            Op::CopySaved(i) => {
                let i = i % self.saved.len();
                let id = self.model.copy(self.model.saved[i]);
                self.model.saved.push(id);
                self.saved.push(Rc::new(self.saved[i].copy()));
            }
            Op::NewSaved => {
                let id = self.model.new_ctx(BTreeMap::new());
                self.model.saved.push(id);
                self.saved.push(Rc::new(Context::new()));
            }
            Op::Inspect(i) => self.check_view(i % self.saved.len()),
            Op::Eq(i, j) => {
                let (i, j) = (i % self.saved.len(), j % self.saved.len());
                let model = &self.model;
                let expected =
                    same_bindings(&model.ctxs[model.saved[i]], &model.ctxs[model.saved[j]]);
                assert_eq!(
                    *self.saved[i] == *self.saved[j],
                    expected,
                    "saved[{i}] == saved[{j}]"
                );
            }
            Op::RunNested(i, ref sub) => {
                let i = i % self.saved.len();
                let id = self.model.saved[i];
                let ctx = self.saved[i].clone();
                let mut called = false;
                let result = ctx.try_run(|| {
                    called = true;
                    self.model.stack.push(id);
                    self.exec(sub);
                    self.model.stack.pop();
                });
                if self.model.stack.contains(&id) {
                    self.model.events.insert(Event::AlreadyEntered);
                    assert_eq!(
                        result,
                        Err(EnterError::AlreadyEntered),
                        "re-entering saved[{i}]"
                    );
                    assert!(!called, "the closure ran although entering failed");
                } else {
                    assert_eq!(result, Ok(()), "entering saved[{i}]");
                }
            }
            Op::RunNew(ref sub) => {
                let id = self.model.new_ctx(BTreeMap::new());
                Context::new().run(|| {
                    self.model.stack.push(id);
                    self.exec(sub);
                    self.model.stack.pop();
                });
            }
            Op::RunOwned(ref sub) => {
                let id = self.model.copy(self.model.current());
                let job = copy_context().wrap(|| {
                    self.model.stack.push(id);
                    self.exec(sub);
                    self.model.stack.pop();
                });
                job();
            }
            Op::RunPanic(i, ref sub) => {
                let i = i % self.saved.len();
                let id = self.model.saved[i];
                let ctx = self.saved[i].clone();
                if self.model.stack.contains(&id) {
                    self.model.events.insert(Event::AlreadyEntered);
                    assert_eq!(ctx.try_run(|| ()), Err(EnterError::AlreadyEntered));
                    return;
                }
                let depth = self.model.stack.len();
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    ctx.run(|| {
                        self.model.stack.push(id);
                        self.exec(sub);
                        panic::panic_any(ModelPanic);
                    })
                }));
                match result {
                    Err(payload) if payload.is::<ModelPanic>() => {
                        self.model.events.insert(Event::PanicInRun);
                        self.model.stack.truncate(depth);
                    }
                    // A failed assertion inside: let it through.
                    Err(payload) => panic::resume_unwind(payload),
                    Ok(()) => unreachable!("the closure panics"),
                }
            }
            Op::Scope(v, x, ref sub) => {
                let mut token = self.model.set(v, x);
                var(v).scope(x, || {
                    assert_eq!(var(v).get_opt().as_ref(), Some(&x), "inside scope");
                    self.exec(sub);
                });
                let reset = self.model.reset(v, &mut token);
                assert_eq!(reset, Ok(()), "the model's scope reset");
                self.check_get(v);
            }
            Op::With(v, ref sub) => {
                let expected = self.model.get(v);
                let mut called = false;
                let result = var(v).try_with(|value| {
                    called = true;
                    let before = *value;
                    self.exec(sub);
                    // The reference stays valid whatever the sub-program did.
                    assert_eq!(*value, before);
                    before
                });
                assert_eq!(result.ok(), expected, "try_with({v})");
                assert_eq!(called, expected.is_some());
            }
        }
    }

    fn set(&mut self, v: usize, x: u32) {
        let token = self.model.set(v, x);
        let real = var(v).set(x);
        self.model.tokens.push(token);
        self.tokens.push(real);
        self.check_token(self.tokens.len() - 1);
        assert_eq!(var(v).get(), x);
    }

    fn reset(&mut self, v: usize, t: usize) {
        let mut token = self.model.tokens[t].clone();
        let expected = self.model.reset(v, &mut token);
        self.model.tokens[t] = token;
        let actual = var(v).reset(&self.tokens[t]);
        assert_eq!(actual, expected, "reset of token {t} with var {v}");
        self.check_token(t);
        self.check_get(v);
    }

    fn check_get(&self, v: usize) {
        let expected = self.model.get(v);
        match var(v).try_get() {
            Ok(value) => assert_eq!(Some(value), expected, "try_get({v})"),
            Err(err) => {
                assert_eq!(expected, None, "try_get({v}) failed");
                assert_eq!(err.name(), var(v).name());
            }
        }
        if let Some(x) = expected {
            assert_eq!(var(v).get(), x);
            assert_eq!(var(v).with(|value| *value), x);
        }
    }

    fn check_token(&self, t: usize) {
        let (model, real) = (&self.model.tokens[t], &self.tokens[t]);
        assert_eq!(real.var(), var(model.var).key(), "token {t}'s var");
        assert_eq!(
            real.old_value().copied(),
            model.old.map(|x| x.0),
            "token {t}'s old value"
        );
        assert_eq!(real.is_used(), model.used, "token {t}'s used flag");
    }

    /// Checks the whole map view of `saved[i]` against the model.
    fn check_view(&mut self, i: usize) {
        let id = self.model.saved[i];
        let state = if self.model.stack.last() == Some(&id) {
            self.model.events.insert(Event::ViewOfCurrent);
            "current"
        } else if self.model.stack.contains(&id) {
            self.model.events.insert(Event::ViewOfOuter);
            "entered, not current"
        } else {
            "not entered"
        };
        let ctx = &self.saved[i];
        let expected = &self.model.ctxs[id];
        for v in 0..NVARS {
            let want = expected.get(&v).map(|x| x.0);
            assert_eq!(
                ctx.get(var(v)).as_deref().copied(),
                want,
                "saved[{i}] ({state}).get({v})"
            );
            assert_eq!(
                ctx.contains(var(v)),
                want.is_some(),
                "saved[{i}] ({state}) contains {v}"
            );
        }
        assert_eq!(ctx.len(), expected.len(), "len of saved[{i}] ({state})");
        assert_eq!(ctx.is_empty(), expected.is_empty());
        let keys: Vec<usize> = ctx.keys().map(var_index).collect();
        let unique: BTreeSet<usize> = keys.iter().copied().collect();
        assert_eq!(unique.len(), keys.len(), "duplicate keys in saved[{i}]");
        assert!(
            unique.iter().eq(expected.keys()),
            "keys of saved[{i}] ({state})"
        );
        let items: BTreeMap<usize, u32> = ctx
            .iter()
            .map(|b| (var_index(b.key()), *b.downcast_ref::<u32>().expect("a u32")))
            .collect();
        let want: BTreeMap<usize, u32> = expected.iter().map(|(&v, &x)| (v, x.0)).collect();
        assert_eq!(items, want, "items of saved[{i}] ({state})");
    }
}

/// Runs `program` in a fresh context and checks it step by step. Returns
/// what it covered.
fn run_program(program: &[Op]) -> BTreeSet<Event> {
    let mut model = Model::default();
    let outer = model.new_ctx(BTreeMap::new());
    model.saved.push(outer);
    model.stack.push(outer);
    let outer_ctx = Rc::new(Context::new());
    let mut h = Harness {
        model,
        saved: vec![outer_ctx.clone()],
        tokens: Vec::new(),
    };
    outer_ctx.run(|| h.exec(program));
    h.model.stack.pop();
    // Every context is exited now: all their views, including what the runs
    // recorded in them, must match.
    for i in 0..h.saved.len() {
        h.check_view(i);
        assert!(h.saved[i].try_run(|| ()).is_ok(), "saved[{i}] left entered");
    }
    // Nothing leaked into the test thread's own context.
    for v in 0..NVARS {
        assert_eq!(var(v).get_opt(), None, "var {v} leaked");
    }
    h.model.events
}

/// Silences the deliberate panics of `RunPanic`; other panics report as
/// usual.
fn quiet_model_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<ModelPanic>() {
                default(info);
            }
        }));
    });
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(4000)
}

#[test]
fn random_programs_match_the_model() {
    quiet_model_panics();
    let config = Config {
        cases: cases(),
        // A failure is to be minimized into a fixed-program `#[test]` below,
        // not persisted in a side file.
        failure_persistence: None,
        // ChaCha dominates the run time in debug builds; XorShift is plenty
        // for test generation.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    };
    let seen: RefCell<BTreeMap<Event, u32>> = RefCell::default();
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(&program_strategy(), |program| {
        for event in run_program(&program) {
            *seen.borrow_mut().entry(event).or_default() += 1;
        }
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    let seen = seen.into_inner();
    eprintln!("{} cases; programs per event: {seen:?}", config.cases);
    // The generator must keep exercising every path, in particular the
    // map's change of representation. (Not meaningful for a handful of cases
    // set through `PROPTEST_CASES`.)
    if config.cases >= 500 {
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

// === Fixed programs ===

/// The boundary between the vector and the trie, deterministically: grow a
/// context past 8 entries, copy it, change both, shrink one back below 5.
#[test]
fn fixed_program_crosses_the_map_boundary() {
    use Op::*;
    let program = [
        Set(0, 1),
        SetMany {
            first: 0,
            count: EXTRA,
            value: 2,
        },
        Copy,
        Set(1, 3),
        RunNested(1, vec![Set(2, 4), ResetLast(30), Inspect(0), Inspect(1)]),
        Inspect(1),
        ResetLast(EXTRA),
        Inspect(0),
        Eq(0, 1),
    ];
    let events = run_program(&program);
    for event in [
        Event::GrewLarge,
        Event::CopiedLarge,
        Event::ShrankSmall,
        Event::ViewOfOuter,
    ] {
        assert!(events.contains(&event), "{event:?} not in {events:?}");
    }
}

/// The map view of a context entered below the current one shows its live
/// contents, not the snapshot taken when it was entered (this failed before
/// commit 19b648d: `saved[0] (entered, not current).get(0)` was `None`).
#[test]
fn fixed_program_outer_view_is_live() {
    use Op::*;
    let program = [
        Copy,
        Set(0, 0),
        RunNested(1, vec![Inspect(0)]),
        RunNew(vec![Inspect(0), RunNested(1, vec![Inspect(0), Inspect(1)])]),
    ];
    let events = run_program(&program);
    assert!(events.contains(&Event::ViewOfOuter));
}
