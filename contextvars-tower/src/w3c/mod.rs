//! W3C [Trace Context] (`traceparent`, `tracestate`) and [Baggage]
//! (`baggage`) header values: parsing and formatting only, no HTTP.
//!
//! Every type parses with [`FromStr`](std::str::FromStr) into a typed error
//! and formats with [`Display`](std::fmt::Display) into the canonical header
//! value, so `value.parse::<T>()?.to_string()` normalizes a header. Parsers
//! work on bytes and never panic, whatever the input; error messages never
//! repeat the input, so they are safe to log.
//!
//! | header | type | on invalid input |
//! |---|---|---|
//! | `traceparent` | [`TraceParent`] ([`TraceId`], [`SpanId`], [`TraceFlags`]) | ignore it, start a new trace |
//! | `tracestate` | [`TraceState`] | discard the whole `tracestate`, keep the `traceparent` |
//! | `baggage` | [`Baggage`] ([`BaggageMember`]) | strict: error; [`Baggage::parse_lossy`]: drop the bad members |
//!
//! [Trace Context]: https://www.w3.org/TR/trace-context-1/
//! [Baggage]: https://www.w3.org/TR/baggage/
//!
//! # Examples
//!
//! ```
//! use contextvars_tower::w3c::{TraceParent, TraceState};
//!
//! let parent: TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap();
//! let state: TraceState = "congo=t61rcWkgMzE".parse().unwrap();
//! assert!(parent.flags().is_sampled());
//! assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
//! ```

mod baggage;
mod ids;
mod list;
pub(crate) use ids::encode_hex;
mod traceparent;
mod tracestate;

pub use baggage::{Baggage, BaggageError, BaggageMember};
pub use ids::{ParseIdError, SpanId, TraceFlags, TraceId};
pub use traceparent::{ParseTraceParentError, TraceParent};
pub use tracestate::{ParseTraceStateError, TraceState};
