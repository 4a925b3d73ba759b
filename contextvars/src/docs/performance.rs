//! What each operation costs, and why.
//!
//! The design goal is that reading a variable costs about as much as reading a
//! thread-local, that copying a context costs the same at any size, and that
//! entering a context costs a few pointer swaps.
//!
//! # Storage
//!
//! A context's map is persistent. Up to 32 variables it is a vector sorted by
//! variable id behind an `Arc` (fastest at the sizes real services use: a
//! handful of request-scoped variables); above that it switches to a hash array
//! mapped trie from [`imbl`](https://docs.rs/imbl), and back below 16, so that a
//! context with 10,000 variables still updates in logarithmic time. Both
//! representations are updated in place when nothing else shares them and
//! copied on write otherwise.
//!
//! # Per operation
//!
//! | operation | work | allocates |
//! |---|---|---|
//! | [`ContextVar::with`](crate::ContextVar::with) | thread-local access, a non-atomic `Rc` increment, lookup, type check | no |
//! | [`ContextVar::get`](crate::ContextVar::get) | thread-local access, lookup, one atomic increment (the `Arc<T>` returned) | no |
//! | [`ContextVar::set`](crate::ContextVar::set) | the value's `Arc`, then an in-place insert if the current map is not shared, else a copy of the small vector or a path of the trie | the value's `Arc`, and the copy when shared |
//! | [`ContextVar::reset`](crate::ContextVar::reset) | as `set`, restoring the old value or removing the key | only when the map is shared |
//! | [`copy_context`](crate::copy_context), [`Context::copy`](crate::Context::copy) | one atomic increment of the map, a new context id | no |
//! | [`Context::run`](crate::Context::run) | an atomic compare-and-swap of the entered flag, a lock to snapshot the map, two swaps of the thread's current map | no (after the thread's first context) |
//!
//! The first `set` after a copy pays for the copy: a vector of up to 32
//! entries (reference-count increments) or one trie path. Later `set`s in the
//! same context are in place.
//!
//! Reading a variable's value in a context other than the current one
//! ([`Context::get`](crate::Context::get) and the rest of the map view) takes a
//! short lock, since the context may be shared between threads.
//!
//! # Measure on your machine
//!
//! Costs depend on the machine, the allocator and the access pattern: measure
//! with your own workload before relying on a figure.
