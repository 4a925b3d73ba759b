//! Values whose `Drop` reads or writes context variables, dropped from every
//! place the library drops values.
//!
//! The library must never drop a value while it holds its thread-local
//! borrowed (a `Drop` that touches a variable would then panic with
//! "already borrowed") nor while it holds a context's lock (a `Drop` that
//! looks at that context would deadlock). Each test states which context a
//! dropped value is expected to see: always the one that is current on the
//! thread at the moment the library lets go of the value.

use std::sync::{Arc, Mutex, OnceLock};

use contextvars::{copy_context, Context, ContextVar, EnterError};

/// Read by every `Probe` when dropped. Has a default.
static OBSERVED: ContextVar<&str> = ContextVar::with_default("observed", || "default");
/// Read by every `Probe` when dropped. Has no default.
static PLAIN: ContextVar<&str> = ContextVar::new("plain");
/// Written by a `Probe` that has something to write, then read back.
static WRITTEN: ContextVar<&str> = ContextVar::new("written");
/// Holds probes.
static HOLDER: ContextVar<Probe> = ContextVar::new("holder");
/// Holds probes too, to drop one while `HOLDER` is being read.
static SECOND: ContextVar<Probe> = ContextVar::new("second");

type Log = Arc<Mutex<Vec<Dropped>>>;

/// What a `Probe` saw while being dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dropped {
    tag: &'static str,
    /// `OBSERVED.get()`: the value, else the default.
    observed: &'static str,
    /// `PLAIN.try_get()`, `None` for a `LookupError`.
    plain: Option<&'static str>,
    /// The tag of the probe `HOLDER` held, if any.
    holder: Option<&'static str>,
    /// `WRITTEN` right after the probe set it (`None` if it wrote nothing, or
    /// its write was discarded).
    written: Option<&'static str>,
}

/// A value that records, when dropped, what the current context held, after
/// optionally setting `WRITTEN`.
#[derive(Debug)]
struct Probe {
    tag: &'static str,
    write: Option<&'static str>,
    log: Log,
}

impl Probe {
    fn new(tag: &'static str, log: &Log) -> Self {
        Probe {
            tag,
            write: None,
            log: log.clone(),
        }
    }

    fn writing(tag: &'static str, write: &'static str, log: &Log) -> Self {
        Probe {
            tag,
            write: Some(write),
            log: log.clone(),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let written = self.write.and_then(|w| {
            WRITTEN.set(w);
            WRITTEN.get_opt()
        });
        let dropped = Dropped {
            tag: self.tag,
            observed: OBSERVED.get(),
            plain: PLAIN.try_get().ok(),
            holder: HOLDER.try_with(|p| p.tag).ok(),
            written,
        };
        self.log.lock().unwrap().push(dropped);
    }
}

fn new_log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn take(log: &Log) -> Vec<Dropped> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[test]
fn value_overwritten_by_set_is_dropped_after_the_set() {
    let log = new_log();
    let ctx = Context::new();
    ctx.run(|| {
        OBSERVED.set("ctx");
        PLAIN.set("plain");
        HOLDER.set(Probe::writing("first", "from first", &log));
        assert_eq!(take(&log), []);

        // The token of this `set` holds the replaced value: dropping the
        // token at the end of the statement drops it. By then the `set` is
        // complete, so the probe sees the new value of its own variable, and
        // its own write lands in the current context.
        HOLDER.set(Probe::new("second", &log));
        assert_eq!(
            take(&log),
            [Dropped {
                tag: "first",
                observed: "ctx",
                plain: Some("plain"),
                holder: Some("second"),
                written: Some("from first"),
            }]
        );
        assert_eq!(WRITTEN.get(), "from first");

        // While the token is alive the replaced value is kept, as Python's
        // `Token.old_value` keeps it.
        let token = HOLDER.set(Probe::new("third", &log));
        assert_eq!(token.old_value().map(|p| p.tag), Some("second"));
        assert_eq!(take(&log), []);
        drop(token);
        assert_eq!(
            take(&log).iter().map(|d| d.tag).collect::<Vec<_>>(),
            ["second"]
        );
    });
    assert_eq!(ctx.get(&WRITTEN).as_deref(), Some(&"from first"));
    assert!(WRITTEN.try_get().is_err(), "the write stayed in `ctx`");
}

#[test]
fn value_removed_by_reset_is_dropped_after_the_reset() {
    let log = new_log();
    OBSERVED.set("caller");

    // Reset to "no value": the probe sees its variable unset.
    let token = HOLDER.set(Probe::writing("only", "from only", &log));
    HOLDER.reset(&token).unwrap();
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "only",
            observed: "caller",
            plain: None,
            holder: None,
            written: Some("from only"),
        }]
    );
    assert_eq!(WRITTEN.get(), "from only");

    // Reset to an older value: the probe sees the restored value.
    let _keep = HOLDER.set(Probe::new("older", &log));
    let newer = HOLDER.set(Probe::new("newer", &log));
    HOLDER.reset(&newer).unwrap();
    let dropped = take(&log);
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (dropped[0].tag, dropped[0].holder),
        ("newer", Some("older"))
    );
}

