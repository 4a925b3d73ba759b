//! What the type system rules out, proven with `compile_fail` doctests. Each
//! one is paired with a twin that compiles, so that a test cannot pass for an
//! unrelated reason.
//!
//! A `TokenGuard` must be dropped on its thread (it is not `Send`):
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let guard = V.set(1).into_guard();
//! std::thread::spawn(move || drop(guard));
//! ```
//!
//! ```
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let guard = V.set(1).into_guard();
//! let moved = guard; // moving it within the thread is fine
//! drop(moved);
//! ```
//!
//! Nor can it be shared with another thread (it is not `Sync`):
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let guard = V.set(1).into_guard();
//! std::thread::scope(|s| {
//!     s.spawn(|| guard.token().is_used());
//! });
//! ```
//!
//! ```
//! use contextvars::ContextVar;
//! static V: ContextVar<u8> = ContextVar::new("v");
//! let token = V.set(1); // a plain token can be inspected anywhere
//! std::thread::scope(|s| {
//!     s.spawn(|| token.is_used());
//! });
//! ```
//!
//! A context entered with `runtime::enter` stays on its thread:
//!
//! ```compile_fail
//! use contextvars::{runtime, Context};
//! let entered = runtime::enter(Context::new()).unwrap();
//! std::thread::spawn(move || drop(entered.exit()));
//! ```
//!
//! ```
//! use contextvars::{runtime, Context};
//! let entered = runtime::enter(Context::new()).unwrap();
//! drop(entered.exit());
//! ```
//!
//! Values must be `Send + Sync`, since contexts move between threads:
//!
//! ```compile_fail
//! use std::rc::Rc;
//! use contextvars::ContextVar;
//! static V: ContextVar<Rc<u8>> = ContextVar::new("v");
//! V.set(Rc::new(1));
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use contextvars::ContextVar;
//! static V: ContextVar<Arc<u8>> = ContextVar::new("v");
//! V.set(Arc::new(1));
//! ```
//!
//! and `Debug`, so that a context can list them:
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! struct Opaque;
//! static V: ContextVar<Opaque> = ContextVar::new("v");
//! V.set(Opaque);
//! ```
//!
//! ```
//! use contextvars::ContextVar;
//! #[derive(Debug)]
//! struct Opaque;
//! static V: ContextVar<Opaque> = ContextVar::new("v");
//! V.set(Opaque);
//! ```
//!
//! A `Context` is not `Clone`: a snapshot is an explicit `copy`:
//!
//! ```compile_fail
//! let ctx = contextvars::Context::new();
//! let _ = ctx.clone();
//! ```
//!
//! ```
//! let ctx = contextvars::Context::new();
//! let _ = ctx.copy();
//! ```
//!
//! The reference lent by `with` cannot escape the closure:
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static V: ContextVar<u32> = ContextVar::new("v");
//! V.set(1);
//! let escaped: &u32 = V.with(|v| v);
//! ```
//!
//! ```
//! use contextvars::ContextVar;
//! static V: ContextVar<u32> = ContextVar::new("v");
//! V.set(1);
//! let copied: u32 = V.with(|v| *v);
//! assert_eq!(copied, 1);
//! ```
//!
//! A token of a variable of another type cannot even be offered to `reset`:
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! static A: ContextVar<u8> = ContextVar::new("a");
//! static B: ContextVar<u16> = ContextVar::new("b");
//! let _ = B.reset(&A.set(1));
//! ```
//!
//! ```
//! use contextvars::{ContextVar, ResetError};
//! static A: ContextVar<u8> = ContextVar::new("a");
//! static B: ContextVar<u8> = ContextVar::new("b");
//! assert_eq!(B.reset(&A.set(1)), Err(ResetError::WrongVar));
//! ```
//!
//! A default is computed by a plain function, which captures nothing:
//!
//! ```compile_fail
//! use contextvars::ContextVar;
//! let base = 3;
//! let v: ContextVar<u32> = ContextVar::with_default("v", move || base);
//! ```
//!
//! ```
//! use contextvars::ContextVar;
//! let v: ContextVar<u32> = ContextVar::with_default("v", || 3);
//! assert_eq!(v.get(), 3);
//! ```
