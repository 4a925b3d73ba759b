// Links to the items of features that are off point to the list of
// features instead.
#![cfg_attr(feature = "opentelemetry", doc = "[`ContextOtel`]: crate::ContextOtel")]
#![cfg_attr(
    not(feature = "opentelemetry"),
    doc = "[`ContextOtel`]: #cargo-features"
)]
#![cfg_attr(
    feature = "opentelemetry",
    doc = "[context-otel-parent]: crate::ContextOtel::parent_context"
)]
#![cfg_attr(
    not(feature = "opentelemetry"),
    doc = "[context-otel-parent]: #cargo-features"
)]

//! Every log line carries the current values of chosen context variables.
//!
//! Set a request id once, in the request's [`Context`](contextvars::Context),
//! and every line logged while handling that request, in any function, in
//! any task or thread spawned in a copy of the context, shows it:
//!
//! ```
//! use contextvars::{Context, ContextVar};
//! use contextvars_tracing::{ContextFields, ContextFormat};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! tracing_subscriber::fmt()
//!     .event_format(ContextFormat::new(
//!         ContextFields::new().var(&REQUEST_ID),
//!         tracing_subscriber::fmt::format(),
//!     ))
//!     .init();
//!
//! Context::new().run(|| {
//!     REQUEST_ID.set("7f3a".to_string());
//!     tracing::info!("query took 12ms");
//! });
//! ```
//!
//! With a second variable, `user`, as text and as JSON ([`ContextJson`]):
//!
//! ```text
//! request_id=7f3a user=ada  INFO app::db: query took 12ms
//! {"level":"INFO","fields":{"message":"query took 12ms"},"target":"app::db","request_id":"7f3a","user":"ada"}
//! ```
//!
//! This is what Python programs get with a logging record factory (or
//! `logging.Filter`) that copies `ContextVar`s into each `LogRecord`, plus
//! `%(request_id)s` in the format string.
//!
//! # Overview
//!
//! * [`ContextFields`] is the configuration: which variables, under which
//!   names, rendered how. Build it once, at startup.
//!   [`var`](ContextFields::var) renders a value with `Display` (strings
//!   print without quotes; numbers and booleans stay numbers and booleans
//!   in JSON), [`var_debug`](ContextFields::var_debug) with `Debug`,
//!   [`field`](ContextFields::field) with a closure of yours, for
//!   projections like a trace id out of a trace-context struct, and
//!   [`field_value`](ContextFields::field_value) for a number or flag taken
//!   out of one.
//! * [`ContextFormat`] wraps any text formatter of `tracing_subscriber::fmt`
//!   (`Full`, `Compact`, `Pretty`, yours) and writes `name=value` fields at
//!   the start of each line, escaped so that a line stays one line.
//! * [`ContextJson`] wraps a JSON formatter (`fmt::format().json()`) and adds
//!   the fields at the root of each JSON object, numbers and booleans as
//!   JSON numbers and booleans, anything else as strings.
//! * [`ContextLog`] wraps any [`log::Log`] and adds the fields to each
//!   record's key-values ([`log::kv`]).
//! * [`ContextOtel`] (feature `opentelemetry`) gives the spans that
//!   tracing-opentelemetry exports the fields as attributes, and the
//!   request's trace as their parent, so that exported traces carry the
//!   request id and have the trace id the log lines show.
//!
//! Values are read when each event is formatted, by borrowing them from the
//! current context ([`ContextVar::try_with`](contextvars::ContextVar::try_with)):
//! nothing is cloned or collected per event, and formatting writes straight
//! into the formatter's line buffer. Variables with no value (and no
//! default) are left out of the line.
//!
//! # Python → Rust
//!
//! | Python `logging` | Rust |
//! |---|---|
//! | `logging.setLogRecordFactory(f)` where `f` sets `record.request_id = REQUEST_ID.get(None)` | [`ContextFields::new().var(&REQUEST_ID)`](ContextFields::var), given to a wrapper below |
//! | a `logging.Filter` that adds attributes to records | the same [`ContextFields`], with [`ContextFormat`] / [`ContextJson`] (tracing) or [`ContextLog`] (log) |
//! | `record.trace_id = TRACE.get().trace_id` | [`.field("trace_id", &TRACE, \|t, f\| write!(f, "{}", t.trace_id()))`](ContextFields::field), with `contextvars_tower::TRACE`, whose `TraceContext` has a `trace_id()` method |
//! | `%(request_id)s` in a `Formatter` format | the field `request_id=…` at the start of each text line |
//! | `python-json-logger`'s `JsonFormatter` with `request_id` | `"request_id":"…"` at the root of each JSON line ([`ContextJson`]) |
//! | `extra={"request_id": …}` on one call | an event field (`info!(request_id = …)`) or a `log` key-value: per call, not per context |
//! | `%(request_id)s` when the variable is unset (`None`, `-`, or a formatting error) | the field is left out of the line |
//! | `extra={"user": …}` when a filter also sets `record.user` (`KeyError` in `makeRecord`) | the event's field is written, the context's left out: one key per line |
//!
//! # One key per line
//!
//! A line never has a key twice, so that strict consumers (Elasticsearch,
//! parsers that refuse repeated keys) accept every line:
//!
//! * **The formatter's own keys win.** A context field cannot be named like
//!   a key tracing-subscriber's JSON formatter writes at the root
//!   ([`RESERVED_JSON_KEYS`]: [`ContextJson::new`] panics), and
//!   [`ContextJson`] drops a flattened event field of such a name
//!   (`info!(target = "x")` with `flatten_event(true)`) in favour of the
//!   formatter's.
//! * **The event's own fields win over context fields.** A context field
//!   is left out of a line whose event has a field of that name (in JSON,
//!   whose object has that key at the root): `info!(user = "bob")` logs
//!   `user=bob` once. The call site chose that value for that line; the
//!   context's value is the default for lines that say nothing, as with
//!   structlog's `merge_contextvars` and Serilog's `LogContext`. The same
//!   holds for `log` records' key-values ([`ContextLog`]).
//! * Context fields cannot clash with each other: a name is used once per
//!   [`ContextFields`].
//!
//! [`ContextJson`] also keeps one member per key in nested objects (the
//! last, as lenient parsers do): a span field called `name` beside the
//! span's name, for example.
//!
//! # Recipes
//!
//! In these examples the output goes to a buffer so that it can be checked;
//! drop `.with_writer(…)` to log to stdout. Builder methods that configure
//! tracing-subscriber's own formatter, such as
//! [`with_ansi`](tracing_subscriber::fmt::SubscriberBuilder::with_ansi), go
//! *before* `.event_format(…)`; the formatter's own options (`compact()`,
//! `without_time()`, `flatten_event(true)`, …) go on the formatter that is
//! wrapped.
//!
//! **Text**, with `tracing_subscriber::fmt()`:
//!
//! ```
//! use std::sync::LazyLock;
//! use contextvars::{Context, ContextVar};
//! use contextvars_tracing::{ContextFields, ContextFormat};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)]
//! # struct Buf(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buf {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let buf = Buf::default();
//! # let make_writer = { let buf = buf.clone(); move || buf.clone() };
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//! static USER: ContextVar<String> = ContextVar::new("user");
//!
//! static FIELDS: LazyLock<ContextFields> =
//!     LazyLock::new(|| ContextFields::new().var(&REQUEST_ID).var(&USER));
//!
//! tracing_subscriber::fmt()
//!     .with_ansi(false) // before `event_format`: after it, the method is gone
//!     .event_format(ContextFormat::new(
//!         FIELDS.clone(),
//!         tracing_subscriber::fmt::format().compact().without_time(),
//!     ))
//!     .with_writer(make_writer)
//!     .init();
//!
//! fn handle(request: &str) {
//!     Context::new().run(|| {
//!         REQUEST_ID.set(request.to_string());
//!         USER.set("ada lovelace".to_string());
//!         tracing::info!(target: "app", "handled");
//!     });
//! }
//!
//! handle("r-1");
//! handle("r-2");
//! # let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
//! assert_eq!(
//!     out,
//!     "request_id=r-1 user=\"ada lovelace\"  INFO app: handled\n\
//!      request_id=r-2 user=\"ada lovelace\"  INFO app: handled\n"
//! );
//! ```
//!
//! **JSON**, with the fields at the root of each object:
//!
//! ```
//! use contextvars::{Context, ContextVar};
//! use contextvars_tracing::{ContextFields, ContextJson};
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)]
//! # struct Buf(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Buf {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let buf = Buf::default();
//! # let make_writer = { let buf = buf.clone(); move || buf.clone() };
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! let fields = ContextFields::new().var(&REQUEST_ID);
//! tracing_subscriber::fmt()
//!     .json() // span fields as JSON too
//!     .event_format(ContextJson::new(
//!         fields,
//!         tracing_subscriber::fmt::format().json().flatten_event(true).without_time(),
//!     ))
//!     .with_writer(make_writer)
//!     .init();
//!
//! Context::new().run(|| {
//!     REQUEST_ID.set("r-1".to_string());
//!     tracing::info!(target: "app", rows = 3, "query");
//!     // The event's own field wins: one "request_id" key.
//!     tracing::info!(target: "app", request_id = "mine", "override");
//! });
//! # let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
//! assert_eq!(
//!     out,
//!     r#"{"level":"INFO","message":"query","rows":3,"target":"app","request_id":"r-1"}"#
//!         .to_owned()
//!         + "\n"
//!         + r#"{"level":"INFO","message":"override","request_id":"mine","target":"app"}"#
//!         + "\n"
//! );
//! ```
//!
//! **`log`**: wrap the backend you would have installed (`env_logger`'s
//! `Logger`, a JSON logger, …) in a [`ContextLog`]; the fields become
//! key-values of every record. The example of [`ContextLog`] shows it with a
//! small backend.
//!
//! ```
//! use contextvars::ContextVar;
//! use contextvars_tracing::{ContextFields, ContextLog};
//!
//! static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
//!
//! # struct Backend;
//! # impl log::Log for Backend {
//! #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
//! #     fn log(&self, _: &log::Record<'_>) {}
//! #     fn flush(&self) {}
//! # }
//! let backend = Backend; // e.g. env_logger::Builder::from_default_env().build()
//! let logger = ContextLog::new(ContextFields::new().var(&REQUEST_ID), backend)
//!     // for backends that print key-values raw on a line:
//!     .escape_values(true);
//! log::set_boxed_logger(Box::new(logger)).unwrap();
//! log::set_max_level(log::LevelFilter::Info);
//! ```
//!
//! Apps that route `log` records into `tracing` (`tracing-log`'s
//! `LogTracer`) need only the tracing formatters.
//!
//! **Async tasks**: spawn with `contextvars_tokio::spawn` (or wrap futures
//! with [`with_current_context`](contextvars::FutureExt::with_current_context)),
//! and each task's lines carry its own values, whatever thread polls it.
//!
//! **OpenTelemetry spans** (feature `opentelemetry`): [`ContextOtel`],
//! inside tracing-opentelemetry's layer, gives each exported span the
//! fields as attributes; with contextvars-tower's `current_otel_context` as
//! [`parent_context`][context-otel-parent], a request's spans are in
//! the trace of its `traceparent`, the one its log lines show:
//!
#![cfg_attr(feature = "opentelemetry", doc = "```")]
#![cfg_attr(not(feature = "opentelemetry"), doc = "```ignore")]
//! use contextvars_tower::{otel::current_otel_context, REQUEST_ID, TRACE};
//! use contextvars_tracing::{ContextFields, ContextJson, ContextOtel};
//! use opentelemetry::trace::TracerProvider as _;
//! use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
//! use tracing_subscriber::util::SubscriberInitExt as _;
//!
//! let fields = ContextFields::new()
//!     .var(&REQUEST_ID)
//!     .field("trace_id", &TRACE, |t, f| write!(f, "{}", t.trace_id()));
//! // With an OTLP exporter: `.with_batch_exporter(opentelemetry_otlp::SpanExporter::..)`.
//! let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
//! let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
//!
//! tracing_subscriber::registry()
//!     .with(ContextOtel::new(fields.clone()).parent_context(current_otel_context).and_then(otel))
//!     .with(tracing_subscriber::fmt::layer().json().event_format(ContextJson::new(
//!         fields,
//!         tracing_subscriber::fmt::format().json().flatten_event(true),
//!     )))
//!     .init();
//! ```
//!
//! # Cargo features
//!
//! * `tokio` (default): turns on `contextvars`' `tokio` feature, so that in
//!   a program on tokio a `set` in a task without a context of its own is
//!   refused (with a message naming the fix) instead of being seen by the
//!   next task or request on the thread, with no setup call. A program
//!   without tokio can leave it out with `default-features = false`.
//! * `opentelemetry`: [`ContextOtel`]; depends on the `opentelemetry` API
//!   crate (0.33, `trace` only) and `tracing-opentelemetry` (0.34, the
//!   release for opentelemetry 0.33, without its default features), both
//!   re-exported.
//!
//! # Limitations
//!
//! * Values are read on the thread that formats the event. Every formatter
//!   of `tracing_subscriber::fmt` and every common `log` backend formats on
//!   the emitting thread; a backend that hands records to a background
//!   thread *before* formatting them sees that thread's context, unless it
//!   reads the key-values first (as [`ContextLog`] hands them over already
//!   rendered, key-values read from the record are right).
//! * Text fields go at the start of the line, before the timestamp: the
//!   inner formatter writes its own line end and its ANSI colours, and a
//!   wrapper can only add text around its output without buffering it.
//! * JSON values keep their type only for variables (or
//!   [`field_value`](ContextFields::field_value) projections) of integer,
//!   float and `bool` types; `var_debug`, `field` and every other type give
//!   strings. Integers above 2<sup>53</sup> are written in full, which
//!   consumers that read numbers as `f64` round.
//! * [`ContextJson`] reads the inner formatter's object to keep one key per
//!   object: it formats each line into a buffer that each thread reuses,
//!   and scans it once (a few instructions per byte); an event field
//!   dropped for a formatter key (`info!(level = 3)` with
//!   `flatten_event(true)`) is not written anywhere.
//! * Only the context fields are escaped; the event's message and fields are
//!   formatted by tracing-subscriber (which sanitizes ANSI escapes in them,
//!   but prints newlines as they are).
//! * A field name cannot be reused, and in JSON it cannot be one of the keys
//!   tracing-subscriber writes at the root ([`RESERVED_JSON_KEYS`]); a
//!   context field with the name of one of an event's fields is left out of
//!   that event's line ([One key per line](crate#one-key-per-line)).
//! * Spans: the fields are those of the context current when the *event*
//!   is formatted, not when a span was created; tracing's span fields remain
//!   the tool for values attached to a span, and [`ContextOtel`] gives them
//!   to the spans tracing-opentelemetry exports.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod escape;
mod fields;
mod json;
mod json_scan;
mod log_kv;
#[cfg(feature = "opentelemetry")]
mod otel;
mod text;

pub use fields::ContextFields;
pub use json::{ContextJson, RESERVED_JSON_KEYS};
pub use log_kv::ContextLog;
#[cfg(feature = "opentelemetry")]
pub use otel::ContextOtel;
pub use text::ContextFormat;

/// The `contextvars` crate whose variables the fields read.
#[doc(no_inline)]
pub use contextvars;
/// The `log` crate whose [`Log`](log::Log) trait [`ContextLog`] wraps.
#[doc(no_inline)]
pub use log;
/// The `opentelemetry` API crate (feature `opentelemetry`), whose
/// `Context` [`ContextOtel::parent_context`] takes.
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
#[doc(no_inline)]
pub use opentelemetry;
/// The `tracing` crate, whose events the formatters write.
#[doc(no_inline)]
pub use tracing;
/// The `tracing-opentelemetry` crate (feature `opentelemetry`), whose layer
/// [`ContextOtel`] goes inside.
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
#[doc(no_inline)]
pub use tracing_opentelemetry;
/// The `tracing-subscriber` crate whose `fmt` formatters [`ContextFormat`]
/// and [`ContextJson`] wrap.
#[doc(no_inline)]
pub use tracing_subscriber;
