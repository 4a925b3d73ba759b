//! Request context for [tonic] gRPC servers and clients, built on
//! [`contextvars`] and [`contextvars_tower`]: every call runs in a context of
//! its own, with its request id, its W3C trace context and its baggage in
//! context variables — readable anywhere below the method, in spawned tasks
//! and in the stream a server-streaming method returns — and sent along in
//! the metadata of the calls it makes, with no parameter passing.
//!
//! [tonic]: https://docs.rs/tonic
//!
//! * **Server:** [`GrpcContextLayer`] (`Server::builder().layer(..)`)
//!   reads each call's metadata exactly as
//!   [`RequestContextLayer`](contextvars_tower::RequestContextLayer) reads
//!   HTTP headers — same validation, same limits — into
//!   [`REQUEST_ID`](contextvars_tower::REQUEST_ID),
//!   [`TRACE`](contextvars_tower::TRACE) and
//!   [`BAGGAGE`](contextvars_tower::BAGGAGE), runs the method and its
//!   response stream in that context, and echoes the request id in the
//!   response metadata.
//! * **Client:** [`PropagateInterceptor`] (a tonic `Interceptor`) writes the
//!   current context into every outgoing call's metadata: `traceparent` with
//!   a new span id per call, `tracestate`, the request id, and the baggage
//!   it is allowed to send. `contextvars_tower::PropagateLayer` does the same
//!   as a tower layer around a `Channel`.
//! * **Metadata as a carrier:** [`MetadataExtractor`] and
//!   [`MetadataInjector`], for code that handles metadata itself
//!   ([`contextvars_tower::carrier`]).
//!
//! The same variables are set by `contextvars-tower` for HTTP, so one
//! service can serve HTTP and gRPC, and call others over either, with one
//! set of variables and one log format.
//!
//! # Examples
//!
//! A server with the layer (any tonic service; `GreeterServer` stands for
//! the one `tonic-build` generates):
//!
//! ```no_run
//! use contextvars_tonic::GrpcContextLayer;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), tonic::transport::Error> {
//!     // The application's services, e.g. `Routes::new(GreeterServer::new(greeter))`.
//!     let routes = tonic::service::Routes::default();
//!     tonic::transport::Server::builder()
//!         .layer(GrpcContextLayer::new())
//!         .add_routes(routes)
//!         .serve("127.0.0.1:50051".parse().unwrap())
//!         .await
//! }
//! ```
//!
//! In the methods, `REQUEST_ID.get()`, `TRACE.get()` and `BAGGAGE.get()`
//! return the call's values, with no parameter.
//!
//! A call from one service to the next, in process: the interceptor writes
//! the caller's context into metadata, the layer gives the callee a context
//! made from it (gRPC metadata travels as HTTP/2 headers, so the callee's
//! side is an `http::Request`):
//!
//! ```
//! use std::convert::Infallible;
//! use contextvars::Context;
//! use contextvars_tonic::{GrpcContextLayer, PropagateInterceptor};
//! use contextvars_tower::{RequestId, REQUEST_ID, TRACE};
//! use tonic::service::Interceptor;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The caller, serving request `req-42`.
//! let (metadata, caller_trace) = Context::new().run(|| {
//!     REQUEST_ID.set(RequestId::new("req-42").unwrap());
//!     let request = PropagateInterceptor::new().call(tonic::Request::new(())).unwrap();
//!     (request.metadata().clone(), TRACE.get_opt())
//! });
//! assert!(caller_trace.is_none()); // the caller had no trace: the call starts one
//!
//! // The callee.
//! let callee = GrpcContextLayer::new().layer(service_fn(|_req: http::Request<()>| async {
//!     let seen = format!("{} {}", REQUEST_ID.get(), TRACE.get().trace_id());
//!     Ok::<_, Infallible>(http::Response::new(seen))
//! }));
//! let mut request = http::Request::new(());
//! *request.headers_mut() = metadata.clone().into_headers();
//! let response = callee.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-request-id"], "req-42");
//! let trace_id = &metadata.get("traceparent").unwrap().to_str().unwrap()[3..35];
//! assert_eq!(response.into_body().into_inner(), format!("req-42 {trace_id}"));
//! # }
//! ```
//!
//! # Typed variables across calls
//!
//! A variable built with
//! [`propagate`](contextvars::VarBuilder::propagate) travels in the
//! `baggage` metadata entry, as over HTTP (see
//! [`contextvars::propagation`]): the interceptor sends it whenever the
//! caller's context has a value for it, and the server binds it, typed, in
//! the call's context if its layer accepts the name:
//!
//! ```
//! use std::convert::Infallible;
//! use contextvars::{Context, ContextVar};
//! use contextvars_tonic::{GrpcContextLayer, PropagateInterceptor};
//! use tonic::service::Interceptor;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! static PRIORITY: ContextVar<u8> = ContextVar::builder("priority").propagate().build();
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let metadata = Context::new().run(|| {
//!     PRIORITY.set(3);
//!     PropagateInterceptor::new().call(tonic::Request::new(())).unwrap().metadata().clone()
//! });
//! assert_eq!(metadata.get("baggage").unwrap(), "priority=3");
//!
//! let layer = GrpcContextLayer::new().accept(&PRIORITY);
//! let callee = layer.layer(service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, Infallible>(http::Response::new(PRIORITY.get()))
//! }));
//! let mut request = http::Request::new(());
//! *request.headers_mut() = metadata.into_headers();
//! assert_eq!(callee.oneshot(request).await.unwrap().into_body().into_inner(), 3);
//! # }
//! ```
//!
//! `tests/grpc.rs` runs a real tonic server and client on 127.0.0.1:
//! unary, server-streaming and client-streaming calls, concurrent calls,
//! hostile metadata, and typed variables (concurrent, hostile, as Python's
//! OpenTelemetry SDK encodes them).
//!
//! # Limitations
//!
//! * The layer sees the call's headers, not its messages: a request id or
//!   trace carried inside a message is not read.
//! * Binary (`-bin`) metadata is never read: `traceparent-bin` (the old
//!   OpenCensus binary format) is not supported; only the W3C text headers
//!   are.
//! * Outside the layer (in layers added before it, or in tonic's own
//!   layers), a call has no context: the same rule as for
//!   [`RequestContextLayer`](contextvars_tower::RequestContextLayer)'s
//!   [layer order](contextvars_tower#layer-order).

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod metadata;
mod server;

pub use client::PropagateInterceptor;
pub use metadata::{MetadataExtractor, MetadataInjector};
pub use server::{ContextBody, GrpcContextLayer, GrpcContextService, ResponseFuture};

/// The `contextvars` crate whose variables hold the call's values.
#[doc(no_inline)]
pub use contextvars;
/// The `contextvars-tower` crate: the variables
/// ([`REQUEST_ID`](contextvars_tower::REQUEST_ID),
/// [`TRACE`](contextvars_tower::TRACE),
/// [`BAGGAGE`](contextvars_tower::BAGGAGE)), the settings
/// ([`RequestContextLayer`](contextvars_tower::RequestContextLayer),
/// [`PropagateLayer`](contextvars_tower::PropagateLayer)) and the W3C types.
#[doc(no_inline)]
pub use contextvars_tower;
/// The `tonic` crate whose `Interceptor` and `MetadataMap` this crate uses.
#[doc(no_inline)]
pub use tonic;

// The README's examples.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
