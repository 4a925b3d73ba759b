// Links to the modules of features that are off point to the list of
// features instead.
#![cfg_attr(feature = "opentelemetry", doc = "[`otel`]: crate::otel")]
#![cfg_attr(not(feature = "opentelemetry"), doc = "[`otel`]: #cargo-features")]
#![cfg_attr(feature = "reqwest", doc = "[reqwest-module]: mod@crate::reqwest")]
#![cfg_attr(not(feature = "reqwest"), doc = "[reqwest-module]: #cargo-features")]

//! Request context for [tower], [axum] and [hyper] services, built on
//! [`contextvars`]: every request runs in a context of its own, with its
//! request id, its W3C trace context and its baggage in context variables —
//! readable anywhere below the handler, in spawned tasks and blocking
//! closures, and sent along on outbound calls, with no parameter passing.
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum
//! [hyper]: https://docs.rs/hyper
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use contextvars_tower::{RequestContextLayer, REQUEST_ID, TRACE};
//! use http::Request;
//! use tower::ServiceExt;
//!
//! async fn handler() -> String {
//!     // No extractor, no parameter: the values of the request being served.
//!     format!("{} in trace {}", REQUEST_ID.get(), TRACE.get().trace_id())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/", get(handler)).layer(RequestContextLayer::new());
//!
//! let request = Request::builder()
//!     .uri("/")
//!     .header("x-request-id", "req-42")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-request-id"], "req-42"); // echoed
//! let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
//! assert_eq!(body, "req-42 in trace 4bf92f3577b34da6a3ce929d0e0e4736");
//! # }
//! ```
//!
//! # Overview
//!
//! * **Variables.** [`REQUEST_ID`] ([`RequestId`]), [`TRACE`]
//!   ([`TraceContext`]) and [`BAGGAGE`] ([`Baggage`](w3c::Baggage)) are
//!   ordinary [`ContextVar`]s: `get` them anywhere.
//!   Spawned work inherits them when it is spawned with a copy of the context
//!   (`contextvars_tokio::spawn`, `contextvars_tokio::spawn_blocking`,
//!   `contextvars::thread::spawn`).
//! * **Server:** [`RequestContextLayer`] / [`RequestContextService`] /
//!   [`ResponseFuture`]. Each request gets a fresh copy of the context, its
//!   values from the `x-request-id`, `traceparent`, `tracestate` and
//!   `baggage` headers (validated; invalid request ids replaced), and its id
//!   echoed in the response. [`RequestContextService`] describes every step.
//! * **Client:** [`PropagateLayer`] / [`PropagateService`] wrap any
//!   `tower::Service<http::Request<B>>` (hyper-util's legacy `Client`, for
//!   instance) and write the *current* context into each outbound request:
//!   `traceparent` with a new span id per call, `tracestate`, the request
//!   id, and only the baggage you allow out.
//! * **Parsing:** [`w3c`] parses and formats `traceparent`, `tracestate` and
//!   `baggage` strictly per the W3C specifications, with no HTTP involved;
//!   [`RequestId`] validates request ids (1 to 128 visible ASCII bytes).
//!
//! # Why the server layer is required
//!
//! hyper and axum spawn a task per connection with plain `tokio::spawn`, and
//! serve every request of the connection in it (HTTP/2 streams in tasks of
//! their own, also spawned plainly). Such a task has no context of its own:
//! once `contextvars_tokio::install()` has run (every `contextvars_tokio`
//! spawn function runs it), `set` there panics rather than leak a value into
//! the next task polled on the thread (see `contextvars_tokio`'s "Tasks
//! spawned without a context"). [`RequestContextService`] gives every request
//! a context, so handlers — and everything they call — can read and `set`
//! variables, and requests sharing a connection never see each other's
//! values.
//!
//! # Recipes
//!
//! ## An axum server
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use contextvars::ContextVar;
//! use contextvars_tower::{RequestContextLayer, REQUEST_ID};
//! use http::Request;
//! use tower::ServiceExt;
//!
//! static USER: ContextVar<String> = ContextVar::new("user");
//!
//! async fn handler() -> String {
//!     USER.set("ada".to_string()); // fine: the request has a context
//!     // Work spawned with a copy of the context sees the request's values.
//!     let in_task = contextvars_tokio::spawn(async { REQUEST_ID.get() }).await.unwrap();
//!     let in_thread = contextvars_tokio::spawn_blocking(|| USER.get()).await.unwrap();
//!     format!("{in_task} {in_thread}")
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! contextvars_tokio::install();
//! let app = Router::new().route("/", get(handler)).layer(RequestContextLayer::new());
//! // In production: axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await
//! let request = Request::get("/").header("x-request-id", "r-1").body(Body::empty()).unwrap();
//! let body = axum::body::to_bytes(app.oneshot(request).await.unwrap().into_body(), 64).await.unwrap();
//! assert_eq!(body, "r-1 ada");
//! # }
//! ```
//!
//! ## Layer order
//!
//! Layers outside [`RequestContextLayer`] run before the request has its
//! context; layers inside it run in the context. With `ServiceBuilder` (first
//! layer outermost) put it **first**, then whatever should see the values —
//! typically tower-http's `TraceLayer`, whose span and logging callbacks can
//! then read [`REQUEST_ID`] and [`TRACE`]:
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use contextvars_tower::{RequestContextLayer, REQUEST_ID, TRACE};
//! use http::Request;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_http::trace::TraceLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/", get(|| async { "ok" })).layer(
//!     ServiceBuilder::new()
//!         .layer(RequestContextLayer::new())
//!         .layer(TraceLayer::new_for_http().make_span_with(|_req: &Request<Body>| {
//!             tracing::info_span!(
//!                 "request",
//!                 request_id = %REQUEST_ID.get(),
//!                 trace_id = %TRACE.get().trace_id(),
//!             )
//!         })),
//! );
//! let response = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert!(response.headers().contains_key("x-request-id"));
//! # }
//! ```
//!
//! tower-http's `SetRequestIdLayer` and `PropagateRequestIdLayer` work
//! together with it. Inside [`RequestContextLayer`] they only ever see the
//! validated id (the request header is replaced), so their `RequestId`
//! extension equals [`REQUEST_ID`]. Outside it, `SetRequestIdLayer` stores
//! the incoming header in its extension **unvalidated**; prefer the inside.
//! In axum, `Router::layer(a).layer(b)` makes `b` the outer layer.
//!
//! ## Outbound calls
//!
//! Wrap the HTTP client once; every call made through it from inside a
//! request carries that request's context:
//!
//! ```
//! use bytes::Bytes;
//! use contextvars::ContextVar;
//! use contextvars_tower::{PropagateLayer, PropagateService};
//! use http_body_util::Full;
//! use hyper_util::client::legacy::{connect::HttpConnector, Client};
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! static TENANT: ContextVar<String> = ContextVar::new("tenant");
//!
//! type HttpClient = PropagateService<Client<HttpConnector, Full<Bytes>>>;
//!
//! fn client() -> HttpClient {
//!     ServiceBuilder::new()
//!         .layer(
//!             PropagateLayer::new()
//!                 .forward_baggage(["user-id"])      // from incoming baggage
//!                 .export_var("tenant", &TENANT),    // from a context variable
//!         )
//!         .service(Client::builder(TokioExecutor::new()).build_http())
//! }
//!
//! async fn call_backend(client: HttpClient) -> http::StatusCode {
//!     let request = http::Request::get("http://127.0.0.1:1/").body(Full::default()).unwrap();
//!     match client.oneshot(request).await {
//!         Ok(response) => response.status(),
//!         Err(_) => http::StatusCode::BAD_GATEWAY,
//!     }
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { let _ = call_backend(client()); }
//! ```
//!
//! For clients that are not tower services, [`PropagateLayer::inject`]
//! writes the same headers into any `http::HeaderMap`. For reqwest, the
//! feature `reqwest` adds `PropagateMiddleware` (in the
//! [`reqwest`][reqwest-module] module), a `reqwest-middleware` middleware
//! around `inject`.
//!
//! ## OpenTelemetry
//!
//! With the feature `opentelemetry`, the [`otel`] module converts
//! [`TraceContext`] and [`Baggage`](w3c::Baggage) to and from
//! OpenTelemetry's `SpanContext` and `Baggage`, gives the current values as
//! an `opentelemetry::Context` (`current_otel_context`) or runs code with the
//! values of one (`with_otel_context`), and offers a `TextMapPropagator`
//! with this crate's strict parsers (`ContextVarsPropagator`); the module
//! lists where it differs from the SDK's propagators.
//!
//! # Cargo features
//!
//! None is on by default.
//!
//! * `opentelemetry`: the [`otel`] module; depends on the `opentelemetry`
//!   API crate (0.33, `trace` only).
//! * `reqwest`: the [`reqwest`][reqwest-module] module; depends on
//!   `reqwest-middleware` 0.5 and `reqwest` 0.13 without default features
//!   (no TLS, no HTTP/2: the application chooses those).
//!
//! # Python → Rust
//!
//! | Python | here |
//! |---|---|
//! | asgi-correlation-id `CorrelationIdMiddleware` | [`RequestContextLayer`] |
//! | `asgi_correlation_id.correlation_id.get()` | [`REQUEST_ID.get()`](REQUEST_ID) |
//! | `CorrelationIdMiddleware(header_name=...)` | [`RequestContextLayer::request_id_header`] |
//! | `validator=is_valid_uuid4` (invalid ids replaced) | [`RequestId`] validation: any 1–128 visible ASCII bytes; invalid ids replaced |
//! | `generator=lambda: uuid4().hex` | [`RequestId::new_v7`] (or the incoming trace id) |
//! | `update_request_header=True` | always: the request header is replaced with the validated id |
//! | response header set by the middleware | echoed unless [`echo_request_id(false)`](RequestContextLayer::echo_request_id) |
//! | OpenTelemetry `TraceContextTextMapPropagator().extract(headers)` | done by [`RequestContextLayer`]; [`TraceParent`](w3c::TraceParent), [`TraceState`](w3c::TraceState) |
//! | `opentelemetry.propagate.inject(headers)` | [`PropagateService`] / [`PropagateLayer::inject`] |
//! | `trace.get_current_span().get_span_context().trace_id` | [`TRACE.get().trace_id()`](TraceContext::trace_id) |
//! | `W3CBaggagePropagator`, `baggage.get_baggage("k")` | [`BAGGAGE.get().get("k")`](w3c::Baggage::get); outbound: allow-listed by [`PropagateLayer`] |
//! | `baggage.set_baggage("k", v)` (context-scoped) | a `ContextVar<String>` exported with [`PropagateLayer::export_var`] |
//! | an `httpx` event hook adding the headers | [`PropagateLayer`] on the client; `PropagateMiddleware` for reqwest |
//! | `asyncio.create_task` in a handler | `contextvars_tokio::spawn` |
//!
//! # Limitations
//!
//! * **No spans are recorded.** [`TraceContext`] ids make logs correlatable
//!   and let traces continue through this service, but nothing is exported
//!   to a tracing backend; the span ids of this hop and of outbound calls
//!   exist only in [`TRACE`] and in the request extensions. Use
//!   OpenTelemetry for recorded spans.
//! * **Random ids are not secret.** Trace and span ids come from a fast
//!   per-thread generator seeded from the OS (as OpenTelemetry's default):
//!   unique, not cryptographically unpredictable. Request ids are UUIDv7,
//!   whose random bits come from `rand`'s per-thread generator (a CSPRNG
//!   seeded from the OS).
//! * **Header limits are the server's.** hyper rejects, before any layer
//!   runs: header values with bytes HTTP forbids (a bare CR, NUL and other
//!   control characters, DEL) with `400 Bad Request`; over HTTP/1.1, more
//!   than 100 header fields or a head of more than about 400 KB with `431
//!   Request Header Fields Too Large`; over HTTP/2, a header list above 16 KB
//!   with `431`, and above 64 KB by closing the connection (`GOAWAY`). These
//!   are the defaults of hyper 1 and h2 0.4 (a bare LF ends a header line
//!   there: what follows is another header). Within them, this crate's own
//!   limits apply: 128-byte request ids, 32 `tracestate` members, 64
//!   `baggage` members in 8192 bytes.
//! * **Only one `traceparent`.** A request with several `traceparent` fields
//!   starts a new trace, as the W3C test suite expects; a request with
//!   several request id fields gets a new id.
//! * **`tracestate` is all or nothing**, as the specification requires: one
//!   invalid member, a duplicate key or more than 32 members discard it.
//! * **Responses** carry the request id but no `traceparent` (W3C's
//!   `traceresponse` header is still a draft).
//! * **Spawning:** work spawned with plain `tokio::spawn`,
//!   `tokio::task::spawn_blocking` or `std::thread::spawn` does not inherit
//!   the request's values; use `contextvars_tokio`'s and
//!   `contextvars::thread`'s spawn functions.
//! * **MSRV:** `uuid`'s `v7` support needs a recent Rust; this crate follows
//!   the version `cargo` resolves.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
mod future;
mod headers;
mod layer;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
mod propagate;
mod random;
mod request_id;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
mod service;
mod trace;
pub mod w3c;