#[test]
fn values_of_a_dropped_context_see_the_context_that_drops_it() {
    let log = new_log();
    OBSERVED.set("caller");

    let ctx = Context::new();
    ctx.run(|| {
        OBSERVED.set("in ctx");
        PLAIN.set("in ctx");
        HOLDER.set(Probe::writing("in ctx", "from ctx's probe", &log));
    });
    assert_eq!(take(&log), []);
    drop(ctx);
    // Dropped from the caller's context, where nothing but OBSERVED is set.
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "in ctx",
            observed: "caller",
            plain: None,
            holder: None,
            written: Some("from ctx's probe"),
        }]
    );
    assert_eq!(WRITTEN.get(), "from ctx's probe");

    // A context dropped inside another context's `run` sees that one.
    let doomed = Context::new();
    doomed.run(|| HOLDER.set(Probe::writing("doomed", "from doomed", &log)));
    let other = Context::new();
    other.run(|| {
        OBSERVED.set("other");
        drop(doomed);
    });
    let dropped = take(&log);
    assert_eq!(dropped.len(), 1);
    assert_eq!((dropped[0].tag, dropped[0].observed), ("doomed", "other"));
    assert_eq!(other.get(&WRITTEN).as_deref(), Some(&"from doomed"));
}

/// When a context is exited, its stored contents are replaced by the ones
/// the closure left; a value that only the old contents held is dropped.
#[test]
fn value_released_when_a_context_exits_sees_the_restored_callers_context() {
    let log = new_log();
    OBSERVED.set("caller");

    let ctx = Context::new();
    ctx.run(|| HOLDER.set(Probe::writing("stale", "from stale", &log)));
    ctx.run(|| {
        OBSERVED.set("inside");
        HOLDER.set(Probe::new("fresh", &log));
        // The context's stored contents still hold "stale" until exit.
        assert_eq!(take(&log), []);
    });
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "stale",
            observed: "caller",
            plain: None,
            holder: None,
            written: Some("from stale"),
        }]
    );
    assert_eq!(WRITTEN.get(), "from stale");
    assert_eq!(ctx.get(&WRITTEN), None);
    assert_eq!(ctx.get(&HOLDER).map(|p| p.tag), Some("fresh"));
}

/// What an `EntersOnDrop` saw: the context's view of `OBSERVED` (when it
/// could enter), and the outcome of entering it.
type EnterLog = Arc<Mutex<Vec<(Option<&'static str>, EnterOutcome)>>>;
type EnterOutcome = Result<Option<&'static str>, EnterError>;

/// Records, when dropped, what `ctx` shows through its map view and whether
/// it can be entered.
#[derive(Debug)]
struct EntersOnDrop {
    ctx: &'static Context,
    log: EnterLog,
}

impl Drop for EntersOnDrop {
    fn drop(&mut self) {
        // Entering first: if the context were still entered this fails
        // without touching the context's lock, so that a drop made under that
        // lock shows up as a failure rather than a deadlock.
        let entered = self.ctx.try_run(|| OBSERVED.get_opt());
        let view = entered
            .is_ok()
            .then(|| self.ctx.get(&OBSERVED).map(|v| *v))
            .flatten();
        self.log.lock().unwrap().push((view, entered));
    }
}

#[test]
fn value_released_when_a_context_exits_can_look_into_that_context() {
    // The value is dropped after the context has stored its new contents and
    // is no longer entered: it neither deadlocks on the context's lock nor
    // finds the context still entered.
    static STALE: ContextVar<EntersOnDrop> = ContextVar::new("stale");
    // The values refer to the context, so it lives in a static (rather than
    // a leaked box, which leak checkers report).
    static CTX: OnceLock<Context> = OnceLock::new();

    let ctx: &'static Context = CTX.get_or_init(Context::new);
    let log = Arc::new(Mutex::new(Vec::new()));
    ctx.run(|| {
        STALE.set(EntersOnDrop {
            ctx,
            log: log.clone(),
        })
    });
    ctx.run(|| {
        OBSERVED.set("new contents");
        STALE.set(EntersOnDrop {
            ctx,
            log: log.clone(),
        });
    });
    assert_eq!(
        *log.lock().unwrap(),
        [(Some("new contents"), Ok(Some("new contents")))]
    );
}

#[test]
fn values_left_in_a_plain_threads_context_are_dropped_at_thread_exit() {
    // A `std::thread` runs in its base context, stored in the crate's
    // thread-local. At thread exit the thread-local is destroyed first and its
    // contents dropped after, so a value dropped then finds a thread with no
    // current context: reads see no value (the default, if any), and writes
    // are discarded. Above all, nothing panics (a panic in a thread-local
    // destructor aborts the process).
    let log = new_log();
    std::thread::spawn({
        let log = log.clone();
        move || {
            OBSERVED.set("thread");
            PLAIN.set("thread");
            HOLDER.set(Probe::writing("thread", "from thread exit", &log));
        }
    })
    .join()
    .unwrap();
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "thread",
            observed: "default",
            plain: None,
            holder: None,
            written: None,
        }]
    );
}

