//! The semantics of PEP 567 as this crate implements them, rule by rule, and
//! the CPython tests that check them.
//!
//! The rules follow Python's `contextvars` (PEP 567, CPython 3.14 docs).
//! Where Rust's types change the shape of a rule, this page says how. The
//! last section maps every case of CPython's `Lib/test/test_context.py`
//! `ContextTest` to its port in `contextvars/tests/cpython_test_context.rs`,
//! or says why Rust makes it impossible.
//!
//! # Reading a variable: the fallback order
//!
//! A variable's value is looked up in the *current context* of the calling
//! thread. If that context has no value for it, each reader falls back
//! differently:
//!
//! | reader | value in the current context | else | else |
//! |---|---|---|---|
//! | [`get`](crate::ContextVar::get), [`with`](crate::ContextVar::with) | the value | the variable's default | panic with the [`LookupError`](crate::LookupError) message |
//! | [`try_get`](crate::ContextVar::try_get), [`try_with`](crate::ContextVar::try_with) | the value | the variable's default | `Err(LookupError)` |
//! | [`get_or(d)`](crate::ContextVar::get_or) (Python `var.get(d)`) | the value | `d` | (the variable's default is not used) |
//! | [`get_opt`](crate::ContextVar::get_opt) (Python `var.get(None)`) | the value | `None` | (the variable's default is not used) |
//!
//! So the precedence is: value in the current context, then a call-site
//! default, then the variable's default, then `LookupError`, whose message
//! names the variable: `<ContextVar name='c'> has no value in the current
//! context`.
//!
//! A default ([`with_default`](crate::ContextVar::with_default)) is computed
//! at most once per variable, the first time it is needed, and then shared by
//! every thread and context. It is never stored in a context.
//!
//! # Writing: `set`, `reset` and tokens
//!
//! * [`set`](crate::ContextVar::set) binds a value in the current context and
//!   returns a [`Token`](crate::Token) recording the variable
//!   ([`var`](crate::Token::var)), the context that was current, and the
//!   previous value ([`old_value`](crate::Token::old_value); `None` is
//!   Python's `Token.MISSING`). Values are stored behind an `Arc` and shared,
//!   never cloned ([`set_arc`](crate::ContextVar::set_arc) stores an existing
//!   `Arc`).
//! * [`reset(&token)`](crate::ContextVar::reset) restores the value from
//!   before the token's `set`, whatever was set in between; if there was no
//!   value then, it removes the variable from the context (it does not store
//!   the default). The restored value is the very value that was replaced.
//! * A token can be used once, even if the variable changed in between.
//!
//! `reset` runs CPython's checks in CPython's order and reports the first
//! that fails:
//!
//! 1. [`ResetError::AlreadyUsed`](crate::ResetError::AlreadyUsed): the token
//!    was already used (Python's `RuntimeError`);
//! 2. [`ResetError::WrongVar`](crate::ResetError::WrongVar): the token was
//!    made by another variable (`ValueError`);
//! 3. [`ResetError::WrongContext`](crate::ResetError::WrongContext): the
//!    token was made in another context than the current one (`ValueError`).
//!
//! A used token of another variable is therefore `AlreadyUsed`, and a token
//! of another variable made in another context is `WrongVar`. A reset that
//! fails changes nothing and leaves the token unused. Contexts are told apart
//! by identity: a copy of the context a token was made in is another context,
//! and a thread's own base context is a context too.
//!
//! Python 3.14's `with var.set(value):` is
//! [`var.set(value).into_guard()`](crate::Token::into_guard), a
//! [`TokenGuard`](crate::TokenGuard) that resets when dropped, or the closure
//! form [`var.scope(value, f)`](crate::ContextVar::scope). The reset happens
//! on every exit, including a panic, and never stops the panic; it restores
//! the value from before the guard's own `set`, undoing later `set`s too. If
//! that reset fails (the token was already reset explicitly, or the guard is
//! dropped in another context), dropping the guard panics with the token's
//! `Debug` and the error, as Python's exit raises `RuntimeError`, unless the
//! thread is already panicking. [`TokenGuard::reset`](crate::TokenGuard::reset)
//! returns the error instead.
//!
//! In async code, Python's `with var.set(value):` around `await`s is
//! [`var.scope_async(value, future)`](crate::ContextVar::scope_async): the
//! value is bound while `future` is polled and only then, so the other
//! futures polled on the thread (other tasks, other `join!` branches) never
//! see it, and it is gone on every exit, a cancelled future included. Inside
//! the scope, `set`s of `var` stay in the scope and are undone at its end,
//! `set`s of other variables land in the current context, as in Python's
//! block. Unlike `set`, a scope (sync or async) also works where `set` is
//! refused (below): nothing else runs on the thread while it is bound.
//!
//! With the `tokio` feature (on whenever `contextvars-tokio` or
//! `contextvars-tower` is linked), `set` refuses to write from async code
//! that runs without a context of its own — a tokio task spawned without
//! one, or the future given to `block_on` or `LocalSet::run_until` — since
//! it would write into the thread's context, which every such task polled
//! there reads: it panics with the variable's name and the
//! [`SetError`](crate::SetError) message, and
//! [`try_set`](crate::ContextVar::try_set) returns the error. Other runtimes
//! get the same rule by registering a task probe
//! ([`runtime::set_task_probe`](crate::runtime::set_task_probe)). Outside
//! of any runtime, `set` always succeeds.
//!
//! # Contexts: run, copy, enter
//!
//! * [`Context::new`](crate::Context::new) is an empty context.
//!   [`copy_context`](crate::copy_context) is a copy of the current context,
//!   and [`ctx.copy()`](crate::Context::copy) a copy of `ctx`, both in O(1).
//!   A copy is a shallow snapshot: it shares the values, and from then on a
//!   `set` or `reset` in either is invisible to the other.
//! * [`ctx.run(f)`](crate::Context::run) makes `ctx` the current context of
//!   the thread, calls `f`, restores the previous context and returns `f`'s
//!   result. Arguments travel in the closure. If `f` panics, the previous
//!   context is restored first and the panic propagates unchanged.
//! * Every `set` and `reset` made while `ctx` is current is recorded in
//!   `ctx`, including on the panic path: it is visible through `ctx`'s map
//!   view afterwards and again in the next `run`, and never in the caller's
//!   context.
//! * A context is entered by one thread at a time. Running a context that is
//!   already entered, recursively on the same thread or on another thread, is
//!   an error and `f` is not called: [`try_run`](crate::Context::try_run)
//!   returns [`EnterError::AlreadyEntered`](crate::EnterError::AlreadyEntered)
//!   and `run` panics with `cannot enter context: it is already entered`
//!   (Python's `RuntimeError`). After it exits, a context can be entered
//!   again, from any thread, and shows the changes made in earlier runs.
//! * Different contexts nest: running `ctx2` inside `ctx1.run` is fine, and
//!   `ctx1` is current again when it returns. Each thread has its own stack
//!   of entered contexts.
//! * There is no way to borrow the current context itself, only to copy it
//!   (PEP 567): the caller of `run` is its only user.
//! * [`ctx.wrap(f)`](crate::Context::wrap) turns `ctx` and `f` into a closure
//!   that runs `f` in `ctx` wherever it is called.
//!
//! # The map view
//!
//! A context is a read-only map from variables to values:
//!
//! | Python | Rust |
//! |---|---|
//! | `ctx[var]`, `ctx.get(var)`, `ctx.get(var, d)` | [`ctx.get(&var)`](crate::Context::get), `None` for `KeyError` (or `None`, or `d`) |
//! | `var in ctx` | [`ctx.contains(&var)`](crate::Context::contains) |
//! | `len(ctx)` | [`ctx.len()`](crate::Context::len), [`ctx.is_empty()`](crate::Context::is_empty) |
//! | `iter(ctx)`, `ctx.keys()` | [`ctx.keys()`](crate::Context::keys) (the [`VarKey`](crate::VarKey)s) |
//! | `ctx.items()`, `ctx.values()` | [`ctx.iter()`](crate::Context::iter) and `for binding in &ctx` (the [`Binding`](crate::Binding)s) |
//! | `ctx1 == ctx2`, `ctx1 != ctx2` | `ctx1 == ctx2`, `ctx1 != ctx2` |
//!
//! * The view ignores defaults: a variable that only has a default is not in
//!   the view (`get` is `None`, `contains` is false, `keys` omits it).
//! * There is no way to write through the view: values change only by `set`
//!   and `reset` in the current context.
//! * While `ctx` is entered on the calling thread, the view shows its live
//!   contents, including the `set`s just made, also from inside a nested run
//!   of another context. While `ctx` is entered on another thread, the view
//!   shows the contents `ctx` had when that thread entered it (see
//!   [`limitations`](crate::docs::limitations)).
//! * Iteration order is unspecified. `Debug` of a context lists the values
//!   sorted by the order in which their variables were first used anywhere
//!   in the process (a variable's identity is assigned on first use).
//!
//! # Equality
//!
//! Two contexts are equal when they bind the same variables to the same
//! values. Values stored behind an `Arc` compare by identity (the same
//! allocation), since the library cannot compare values of arbitrary type
//! and never clones them; the primitive types stored inline (integers up to
//! 128 bits, floats, `bool`, `char`, `()`) compare by value, bit for bit,
//! as Python's `==` compares numbers (a NaN equals itself, `0.0` and `-0.0`
//! differ). A copy equals its original until either changes; a `reset` that
//! restores the earlier value makes them equal again. Two contexts that each
//! `set` a `String` variable to `"x"` are not equal; two that each `set` a
//! `u32` variable to `1` are.
//!
//! Variables are compared by identity too, never by name: two variables with
//! the same name are different keys.
//!
//! # `Debug` output (Python's `repr`)
//!
//! | value | `Debug` |
//! |---|---|
//! | variable | `ContextVar { name: "a", .. }`, with a default: `ContextVar { name: "a", default: 123, .. }` |
//! | token | `Token { var: ContextVar { name: "a", .. }, old_value: MISSING }`, once used: `Token { used: true, var: .., old_value: .. }` |
//! | context | `Context { a: 1, b: "x" }` |
//!
//! A token shows its variable as the variable's own `Debug` does, default
//! included, as CPython's token repr contains the variable's repr.
//!
//! # Threads
//!
//! * Each thread has its own current context, so `set`s on different
//!   threads never interfere.
//! * A thread starts in an empty context of its own, as in CPython by
//!   default: this is what [`std::thread::spawn`] gives, and any thread pool
//!   that spawns its own threads.
//! * [`thread::spawn`](crate::thread::spawn),
//!   [`thread::spawn_scoped`](crate::thread::spawn_scoped) and
//!   [`thread::Builder`](crate::thread::Builder) (by default, or with
//!   [`inherit`](crate::thread::Builder::inherit)) start the thread in a copy
//!   of the spawner's current context, taken at spawn time: Python 3.14's
//!   `thread_inherit_context`. Later changes on either side are invisible to
//!   the other. [`Builder::empty`](crate::thread::Builder::empty) starts it
//!   in an empty context.
//! * [`Builder::context(ctx)`](crate::thread::Builder::context) runs the
//!   thread in `ctx` itself (Python's `Thread(context=ctx)`): the thread
//!   enters `ctx` as `run` does, so its changes are recorded in `ctx`, and if
//!   `ctx` is still entered elsewhere when the thread starts, the thread
//!   panics without running its closure.
//! * Async tasks: see [`WithContext`](crate::WithContext), which runs every
//!   poll of a future in one context of its own.
//!
//! # CPython tests and their Rust counterparts
//!
//! Every case of `ContextTest` in CPython's `Lib/test/test_context.py`
//! (3.14), with its Rust test in `contextvars/tests/cpython_test_context.rs`,
//! which has the same name. "Ported" tests assert what the Python test
//! asserts; "adapted" ones assert the same rule in Rust's terms; "impossible"
//! ones have no test because Rust's types rule out what they check.
//!
//! | CPython test | status | Rust |
//! |---|---|---|
//! | `test_context_var_new_1` | adapted, in part impossible | name and identity ported. `ContextVar()` and `ContextVar(1)` cannot be written (one `&'static str` argument); `c.name = 'bbb'` cannot be written (`name()` has no setter). |
//! | `test_context_new_unhashable_str_subclass` | impossible | a name is a `&'static str`: there are no `str` subclasses, and the name is never hashed (a variable's identity is a numeric id), so the constructor has no failure path. |
//! | `test_context_var_repr_1` | adapted, in part impossible | `repr` is `Debug`, `' used '` is `used: true`. A default that contains the variable itself (rendered `...` by Python) would recurse without end in `Debug`, which has no recursion guard; not tested. |
//! | `test_token_repr_1` | adapted | the exact `Debug` string, without addresses. |
//! | `test_context_subclassing_1` | impossible | Rust has no inheritance: `ContextVar`, `Context` and `Token` are structs, and no trait lets a user type stand in for them. |
//! | `test_context_new_1` | adapted, in part impossible | `Context::new()` and `Context::default()` are empty. `Context(1)`, `Context(a=1)` cannot be written (no arguments). |
//! | `test_context_typerrors_1` | impossible | `Context::get` and `Context::contains` take a `&ContextVar<T>`: a key that is not a variable does not compile. |
//! | `test_context_get_context_1` | adapted | the type is checked by the compiler; the test also checks the copy's contents. |
//! | `test_context_run_1` | impossible | `run` takes the closure as a required argument: calling it without one does not compile. |
//! | `test_context_run_2` | adapted | arguments travel in the closure; `functools.partial` is a `Box<dyn Fn>`. The caller's kwargs dict staying unchanged is guaranteed by ownership, not tested. |
//! | `test_context_run_3` | adapted | the exception is a panic; also checks that the context was exited. |
//! | `test_context_run_4` | ported | |
//! | `test_context_run_5` | adapted | the exception is a panic. |
//! | `test_context_run_6` | ported | |
//! | `test_context_run_7` | adapted | `RuntimeError` is `run`'s panic and `try_run`'s `EnterError::AlreadyEntered`. |
//! | `test_context_getset_1` | adapted | `KeyError` is `None`, `RuntimeError` is `ResetError::AlreadyUsed`; values of mixed types use an enum. The single `Token.MISSING` object is Python-only (`old_value() == None`). |
//! | `test_context_getset_2` | adapted | `ValueError` is `ResetError::WrongVar`; also checks the order of the reset checks. |
//! | `test_context_getset_3` | adapted | `KeyError` is `None`. |
//! | `test_context_getset_4` | adapted | `ValueError` is `ResetError::WrongContext`; also checks `AlreadyUsed` before `WrongContext`. |
//! | `test_context_getset_5` | adapted | the list is a `Mutex<Vec<_>>`. |
//! | `test_context_copy_1` | ported | |
//! | `test_context_isinstance` | adapted | no `Mapping` ABC: the read-only map surface (`get`, `contains`, `len`, `is_empty`, `iter`, `keys`, `&Context: IntoIterator`, `==`) exists and works. |
//! | `test_context_threads_1` | adapted | ten `std::thread`s instead of a pool of ten. |
//! | `test_context_thread_inherit` | adapted | both settings of `thread_inherit_context`: `thread::spawn` and `Builder` inherit, `std::thread::spawn` and `Builder::empty` do not; `context=` is `Builder::context`. |
//! | `test_token_contextmanager_with_default` | adapted | `with` is a block holding a `TokenGuard` (and `scope`). |
//! | `test_token_contextmanager_without_default` | adapted | as above; `LookupError` is `get`'s panic and `try_get`'s error. |
//! | `test_token_contextmanager_on_exception` | adapted | the exception is a panic. |
//! | `test_token_contextmanager_reentrant` | adapted | a guard owns its token, so the inner `with token:` is an explicit reset with `guard.token()`; the outer exit's `RuntimeError` is the guard's panic. |
//! | `test_token_contextmanager_multiple_c_set` | adapted | `with` is a guard. |
//! | `test_token_contextmanager_with_explicit_reset_the_same_token` | adapted | the exit's `RuntimeError` is the guard's panic; also `TokenGuard::reset`. |
//! | `test_token_contextmanager_with_explicit_reset_another_token` | adapted | `with` is a guard. |
