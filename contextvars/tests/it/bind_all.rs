//! `Context::bind_all`: values bound together behave as values bound one by
//! one, except for the `Arc`s handed out and the time they are dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use contextvars::{copy_context, Context, ContextVar};

static ID: ContextVar<String> = ContextVar::new("id");
static USER: ContextVar<String> = ContextVar::new("user");
static COUNT: ContextVar<u64> = ContextVar::new("count");
static TAGS: ContextVar<Vec<u8>> = ContextVar::new("tags");

fn bound() -> Context {
    let mut ctx = Context::new();
    ctx.bind_all((
        (&ID, "req-7".to_string()),
        (&USER, "ada".to_string()),
        (&COUNT, 3),
        (&TAGS, vec![1, 2]),
    ));
    ctx
}

#[test]
fn every_read_sees_each_value() {
    let ctx = bound();
    assert_eq!(ctx.len(), 4);
    assert!(ctx.contains(&USER));
    ctx.run(|| {
        assert_eq!(ID.get(), "req-7");
        assert_eq!(USER.get_opt().as_deref(), Some("ada"));
        assert_eq!(COUNT.get(), 3);
        assert_eq!(COUNT.get_arc(), Arc::new(3));
        assert_eq!(TAGS.with(Vec::len), 2);
        assert_eq!(*USER.get_arc(), "ada");
        assert_eq!(copy_context().get(&TAGS).as_deref(), Some(&vec![1, 2]));
    });
    let mut names: Vec<&str> = ctx.iter().map(|b| b.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["count", "id", "tags", "user"]);
    let user = ctx.iter().find(|b| b.key().is(&USER)).unwrap();
    assert!(user.value().is::<String>());
    assert_eq!(
        user.downcast_ref::<String>().map(String::as_str),
        Some("ada")
    );
    assert_eq!(
        user.downcast::<String>().as_deref().map(String::as_str),
        Some("ada")
    );
    assert!(user.downcast::<u64>().is_none());
    assert_eq!(format!("{user:?}"), r#"user: "ada""#);
    let debug = format!("{ctx:?}");
    for part in [
        r#"id: "req-7""#,
        r#"user: "ada""#,
        "count: 3",
        "tags: [1, 2]",
    ] {
        assert!(debug.contains(part), "{debug}");
    }
}

#[test]
fn each_variable_changes_and_resets_on_its_own() {
    let mut ctx = bound();
    ctx.run_mut(|| {
        let token = USER.set("grace".to_string());
        assert_eq!(USER.get(), "grace");
        assert_eq!(ID.get(), "req-7");
        USER.reset(&token).unwrap();
        assert_eq!(USER.get(), "ada");
        ID.set("req-8".to_string());
    });
    assert_eq!(ctx.get(&ID).as_deref().map(String::as_str), Some("req-8"));
    assert_eq!(ctx.get(&USER).as_deref().map(String::as_str), Some("ada"));
    assert_eq!(ctx.get(&TAGS).as_deref(), Some(&vec![1, 2]));
}

#[test]
fn shared_arcs_are_clones_and_copies_are_equal() {
    let ctx = bound();
    let (a, b) = ctx.run(|| (USER.get_arc(), USER.get_arc()));
    assert_eq!(a, b);
    assert!(
        !Arc::ptr_eq(&a, &b),
        "a part is cloned into a new Arc, as an inline value is"
    );
    let copy = ctx.copy();
    assert_eq!(copy, ctx);
    // The same values bound again, in another allocation, are other values.
    assert_ne!(bound(), ctx);
    // Two parts of one allocation are two values.
    let mut other = Context::new();
    other.bind_all(((&ID, "x".to_string()), (&USER, "x".to_string())));
    let mut swapped = other.copy();
    swapped.bind(&USER, "x".to_string());
    assert_ne!(swapped, other);
}

#[test]
fn the_last_pair_for_a_variable_wins() {
    let mut ctx = Context::new();
    ctx.bind_all(((&USER, "first".to_string()), (&USER, "second".to_string())));
    assert_eq!(ctx.len(), 1);
    assert_eq!(
        ctx.get(&USER).as_deref().map(String::as_str),
        Some("second")
    );
    assert_eq!(ctx.run(|| USER.get()), "second");
}

static DROPS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug)]
struct Counted(&'static str);

impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

static A: ContextVar<Counted> = ContextVar::new("a");
static B: ContextVar<Counted> = ContextVar::new("b");

#[test]
fn values_bound_together_are_dropped_together_with_the_last_binding() {
    let mut ctx = Context::new();
    ctx.bind_all(((&A, Counted("a")), (&B, Counted("b"))));
    let before = DROPS.load(Ordering::SeqCst);
    // Replacing one of them drops nothing yet: its part lives on with B's.
    ctx.bind(&A, Counted("a2"));
    assert_eq!(DROPS.load(Ordering::SeqCst), before);
    assert_eq!(ctx.run(|| B.with(|b| b.0)), "b");
    let copy = ctx.copy();
    drop(ctx);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        before,
        "the copy still binds B"
    );
    drop(copy);
    // "a2", and the pair "a" and "b".
    assert_eq!(DROPS.load(Ordering::SeqCst), before + 3);
}
