// Links to the modules of features that are off point to the list of
// features instead.
#![cfg_attr(feature = "opentelemetry", doc = "[`otel`]: crate::otel")]
#![cfg_attr(not(feature = "opentelemetry"), doc = "[`otel`]: #cargo-features")]
#![cfg_attr(feature = "reqwest", doc = "[reqwest-module]: mod@crate::reqwest")]
#![cfg_attr(not(feature = "reqwest"), doc = "[reqwest-module]: #cargo-features")]
#![cfg_attr(feature = "axum", doc = "[`serve`]: crate::serve")]
#![cfg_attr(not(feature = "axum"), doc = "[`serve`]: #cargo-features")]
#![cfg_attr(feature = "axum", doc = "[`serve_with`]: crate::serve_with")]
#![cfg_attr(not(feature = "axum"), doc = "[`serve_with`]: #cargo-features")]

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
//! Serve an axum application with [`serve`] (cargo feature `axum`) instead
//! of `axum::serve`: the request context is then outside everything the
//! application does, whatever order its layers were added in.
//!
// The quick start needs the `axum` feature; without it, it is not compiled.
#![cfg_attr(feature = "axum", doc = "```no_run")]
#![cfg_attr(not(feature = "axum"), doc = "```ignore")]
//! use axum::{routing::get, Router};
//! use contextvars_tower::{REQUEST_ID, TRACE};
//!
//! async fn handler() -> String {
//!     // No extractor, no parameter: the values of the request being served.
//!     format!("{} in trace {}", REQUEST_ID.get(), TRACE.get().trace_id())
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().route("/", get(handler));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     contextvars_tower::serve(listener, app).await
//! }
//! ```
//!
//! Without a server, [`RequestContextExt::with_request_context`] wraps the
//! application the same way:
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use contextvars_tower::{RequestContextExt, REQUEST_ID, TRACE};
//! use http::Request;
//! use tower::ServiceExt;
//!
//! async fn handler() -> String {
//!     format!("{} in trace {}", REQUEST_ID.get(), TRACE.get().trace_id())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/", get(handler)).with_request_context();
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
//! * **Server:** [`serve`] / [`serve_with`] (feature `axum`) and
//!   [`RequestContextExt`] put a [`RequestContextService`] around a whole
//!   application; [`RequestContextLayer`] is the same as a layer, for
//!   placing by hand. Each request gets a fresh copy of the context, its
//!   values from the `x-request-id`, `traceparent`, `tracestate` and
//!   `baggage` headers (validated; invalid request ids replaced), and its id
//!   echoed in the response. [`RequestContextService`] describes every step.
//! * **Request-id policy:** whose incoming ids to take
//!   ([`TrustPolicy`]: everyone by default, no one, peers by address, or
//!   requests marked by a trusted proxy), how new ids are made
//!   ([`MakeRequestId`]: UUIDv7 by default), and a hook told of every
//!   incoming value rejected, with the reason and never the value
//!   ([`RequestContextLayer::on_reject`], [`Rejection`]).
//! * **Client:** [`PropagateLayer`] / [`PropagateService`] wrap any
//!   `tower::Service<http::Request<B>>` (hyper-util's legacy `Client`, for
//!   instance) and write the *current* context into each outbound request:
//!   `traceparent` with a new span id per call, `tracestate`, the request
//!   id, and only the baggage you allow out.
//! * **Any carrier:** [`carrier`] takes the same context through anything
//!   with named fields — message-queue record headers, RPC metadata, a child
//!   process's environment: [`RequestContextLayer::extract`] reads one into
//!   a new context, with the server layer's validation, and
//!   [`PropagateLayer::inject_into`] writes the current context into one.
//! * **Parsing:** [`w3c`] parses and formats `traceparent`, `tracestate` and
//!   `baggage` strictly per the W3C specifications, with no HTTP involved;
//!   [`RequestId`] validates request ids (1 to 128 visible ASCII bytes).
//!
//! # Why the server layer is required
//!
//! hyper and axum spawn a task per connection with plain `tokio::spawn`, and
//! serve every request of the connection in it (HTTP/2 streams in tasks of
//! their own, also spawned plainly). Such a task has no context of its own:
//! it runs in its worker thread's context, which every such task polled on
//! the thread shares, so a value set there would be seen by the next request
//! served on the thread.
//!
//! This crate turns on `contextvars`' `tokio` feature, so in any program
//! that links it the library asks tokio which task a thread polls, with no
//! setup call, and refuses what would leak:
//!
//! * **`set` is refused** in a task without a context of its own (and in
//!   the future given to `block_on` or `#[tokio::main]`): `VAR.set(..)`
//!   panics, and `VAR.try_set(..)` returns
//!   [`SetError::NoTaskContext`](contextvars::SetError::NoTaskContext). The
//!   message names the variable and the likely causes with their fixes:
//!   `<ContextVar name='user'>: cannot set a ContextVar here: this code runs
//!   in tokio without a context of its own, ... Likely causes and fixes: (1)
//!   a middleware that runs outside `RequestContextLayer` ...`, then a plain
//!   `tokio::spawn`, a plain `spawn_blocking`, and the body of
//!   `#[tokio::main]`.
//! * **Reads are allowed** there, but see only the thread's base context,
//!   with no request's values: `get_opt` returns `None`, and the
//!   [`LookupError`](contextvars::LookupError) of `get`/`try_get` lists the
//!   same causes
//!   ([`in_task_without_context`](contextvars::LookupError::in_task_without_context)
//!   is `true`).
//!
//! So a value set for one request is never seen by another: a middleware in
//! the wrong place fails loudly, naming the fix, instead of leaking.
//! [`RequestContextService`] gives every request a context of its own, so
//! handlers and middleware inside it — and everything they call — can read
//! and `set` variables, and requests sharing a connection never see each
//! other's values.
//!
//! A middleware that has to run outside the request context (say, it is
//! added by a shared crate after yours) can still hand a value to the
//! service it wraps, with
//! [`ContextVar::scope_async`](contextvars::ContextVar::scope_async): the
//! value is bound only while that service's future is polled, which works in
//! any task and is never seen by anything else.
//!
//! ```
//! use axum::{body::Body, extract::Request, middleware::{self, Next}, response::Response};
//! use axum::{routing::get, Router};
//! use contextvars::ContextVar;
//! use contextvars_tower::RequestContextLayer;
//! use tower::ServiceExt;
//!
//! static USER: ContextVar<String> = ContextVar::new("user");
//!
//! // Runs outside `RequestContextLayer`, where `USER.set(..)` is refused.
//! async fn auth(request: Request, next: Next) -> Response {
//!     let user = request.headers().get("authorization").map_or("anonymous", |v| {
//!         v.to_str().unwrap_or("anonymous")
//!     });
//!     USER.scope_async(user.to_string(), next.run(request)).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/", get(|| async { USER.get().to_string() }))
//!     .layer(RequestContextLayer::new())
//!     // Layer order: the last `.layer(..)` is the outermost, so `auth` runs
//!     // outside the request context here; `scope_async` makes that safe.
//!     .layer(middleware::from_fn(auth));
//!
//! let request = http::Request::get("/").header("authorization", "ada").body(Body::empty()).unwrap();
//! let body = axum::body::to_bytes(app.oneshot(request).await.unwrap().into_body(), 64).await.unwrap();
//! assert_eq!(body, "ada");
//! # }
//! ```
//!
//! # Recipes
//!
//! ## An axum server
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use contextvars::ContextVar;
//! use contextvars_tower::{RequestContextExt, REQUEST_ID};
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
//! let app = Router::new().route("/", get(handler)).with_request_context();
//! // In production: contextvars_tower::serve(TcpListener::bind(addr).await?, app).await
//! // (feature `axum`), or axum::serve(listener, app.into_make_service()).await
//! let request = Request::get("/").header("x-request-id", "r-1").body(Body::empty()).unwrap();
//! let body = axum::body::to_bytes(app.oneshot(request).await.unwrap().into_body(), 64).await.unwrap();
//! assert_eq!(body, "r-1 ada");
//! # }
//! ```
//!
//! ## Layer order
//!
//! **The rule: [`RequestContextLayer`] must be the outermost layer** — every
//! middleware that reads or sets context variables goes inside it. Layers
//! outside it run before the request has its context: there `set` panics
//! (see [above](#why-the-server-layer-is-required)) and reads see no
//! request's values. In axum, **the last `.layer(..)` call is the
//! outermost**: add `RequestContextLayer` last. In `ServiceBuilder`, the
//! first layer is the outermost: put it first. Or do not place it by hand:
//! [`serve`] and [`RequestContextExt::with_request_context`] wrap the whole
//! application from outside, so they cannot be misordered.
//!
//! With `ServiceBuilder`, put it **first**, then whatever should see the
//! values — typically tower-http's `TraceLayer`, whose span and logging
//! callbacks can then read [`REQUEST_ID`] and [`TRACE`]:
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
//! // Layer order: in `ServiceBuilder` the first layer is the outermost, so
//! // `RequestContextLayer` goes first; this `.layer(..)` is the router's last.
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
//! The same without placing the layer: `.layer(TraceLayer::..)` on the
//! router, then `.with_request_context()` (or [`serve`]).
//!
//! tower-http's `SetRequestIdLayer` and `PropagateRequestIdLayer` work
//! together with it. Inside [`RequestContextLayer`] they only ever see the
//! validated id (the request header is replaced), so their `RequestId`
//! extension equals [`REQUEST_ID`]. Outside it, `SetRequestIdLayer` stores
//! the incoming header in its extension **unvalidated**; prefer the inside.
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
//! around `inject`. The crate re-exports `reqwest_middleware`, which
//! re-exports the `reqwest` it is built for, so a client needs no other
//! dependency than `contextvars-tower = { version = "0.1", features =
//! ["reqwest"] }`, and no versions to match:
//!
// Compiled only with the `reqwest` feature.
#![cfg_attr(feature = "reqwest", doc = "```")]
#![cfg_attr(not(feature = "reqwest"), doc = "```ignore")]
//! use contextvars_tower::reqwest::PropagateMiddleware;
//! use contextvars_tower::reqwest_middleware::{reqwest, ClientBuilder, ClientWithMiddleware};
//!
//! fn client() -> ClientWithMiddleware {
//!     ClientBuilder::new(reqwest::Client::new())
//!         .with(PropagateMiddleware::new())
//!         .build()
//! }
//! # drop(client());
//! ```
//!
//! That `reqwest` has none of its default features: HTTP/1.1, no TLS. For
//! HTTPS, HTTP/2 or JSON bodies, the application turns them on in a
//! dependency of its own on the same minor version, and Cargo builds one
//! `reqwest` with both sets of features:
//! `reqwest = { version = "0.13", default-features = false, features =
//! ["rustls", "http2", "json"] }`.
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
//! # Baggage
//!
//! [`BAGGAGE`] holds the request's W3C baggage, read leniently (malformed
//! members dropped) within the specification's limits (64 members, 8192
//! bytes); [`PropagateLayer`] sends on only the members it is told to. Keys
//! and values are held **percent-decoded**, and written in one encoding
//! that every OpenTelemetry SDK (Python, Go, Java, JavaScript, Rust) reads
//! back as the same string ([Encoding](w3c::Baggage#encoding)):
//!
//! * **Values:** `%XX` is decoded; a `+` received is a `+`, as the
//!   specification says. On output, every byte but the `baggage-octet`s
//!   other than `%`, `+` and `=` is percent-encoded: `+` as `%2B` (Python's
//!   SDK reads a bare `+` as a space), a space as `%20`, `=` as `%3D`, `%` as
//!   `%25`, and `"`, `,`, `;`, `\`, control characters and non-ASCII bytes.
//! * **Keys** ([Keys](w3c::Baggage#keys)) are compared decoded, everywhere:
//!   [`Baggage::get`](w3c::Baggage::get),
//!   [`PropagateLayer::forward_baggage`] and
//!   [`export_var`](PropagateLayer::export_var), and the OpenTelemetry
//!   conversions. A key is written as a token, percent-encoding only `%` and
//!   bytes that a token cannot hold.
//!
//! From a Python service instrumented with OpenTelemetry, whose
//! `W3CBaggagePropagator` encodes keys and values with `quote_plus`:
//!
//! ```
//! use contextvars::Context;
//! use contextvars_tower::{w3c::Baggage, PropagateLayer, BAGGAGE};
//! use http::HeaderMap;
//!
//! // Python: baggage.set_baggage("tok!en#key", "1+1=2"), and the region
//! // "DF 28 eu west"; its propagator sends:
//! let received = "tok%21en%23key=1%2B1%3D2,region=DF+28+eu+west";
//! let baggage = Baggage::parse_lossy(received);
//! assert_eq!(baggage.get("tok!en#key"), Some("1+1=2"));
//! assert_eq!(baggage.get("region"), Some("DF+28+eu+west")); // `+` is a `+`
//!
//! // Forwarded: allow-listed by decoded key, `+` encoded.
//! let layer = PropagateLayer::new().forward_baggage(["tok!en#key", "region"]);
//! let mut headers = HeaderMap::new();
//! Context::new().run(|| {
//!     BAGGAGE.set(baggage);
//!     layer.inject(&mut headers);
//! });
//! assert_eq!(headers["baggage"], "tok!en#key=1%2B1%3D2,region=DF%2B28%2Beu%2Bwest");
//! // Python reads `1+1=2` and `DF+28+eu+west`: the values this service read.
//! ```
//!
//! Python sends a space as `+`, so `DF 28 eu west` reads `DF+28+eu+west`
//! here. That is the specification's reading, and the only one that is
//! right whoever the sender is: OpenTelemetry's Go and Rust SDKs send a `+`
//! as is, and a server cannot tell which SDK a peer runs. Every service
//! after this one then reads `DF+28+eu+west` too, whatever its language.
//! Where every peer that sends baggage is known to encode like Python's
//! SDK, opt in to reading `+` as a space with
//! [`Baggage::parse_lossy_plus_as_space`](w3c::Baggage::parse_lossy_plus_as_space)
//! (its documentation shows a middleware that does it).
//!
//! ## Typed variables across services
//!
//! A variable built with
//! [`propagate`](contextvars::VarBuilder::propagate) travels as a baggage
//! member named as the variable ([`contextvars::propagation`]): every
//! [`PropagateLayer`] (and so the reqwest middleware, [`carrier::inject`]
//! and `contextvars-tonic`'s clients) sends it when the current context has
//! a value for it, and a server that
//! [accepts](RequestContextLayer::accept) the name binds the decoded value
//! in the request's context, after checking it (`FromStr`, length, one
//! occurrence; drops go to the [`on_reject`](RequestContextLayer::on_reject)
//! hook as [`IncomingField::Variable`]).
//! Names a server does not accept stay plain [`BAGGAGE`]. On a name clash
//! outbound, the variable wins over a plain member. Services in other
//! languages see an ordinary baggage member, a string.
//!
//! ```
//! use std::convert::Infallible;
//! use contextvars::{Context, ContextVar};
//! use contextvars_tower::{PropagateLayer, RequestContextLayer};
//! use http::HeaderMap;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! // In a crate both services use: `Display` and `FromStr` are the codec.
//! static SHARD: ContextVar<u16> = ContextVar::builder("shard").propagate().build();
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The caller: set it, call as usual.
//! let mut headers = HeaderMap::new();
//! Context::new().run(|| {
//!     SHARD.set(12);
//!     PropagateLayer::new().inject(&mut headers);
//! });
//! assert_eq!(headers["baggage"], "shard=12");
//!
//! // The server: accept the name, read the typed value.
//! let server = RequestContextLayer::new().accept(&SHARD).layer(service_fn(
//!     |_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(SHARD.get() + 1)) },
//! ));
//! let mut request = http::Request::new(());
//! *request.headers_mut() = headers;
//! assert_eq!(server.oneshot(request).await.unwrap().into_body(), 13);
//! # }
//! ```
//!
//! # Cargo features
//!
//! None is on by default.
//!
//! * `axum`: [`serve`], [`serve_with`], `serve_with_connect_info` and
//!   `serve_with_layer_and_connect_info`,
//!   `axum::serve` with the request context outermost; depends on `axum`
//!   0.8 (features `tokio` and `http1`; turn on its `http2` in your own
//!   dependency for HTTP/2), whose `Serve` type they return.
//! * `opentelemetry`: the [`otel`] module; depends on the `opentelemetry`
//!   API crate (0.33, `trace` only).
//! * `reqwest`: the [`reqwest`][reqwest-module] module; depends on
//!   `reqwest-middleware` 0.5 and `reqwest` 0.13 without default features
//!   (no TLS, no HTTP/2: the application chooses those).
//!
//! The crates the public API names are re-exported, so that an application
//! uses the versions this crate is built for without naming them:
//! `contextvars`, `http`, `tower_layer` and `tower_service`; `axum`,
//! `opentelemetry` and `reqwest_middleware` (with `reqwest_middleware::reqwest`)
//! with their features.
//!
//! # Python → Rust
//!
//! | Python | here |
//! |---|---|
//! | asgi-correlation-id `CorrelationIdMiddleware` | [`RequestContextLayer`] |
//! | `app.add_middleware(CorrelationIdMiddleware)` (Starlette: the last one added is the outermost) | `Router::layer(RequestContextLayer::new())` (axum: the last one added is the outermost), or, outermost whatever the order, [`app.with_request_context()`](RequestContextExt::with_request_context) |
//! | `uvicorn.run(app)` | [`contextvars_tower::serve(listener, app)`][`serve`] (feature `axum`) |
//! | `with var.set(value): return await call_next(request)` (Python 3.14) in a middleware | [`VAR.scope_async(value, next.run(request)).await`](contextvars::ContextVar::scope_async), which works outside the request context too |
//! | `asgi_correlation_id.correlation_id.get()` | [`REQUEST_ID.get()`](REQUEST_ID) |
//! | `CorrelationIdMiddleware(header_name=...)` | [`RequestContextLayer::request_id_header`] |
//! | `validator=is_valid_uuid4` (invalid ids replaced) | [`RequestId`] validation: any 1–128 visible ASCII bytes; invalid ids replaced; [`on_reject`](RequestContextLayer::on_reject) to hear of it |
//! | `generator=lambda: uuid4().hex` | [`RequestId::new_v7`] (or the incoming trace id); any other with [`make_request_id`](RequestContextLayer::make_request_id) |
//! | uvicorn's `--forwarded-allow-ips` (whose headers to believe) | [`trust_incoming_ids`](RequestContextLayer::trust_incoming_ids)`(`[`TrustPolicy::peers`]`(..))` |
//! | `update_request_header=True` | always: the request header is replaced with the validated id |
//! | response header set by the middleware | echoed unless [`echo_request_id(false)`](RequestContextLayer::echo_request_id) |
//! | OpenTelemetry `TraceContextTextMapPropagator().extract(headers)` | done by [`RequestContextLayer`]; [`TraceParent`](w3c::TraceParent), [`TraceState`](w3c::TraceState) |
//! | `opentelemetry.propagate.inject(headers)` | [`PropagateService`] / [`PropagateLayer::inject`] |
//! | `propagate.extract(carrier, getter=...)` / `propagate.inject(carrier, setter=...)` on Kafka or AMQP headers | [`RequestContextLayer::extract`] / [`PropagateLayer::inject_into`], with [`carrier::Extractor`] / [`carrier::Injector`] implemented for the record |
//! | `trace.get_current_span().get_span_context().trace_id` | [`TRACE.get().trace_id()`](TraceContext::trace_id) |
//! | `W3CBaggagePropagator`, `baggage.get_baggage("k")` | [`BAGGAGE.get().get("k")`](w3c::Baggage::get); outbound: allow-listed by [`PropagateLayer`] |
//! | `baggage.set_baggage("k", v)` (context-scoped) | a `ContextVar<String>` exported with [`PropagateLayer::export_var`], or a typed variable built with [`propagate`](contextvars::VarBuilder::propagate) |
//! | `baggage.get_baggage("k")` parsed into a type by hand | [`RequestContextLayer::accept(&VAR)`](RequestContextLayer::accept), then `VAR.get()` (no Python counterpart) |
//! | an `httpx` event hook adding the headers | [`PropagateLayer`] on the client; `PropagateMiddleware` for reqwest |
//! | `asyncio.create_task` in a handler | `contextvars_tokio::spawn` |
//!
//! # Limitations
//!
//! * **No spans are recorded.** [`TraceContext`] ids make logs correlatable
//!   and let traces continue through this service, but nothing is exported
//!   to a tracing backend; the span ids of this hop and of outbound calls
//!   exist only in [`TRACE`] (and in the request extensions with
//!   [`RequestContextLayer::trace_extensions`]). To record spans, export
//!   `tracing` spans with tracing-opentelemetry and add
//!   [`contextvars_tracing::ContextOtel`](https://docs.rs/contextvars-tracing/latest/contextvars_tracing/struct.ContextOtel.html)
//!   inside its layer: each exported span gets the context variables you
//!   choose ([`REQUEST_ID`], …) as attributes, and, with
//!   `otel::current_otel_context` (feature `opentelemetry`) as its parent
//!   context, a request's spans are in the trace of its `traceparent`: the
//!   trace id of [`TRACE`] and of its log lines.
//! * **Random ids are not secret.** Trace and span ids come from a fast
//!   per-thread generator seeded from the OS (as OpenTelemetry's default):
//!   unique, not cryptographically unpredictable. Request ids are UUIDv7,
//!   whose random bits come from `rand`'s per-thread generator (a CSPRNG
//!   seeded from the OS).
//! * **Header limits: the server's, then this crate's.** hyper rejects,
//!   before any layer runs: header values with bytes HTTP forbids (a bare
//!   CR, NUL and other control characters, DEL) with `400 Bad Request`;
//!   over HTTP/1.1, more than 100 header fields with `431 Request Header
//!   Fields Too Large`; over HTTP/2, a header list above 16 KiB with `431`,
//!   and above 64 KiB by closing the connection (`GOAWAY`). These are the
//!   defaults of hyper 1 and h2 0.4 (a bare LF ends a header line there:
//!   what follows is another header). hyper's HTTP/1.1 limit on the size of
//!   a request head (its read buffer, 408 KiB by default) is **not exact**:
//!   it is checked as data arrives, only when a head is still incomplete, so
//!   a head somewhat larger may be accepted depending on how the bytes
//!   arrive (heads of 410–450 KB were accepted 20 times out of 20, and of
//!   500 KB 17 times out of 20). Do not rely on it.
//!
//!   [`RequestContextLayer`] checks its own limit, exactly, on every request
//!   that reaches it:
//!   [`max_header_bytes`](RequestContextLayer::max_header_bytes), 64 KiB by
//!   default, measured as HTTP/2 measures a header list (name + value + 32
//!   bytes per field). A request over it is served **without any of its
//!   headers read** (a new request id replaces its request id header, a new
//!   trace, empty baggage) and marked with a [`HeaderListTooLarge`]
//!   extension; answer such requests with `431` from a layer inside (a
//!   four-line middleware, shown under `max_header_bytes`). The layer does not answer by
//!   itself, so that it works with any response body type.
//!   `tests/it/header_limits.rs` shows it exact to the byte, and the same on
//!   every request, over real HTTP/1.1. Within that limit, each header has
//!   its own: a request id of more than 128 bytes is replaced; a
//!   `tracestate` with more than 32 members is discarded; `baggage` keeps
//!   the members that fit in 64 members and 8192 bytes.
//! * **Only one `traceparent`.** A request with several `traceparent` fields
//!   starts a new trace, as the W3C test suite expects; a request with
//!   several request id fields gets a new id.
//! * **`tracestate` is all or nothing**, as the specification requires: one
//!   invalid member or more than 32 members discard it. Keys follow Trace
//!   Context Level 2 (Level 1 keys included); of members with the same key,
//!   the first is kept and the rest of the list with it
//!   ([`TraceState`](w3c::TraceState)).
//! * **Responses** carry the request id but no `traceparent` (W3C's
//!   `traceresponse` header is still a draft).
//! * **Spawning:** work spawned with plain `tokio::spawn`,
//!   `tokio::task::spawn_blocking` or `std::thread::spawn` does not inherit
//!   the request's values; use `contextvars_tokio`'s and
//!   `contextvars::thread`'s spawn functions. In plain tokio tasks (and
//!   plain `spawn_blocking` closures), `set` is refused and reads see no
//!   request's values.
//! * **MSRV:** `uuid`'s `v7` support needs a recent Rust; this crate follows
//!   the version `cargo` resolves.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]
pub mod carrier;
mod ext;
mod future;
mod headers;
mod layer;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
mod policy;
mod propagate;
mod random;
mod request_id;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(feature = "axum")]
mod serve;
mod service;
mod trace;
mod uuid_v7;
pub mod w3c;

