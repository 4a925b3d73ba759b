//! The read-only map view of a `Context` (`get`, `contains`, `len`, `keys`,
//! `iter`, `==`, `Debug`) at every size.
//!
//! A context's map is a sorted vector up to 8 entries and a trie above; a
//! trie that shrinks to 4 entries turns back into a vector. None of that may
//! be visible through the view, so the tests walk sizes across both
//! boundaries, in both directions, and check the whole view at each step
//! against a plain `BTreeMap`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use contextvars::{copy_context, Context, ContextVar, Token, VarKey};

use crate::Rng;

type Var = &'static ContextVar<usize>;

/// `n` new variables named `{prefix}{index}`. Their ids are assigned here, in
/// index order, so index order is also the order of `Debug`.
///
/// A variable and its name must be `'static`, so they live until the process
/// exits; a static list keeps them reachable, so that leak checkers (Miri's)
/// do not report them.
fn vars(prefix: &str, n: usize) -> Vec<Var> {
    static MADE: Mutex<Vec<Var>> = Mutex::new(Vec::new());
    let made: Vec<Var> = (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("{prefix}{i}").into_boxed_str());
            let var: Var = Box::leak(Box::new(ContextVar::new(name)));
            var.key();
            var
        })
        .collect();
    MADE.lock().unwrap().extend(&made);
    made
}

/// Index of each variable in `vars`, by key.
fn index_of(vars: &[Var], key: VarKey) -> usize {
    vars.iter()
        .position(|v| key.is(v))
        .expect("a key of one of the test's variables")
}

/// Checks every part of the view of `ctx` against `model` (index → value).
fn check_view(ctx: &Context, vars: &[Var], model: &BTreeMap<usize, usize>) {
    let n = model.len();
    assert_eq!(ctx.len(), n);
    assert_eq!(ctx.is_empty(), n == 0);
    for (i, var) in vars.iter().enumerate() {
        assert_eq!(
            ctx.get(var).as_deref(),
            model.get(&i),
            "get of {}",
            var.name()
        );
        assert_eq!(ctx.contains(var), model.contains_key(&i), "{}", var.name());
    }

    let mut keys: Vec<VarKey> = ctx.keys().collect();
    keys.sort();
    let expected_keys: Vec<VarKey> = model.keys().map(|&i| vars[i].key()).collect();
    assert_eq!(keys, expected_keys);

    let iter = ctx.iter();
    let (low, high) = iter.size_hint();
    assert!(
        low <= n && high.is_none_or(|h| h >= n),
        "size_hint {low}, {high:?} for {n}"
    );
    let mut items: Vec<(usize, usize)> = iter
        .map(|b| (index_of(vars, b.key()), *b.downcast_ref::<usize>().unwrap()))
        .collect();
    items.sort_unstable();
    let expected_items: Vec<(usize, usize)> = model.iter().map(|(&i, &v)| (i, v)).collect();
    assert_eq!(items, expected_items);

    assert_eq!(format!("{ctx:?}"), expected_debug(vars, model));
    assert!(*ctx == ctx.copy());
}