#[test]
fn values_left_in_an_inheriting_threads_context_are_dropped_when_it_returns() {
    // `contextvars::thread::spawn` runs the closure in an owned copy of the
    // spawner's context, dropped when the closure returns: by then the
    // thread's base context (empty) is current again, and the thread-local is
    // still alive, so the probe's write lands there.
    let log = new_log();
    OBSERVED.set("spawner");
    let handle = contextvars::thread::spawn({
        let log = log.clone();
        move || {
            assert_eq!(OBSERVED.get(), "spawner");
            PLAIN.set("thread");
            HOLDER.set(Probe::writing("thread", "from thread", &log));
        }
    });
    handle.join().unwrap();
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "thread",
            observed: "default",
            plain: None,
            holder: None,
            written: Some("from thread"),
        }]
    );
}

#[test]
fn value_replaced_inside_with_is_dropped_after_with_returns() {
    let log = new_log();
    HOLDER.set(Probe::writing("old", "from old", &log));

    let tag = HOLDER.with(|old| {
        HOLDER.set(Probe::new("new", &log));
        PLAIN.set("set inside with");
        // `old` is still borrowed: it must not have been dropped.
        assert_eq!(take(&log), []);
        assert_eq!(old.tag, "old");
        assert_eq!(HOLDER.with(|new| new.tag), "new");
        old.tag
    });
    assert_eq!(tag, "old");
    // Dropped once the reader let go, in the context `with` ran in, which by
    // then holds what the closure set.
    assert_eq!(
        take(&log),
        [Dropped {
            tag: "old",
            observed: "default",
            plain: Some("set inside with"),
            holder: Some("new"),
            written: Some("from old"),
        }]
    );
    assert_eq!(WRITTEN.get(), "from old");
}

#[test]
fn value_reset_inside_with_outlives_the_borrow() {
    let log = new_log();
    let token = HOLDER.set(Probe::new("borrowed", &log));

    HOLDER.with(|borrowed| {
        HOLDER.reset(&token).unwrap();
        assert!(HOLDER.try_get_arc().is_err());
        // No context holds the value any more; the reader does.
        assert_eq!(take(&log), []);
        assert_eq!(borrowed.tag, "borrowed");
        assert_eq!(copy_context().get(&HOLDER).map(|p| p.tag), None);
    });
    let dropped = take(&log);
    assert_eq!(dropped.len(), 1);
    assert_eq!((dropped[0].tag, dropped[0].holder), ("borrowed", None));
}

#[test]
fn value_of_another_variable_dropped_inside_with_sees_the_current_context() {
    let log = new_log();
    HOLDER.set(Probe::new("held", &log));
    PLAIN.set("outside");

    HOLDER.with(|held| {
        PLAIN.set("inside with");
        let token = SECOND.set(Probe::writing("second", "from second", &log));
        SECOND.reset(&token).unwrap();
        assert_eq!(
            take(&log),
            [Dropped {
                tag: "second",
                observed: "default",
                plain: Some("inside with"),
                holder: Some("held"),
                written: Some("from second"),
            }]
        );
        assert_eq!(held.tag, "held");
        assert_eq!(WRITTEN.get(), "from second");
    });
    assert_eq!(take(&log), []);
}

#[test]
fn with_closure_can_set_variables_and_enter_contexts() {
    static V: ContextVar<String> = ContextVar::new("v");
    static W: ContextVar<u32> = ContextVar::new("w");

    V.set("original".to_string());
    let ctx = Context::new();
    let returned = V.with(|v| {
        // Set the variable being read, and another one.
        V.set("replaced".to_string());
        W.set(1);
        assert_eq!(v, "original");
        assert_eq!(V.get(), "replaced");
        assert_eq!(W.get(), 1);

        // Enter a context, read and write there.
        let inner = ctx.run(|| {
            assert!(V.try_get().is_err());
            V.set("in ctx".to_string());
            V.with(|in_ctx| in_ctx.clone())
        });
        assert_eq!(inner, "in ctx");
        assert_eq!(V.get(), "replaced");

        // Nested readers, each with a write.
        V.with(|replaced| {
            V.set("again".to_string());
            assert_eq!(replaced, "replaced");
            W.with(|w| {
                W.set(*w + 1);
                assert_eq!(*w, 1);
            });
        });

        // The first reference is still the original value.
        assert_eq!(v, "original");
        v.clone()
    });
    assert_eq!(returned, "original");
    assert_eq!(V.get(), "again");
    assert_eq!(W.get(), 2);
    assert_eq!(ctx.get(&V).as_deref().map(String::as_str), Some("in ctx"));
    assert_eq!(ctx.get(&W), None);
}

#[test]
fn with_closure_inside_run_writes_to_the_entered_context() {
    static V: ContextVar<u32> = ContextVar::with_default("v", || 0);

    let ctx = Context::new();
    ctx.run(|| {
        V.with(|v| {
            V.set(*v + 1);
            V.with(|v| V.set(*v + 1));
        })
    });
    assert_eq!(ctx.get(&V).as_deref(), Some(&2));
    assert!(V.get_opt().is_none());
}