use contextvars::ContextVar;

pub use ext::RequestContextExt;
pub use future::ResponseFuture;
pub use layer::{HeaderListTooLarge, RequestContextLayer};
pub use policy::{
    IncomingField, InvalidIpNetwork, IpNetwork, MakeRequestId, RejectReason, Rejection, TrustPolicy,
};
pub use propagate::{PropagateLayer, PropagateService};
pub use request_id::{InvalidRequestId, RequestId};
#[cfg(feature = "axum")]
pub use serve::{serve, serve_with, serve_with_connect_info, serve_with_layer_and_connect_info};
pub use service::RequestContextService;
pub use trace::TraceContext;

/// The `axum` crate (feature `axum`), whose `Serve` [`serve`](fn@serve)
/// returns.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc(no_inline)]
pub use axum;
/// The `contextvars` crate whose variables hold the request's values.
#[doc(no_inline)]
pub use contextvars;
/// The `http` crate whose `Request`, `Response` and `HeaderMap` the
/// services and [`PropagateLayer::inject`] take.
#[doc(no_inline)]
pub use http;
/// The `opentelemetry` API crate (feature `opentelemetry`), whose types the
/// [`otel`] module converts to and from.
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
#[doc(no_inline)]
pub use opentelemetry;
/// The `reqwest-middleware` crate (feature `reqwest`), whose
/// `Middleware` trait the [`reqwest`](mod@crate::reqwest) module implements;
/// `reqwest_middleware::reqwest` is the `reqwest` crate it is built for.
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[doc(no_inline)]
pub use reqwest_middleware;
/// The `tower-layer` crate whose [`Layer`](tower_layer::Layer) trait
/// [`RequestContextLayer`] and [`PropagateLayer`] implement.
#[doc(no_inline)]
pub use tower_layer;
/// The `tower-service` crate whose [`Service`](tower_service::Service)
/// trait [`RequestContextService`] and [`PropagateService`] implement.
#[doc(no_inline)]
pub use tower_service;

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
/// [`RequestContextLayer`] for every request that has baggage.
/// [`PropagateLayer`] sends on only the members it is configured to.
///
/// Its default is empty baggage: [`get`](ContextVar::get) returns empty
/// baggage outside of a request and in a request without baggage, in which
/// the layer leaves it unbound, saving a `set` per request (see
/// [`RequestContextService`]).
/// [`get_opt`](ContextVar::get_opt) and
/// [`Context::get`](contextvars::Context::get) see a value only where it is
/// bound.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::BAGGAGE;
///
/// assert!(BAGGAGE.get().is_empty());
/// assert!(BAGGAGE.get_opt().is_none());
/// Context::new().run(|| {
///     BAGGAGE.set("user-id=42".parse().unwrap());
///     assert_eq!(BAGGAGE.get().get("user-id"), Some("42"));
/// });
/// ```
pub static BAGGAGE: ContextVar<w3c::Baggage> =
    ContextVar::with_default("baggage", w3c::Baggage::new);

// The README's examples, the quick start among them (hence the features).
#[cfg(all(doctest, feature = "axum", feature = "reqwest"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