use contextvars::ContextVar;

pub use future::ResponseFuture;
pub use layer::RequestContextLayer;
pub use propagate::{PropagateLayer, PropagateService};
pub use request_id::{InvalidRequestId, RequestId};
pub use service::RequestContextService;
pub use trace::TraceContext;

/// The id of the request being served: set by [`RequestContextLayer`] for
/// every request, sent by [`PropagateLayer`] on outbound calls.
///
/// It has no default: outside of a request, [`get`](ContextVar::get) panics
/// and [`get_opt`](ContextVar::get_opt) returns `None`.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::{RequestId, REQUEST_ID};
///
/// assert!(REQUEST_ID.get_opt().is_none());
/// Context::new().run(|| {
///     REQUEST_ID.set(RequestId::new("req-1").unwrap());
///     assert_eq!(REQUEST_ID.get().as_str(), "req-1");
/// });
/// ```
pub static REQUEST_ID: ContextVar<RequestId> = ContextVar::new("request_id");

/// The trace context of the request being served: set by
/// [`RequestContextLayer`] for every request (continued from `traceparent`
/// or new), continued by [`PropagateLayer`] on outbound calls.
///
/// No default: outside of a request it has no value.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::{TraceContext, TRACE};
///
/// Context::new().run(|| {
///     let root = TraceContext::new_root();
///     TRACE.set(root.clone());
///     assert_eq!(TRACE.get().trace_id(), root.trace_id());
/// });
/// ```
pub static TRACE: ContextVar<TraceContext> = ContextVar::new("trace");

/// The W3C baggage of the request being served: set by
/// [`RequestContextLayer`] for every request (empty when there is none).
/// [`PropagateLayer`] sends on only the members it is configured to.
///
/// No default: outside of a request it has no value.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::BAGGAGE;
///
/// Context::new().run(|| {
///     BAGGAGE.set("user-id=42".parse().unwrap());
///     assert_eq!(BAGGAGE.get().get("user-id"), Some("42"));
/// });
/// ```
pub static BAGGAGE: ContextVar<w3c::Baggage> = ContextVar::new("baggage");