fn expected_debug(vars: &[Var], model: &BTreeMap<usize, usize>) -> String {
    if model.is_empty() {
        return "Context".to_string();
    }
    let fields: Vec<String> = model
        .iter()
        .map(|(&i, v)| format!("{}: {v}", vars[i].name()))
        .collect();
    format!("Context {{ {} }}", fields.join(", "))
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri")]
fn view_is_right_growing_into_the_trie_and_shrinking_to_empty() {
    let vars = vars("grow", 40);
    let ctx = Context::new();
    let mut model = BTreeMap::new();
    let mut tokens = Vec::new();

    for (i, var) in vars.iter().enumerate() {
        ctx.run(|| {
            tokens.push(var.set(i * 10));
            model.insert(i, i * 10);
            // While the context is current, the view is live: it already
            // shows the change, as does a copy.
            check_view(&ctx, &vars, &model);
            check_view(&copy_context(), &vars, &model);
        });
        check_view(&ctx, &vars, &model);
    }

    while let Some(token) = tokens.pop() {
        let i = tokens.len();
        ctx.run(|| {
            vars[i].reset(&token).unwrap();
            model.remove(&i);
            check_view(&ctx, &vars, &model);
        });
        check_view(&ctx, &vars, &model);
    }
    assert!(ctx.is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri")]
fn view_is_right_on_a_random_walk_around_both_boundaries() {
    let vars = vars("walk", 48);
    let ctx = Context::new();
    let mut rng = Rng::new(567);
    let mut model: BTreeMap<usize, usize> = BTreeMap::new();
    // Tokens with the variable they belong to and the model value they undo
    // to; only the newest is ever reset, so undoing is exact.
    let mut tokens: Vec<(usize, Option<usize>, Token<usize>)> = Vec::new();
    let mut growing = true;
    let (mut crossed_up, mut crossed_down) = (0, 0);

    for step in 0..3_000 {
        let before = model.len();
        if before >= 40 {
            growing = false;
        } else if before <= 2 {
            growing = true;
        }
        let set = tokens.is_empty() || rng.below(100) < if growing { 70 } else { 30 };
        if set {
            let i = rng.below(vars.len());
            let value = step;
            let token = ctx.run(|| vars[i].set(value));
            tokens.push((i, model.insert(i, value), token));
        } else {
            let (i, old, token) = tokens.pop().unwrap();
            ctx.run(|| vars[i].reset(&token)).unwrap();
            match old {
                Some(old) => model.insert(i, old),
                None => model.remove(&i),
            };
        }
        let after = model.len();
        crossed_up += usize::from(before == 8 && after == 9);
        crossed_down += usize::from(before == 5 && after == 4);
        check_view(&ctx, &vars, &model);
    }
    // The walk really went across both boundaries, several times.
    assert!(
        crossed_up >= 5 && crossed_down >= 5,
        "{crossed_up} {crossed_down}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri")]
fn view_is_right_with_more_than_a_thousand_vars() {
    let vars = vars("k", 1_500);
    let ctx = Context::new();
    let mut model = BTreeMap::new();
    ctx.run(|| {
        for (i, var) in vars.iter().enumerate() {
            var.set(i);
            model.insert(i, i);
        }
    });
    check_view(&ctx, &vars, &model);
    ctx.run(|| check_view(&ctx, &vars, &model));

    let copy = ctx.copy();
    assert!(copy == ctx);
    copy.run(|| vars[1_234].set(0));
    assert!(copy != ctx);
    check_view(&ctx, &vars, &model);
    model.insert(1_234, 0);
    check_view(&copy, &vars, &model);
}

/// Checks that `snapshot` holds exactly the first `n` of `vars`, each bound to
/// its index.
fn check_prefix_snapshot(snapshot: &Context, vars: &[Var], n: usize) {
    assert_eq!(snapshot.len(), n);
    let mut items: Vec<(VarKey, usize)> = snapshot
        .iter()
        .map(|b| (b.key(), *b.downcast_ref::<usize>().unwrap()))
        .collect();
    items.sort_unstable_by_key(|&(key, _)| key);
    let expected: Vec<(VarKey, usize)> = vars[..n].iter().map(|v| v.key()).zip(0..).collect();
    assert!(items == expected, "snapshot of size {n} changed");
    for i in [0, n.saturating_sub(1), n, n + 1, vars.len() - 1] {
        if let Some(var) = vars.get(i) {
            let expected = (i < n).then_some(i);
            assert_eq!(
                snapshot.get(var).as_deref(),
                expected.as_ref(),
                "{i} in {n}"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "minutes under Miri")]
fn ten_thousand_vars_set_get_reset_and_snapshot_at_every_size() {
    const N: usize = 10_000;
    let vars = vars("t", N);
    let sampled = |n: usize| n <= 70 || n.is_multiple_of(500) || n >= N - 2;
    let mut snapshots = Vec::new();

    let ctx = Context::new();
    ctx.run(|| {
        snapshots.push((0, copy_context()));
        let tokens: Vec<Token<usize>> = vars
            .iter()
            .enumerate()
            .map(|(i, var)| {
                let token = var.set(i);
                if sampled(i + 1) {
                    snapshots.push((i + 1, copy_context()));
                }
                token
            })
            .collect();
        assert_eq!(copy_context().len(), N);
        for (i, var) in vars.iter().enumerate() {
            assert_eq!(var.get(), i);
        }

        // Overwrite every other variable, then undo.
        let overwrites: Vec<(usize, Token<usize>)> =
            (0..N).step_by(2).map(|i| (i, vars[i].set(i + N))).collect();
        for (i, var) in vars.iter().enumerate() {
            let expected = if i % 2 == 0 { i + N } else { i };
            assert_eq!(var.get(), expected);
        }
        assert_eq!(copy_context().len(), N);
        for (i, token) in overwrites.iter().rev() {
            vars[*i].reset(token).unwrap();
        }
        for (i, var) in vars.iter().enumerate() {
            assert_eq!(var.get(), i);
        }

        // Unset everything, newest first, snapshotting on the way down.
        for (i, token) in tokens.iter().enumerate().rev() {
            vars[i].reset(token).unwrap();
            if sampled(i) {
                snapshots.push((i, copy_context()));
            }
        }
        assert!(copy_context().is_empty());
        assert!(vars.iter().all(|v| v.try_get().is_err()));
    });
    assert!(ctx.is_empty());

    // Every snapshot is still exactly what it was when taken.
    for (n, snapshot) in &snapshots {
        check_prefix_snapshot(snapshot, &vars, *n);
    }
}

#[test]
fn copy_equals_its_original_until_one_set() {
    for n in [0, 1, 4, 5, 8, 9, 16, 17, 32, 33, 100, 1_000] {
        let vars = vars("eq", n + 1);
        let values: Vec<Arc<usize>> = (0..n).map(Arc::new).collect();
        let ctx = Context::new();
        ctx.run(|| {
            for (var, value) in vars.iter().zip(&values) {
                var.set_arc(value.clone());
            }
        });

        let copy = ctx.copy();
        assert!(copy == ctx, "size {n}");
        assert!(ctx == copy, "size {n}, the other way round");
        // The live view of an entered context compares the same way.
        ctx.run(|| assert!(ctx == copy, "size {n}, entered"));

        // Binding one more variable.
        let grown = ctx.copy();
        grown.run(|| vars[n].set(0));
        assert!(grown != ctx, "size {n}, one more");
        assert!(copy == ctx, "size {n}: the set did not reach other copies");

        if n > 0 {
            let changed = ctx.copy();
            changed.run(|| vars[0].set(usize::MAX));
            assert!(changed != ctx, "size {n}, one changed");
            // Rebinding the very same value makes them equal again...
            changed.run(|| vars[0].set_arc(values[0].clone()));
            assert!(changed == ctx, "size {n}, same value again");
            // ...and so does an equal value: `usize` is stored inline, and
            // inline values compare by value (Python's `==`).
            changed.run(|| vars[0].set(*values[0]));
            assert!(changed == ctx, "size {n}, equal inline value");

            let restored = ctx.copy();
            restored.run(|| {
                // Overwrite, then reset: the token brings back the very same
                // value.
                let overwrite = vars[n - 1].set(0);
                // Bind, then reset: the token's old value was missing, so
                // this unbinds.
                let bind = vars[n].set(0);
                vars[n].reset(&bind).unwrap();
                vars[n - 1].reset(&overwrite).unwrap();
            });
            assert!(restored == ctx, "size {n}, set and reset back");
        }
    }
}

#[test]
fn contexts_with_the_same_bindings_are_equal_whatever_their_history() {
    // `a` grows to 40 bindings (past the vector limit) and shrinks back to
    // 20, which is above the point where it would turn back into a vector;
    // `b` is built with the same 20 bindings directly.
    let vars = vars("hist", 41);
    let values: Vec<Arc<usize>> = (0..40).map(Arc::new).collect();
    let a = Context::new();
    a.run(|| {
        let tokens: Vec<_> = vars[..40]
            .iter()
            .zip(&values)
            .map(|(var, value)| var.set_arc(value.clone()))
            .collect();
        for (var, token) in vars[20..40].iter().zip(&tokens[20..]).rev() {
            var.reset(token).unwrap();
        }
    });
    let b = Context::new();
    b.run(|| {
        for (var, value) in vars[..20].iter().zip(&values) {
            var.set_arc(value.clone());
        }
    });
    assert_eq!(a.len(), 20);
    assert!(a == b);
    assert!(b == a);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));

    b.run(|| vars[40].set_arc(values[0].clone()));
    assert!(a != b);
    a.run(|| vars[40].set_arc(values[0].clone()));
    assert!(a == b);
}

#[test]
fn view_of_a_context_entered_on_this_thread_is_live() {
    let vars = vars("live", 2);
    let (outer, inner) = (Context::new(), Context::new());
    outer.run(|| {
        vars[0].set(1);
        // Current: the view shows the change made inside this run.
        assert_eq!(outer.get(vars[0]).as_deref(), Some(&1));
        assert_eq!(outer.len(), 1);
        assert!(outer == copy_context());
        inner.run(|| {
            vars[1].set(2);
            // Entered further out: the view shows it as it was when `inner`
            // was entered, which is what it still is.
            assert_eq!(outer.get(vars[0]).as_deref(), Some(&1));
            assert!(!outer.contains(vars[1]));
            assert_eq!(outer.copy().len(), 1);
            assert_eq!(format!("{outer:?}"), "Context { live0: 1 }");
            assert_eq!(inner.get(vars[1]).as_deref(), Some(&2));
        });
        assert_eq!(inner.get(vars[1]).as_deref(), Some(&2));
    });
    assert_eq!(outer.get(vars[0]).as_deref(), Some(&1));
    assert_eq!(format!("{inner:?}"), "Context { live1: 2 }");
}

/// Values behind an `Arc` compare by identity (the library cannot compare
/// values of any type); the primitive types stored inline compare by value,
/// bit for bit, as Python's `==` compares small ints (and a NaN equals
/// itself, as the same object does in Python).
#[test]
fn shared_values_compare_by_identity_inline_values_by_value() {
    static TEXT: ContextVar<String> = ContextVar::new("text");
    static NUMBER: ContextVar<u128> = ContextVar::new("number");
    static RATIO: ContextVar<f64> = ContextVar::new("ratio");

    let (a, b) = (Context::new(), Context::new());
    a.run(|| TEXT.set("x".to_string()));
    b.run(|| TEXT.set("x".to_string()));
    assert!(a != b, "equal strings in distinct allocations");
    let shared = Arc::new("y".to_string());
    a.run(|| TEXT.set_arc(shared.clone()));
    b.run(|| TEXT.set_arc(shared.clone()));
    assert!(a == b, "the same allocation");

    a.run(|| NUMBER.set(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736));
    b.run(|| NUMBER.set(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736));
    assert!(a == b, "equal inline values");
    b.run(|| NUMBER.set(1));
    assert!(a != b, "different inline values");
    b.run(|| NUMBER.set(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736));

    a.run(|| RATIO.set(f64::NAN));
    b.run(|| RATIO.set(f64::NAN));
    assert!(a == b, "the same NaN");
    b.run(|| RATIO.set(-0.0));
    a.run(|| RATIO.set(0.0));
    assert!(a != b, "0.0 and -0.0 differ bit for bit");
}
