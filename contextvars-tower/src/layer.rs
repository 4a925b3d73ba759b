//! The server-side layer.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use contextvars::propagation::AllowList;
use contextvars::{Context, ContextVar};
use http::HeaderName;
use tower_layer::Layer;

use crate::carrier::Extractor;
use crate::headers::{self, Fields, Incoming, NoReport, Source, X_REQUEST_ID};
use crate::policy::{MakeRequestId, RejectHook, Rejection, Rejections, TrustPolicy};
use crate::service::{report_rejections, request_context, RequestContextService};
use crate::w3c::TraceFlags;

/// Settings shared by a [`RequestContextLayer`] and its services.
#[derive(Clone)]
pub(crate) struct ServerConfig {
    pub(crate) request_id_header: HeaderName,
    pub(crate) echo_request_id: bool,
    pub(crate) new_trace_flags: TraceFlags,
    pub(crate) max_header_bytes: usize,
    pub(crate) trace_extensions: bool,
    pub(crate) response_extension: bool,
    /// The propagated variables incoming baggage may set.
    pub(crate) accepted: AllowList,
    pub(crate) trust: TrustPolicy,
    /// `None`: UUIDv7s, with no indirect call.
    pub(crate) make_id: Option<Arc<dyn MakeRequestId>>,
    /// `None`: rejections are not looked for (no extra pass).
    pub(crate) on_reject: Option<RejectHook>,
}

impl ServerConfig {
    /// Reads a request's (or a carrier's) fields with these settings. The
    /// rejections are looked for only if there is a hook to report them to,
    /// and then stored in `rejections`.
    #[inline]
    pub(crate) fn read<'a, S: Source<'a>>(
        &self,
        source: S,
        trusted: bool,
        rejections: &mut Option<Rejections>,
    ) -> Incoming {
        match self.on_reject {
            None => headers::extract(source, self, trusted, &mut NoReport),
            Some(_) => headers::extract(
                source,
                self,
                trusted,
                rejections.insert(Rejections::default()),
            ),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("request_id_header", &self.request_id_header)
            .field("echo_request_id", &self.echo_request_id)
            .field("new_trace_flags", &self.new_trace_flags)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("trace_extensions", &self.trace_extensions)
            .field("response_extension", &self.response_extension)
            .field("accepted", &self.accepted)
            .field("trust", &self.trust)
            .field("make_id", &self.make_id.as_ref().map(|_| "custom"))
            .field("on_reject", &self.on_reject.as_ref().map(|_| "set"))
            .finish()
    }
}

impl ServerConfig {
    /// The default settings.
    const DEFAULT: ServerConfig = ServerConfig {
        request_id_header: X_REQUEST_ID,
        echo_request_id: true,
        new_trace_flags: TraceFlags::SAMPLED,
        max_header_bytes: RequestContextLayer::DEFAULT_MAX_HEADER_BYTES,
        trace_extensions: false,
        response_extension: false,
        accepted: AllowList::new(),
        trust: TrustPolicy::all(),
        make_id: None,
        on_reject: None,
    };
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::DEFAULT
    }
}

/// The default settings, shared by every layer that keeps them.
static DEFAULT_CONFIG: ServerConfig = ServerConfig::DEFAULT;

/// A layer's settings, shared with the services it makes: the default
/// settings in static memory, any others behind an `Arc`. Cloning the
/// defaults touches no reference count: axum applies a router's layers
/// again at every request to a handler route of a router called as a
/// service (without `with_state`), cloning the layer and making a service.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedConfig(Option<Arc<ServerConfig>>);

impl SharedConfig {
    /// The settings.
    #[inline]
    pub(crate) fn get(&self) -> &ServerConfig {
        self.0.as_deref().unwrap_or(&DEFAULT_CONFIG)
    }

    /// The settings, to change: copied out of the defaults first, or out of
    /// the `Arc` if another layer shares it.
    fn make_mut(&mut self) -> &mut ServerConfig {
        Arc::make_mut(self.0.get_or_insert_with(Arc::default))
    }
}

/// A request extension: the request's header section was larger than the
/// [`max_header_bytes`](RequestContextLayer::max_header_bytes) of the
/// [`RequestContextLayer`] that served it, which then read none of its
/// headers (new request id, new trace, empty baggage).
///
/// Answer such requests with `431 Request Header Fields Too Large` from a
/// layer inside [`RequestContextLayer`], as in the example of
/// [`max_header_bytes`](RequestContextLayer::max_header_bytes).
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use contextvars_tower::{HeaderListTooLarge, RequestContextLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(RequestContextLayer::new().max_header_bytes(100))
///     .service(service_fn(|req: http::Request<()>| async move {
///         let marker = req.extensions().get::<HeaderListTooLarge>().copied();
///         Ok::<_, Infallible>(http::Response::new(marker))
///     }));
/// let req = http::Request::builder().header("x-long", "a".repeat(100)).body(()).unwrap();
/// let marker = svc.oneshot(req).await.unwrap().into_body().unwrap();
/// assert_eq!(marker.limit(), 100);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeaderListTooLarge {
    limit: usize,
}

impl HeaderListTooLarge {
    pub(crate) fn new(limit: usize) -> HeaderListTooLarge {
        HeaderListTooLarge { limit }
    }

    /// The limit the header section was over, in bytes (name + value + 32
    /// per field).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{HeaderListTooLarge, RequestContextLayer};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = RequestContextLayer::new().max_header_bytes(10).layer(service_fn(
    ///     |req: http::Request<()>| async move {
    ///         Ok::<_, Infallible>(http::Response::new(req.extensions().get::<HeaderListTooLarge>().map(|m| m.limit())))
    ///     },
    /// ));
    /// let req = http::Request::builder().header("a", "b").body(()).unwrap();
    /// assert_eq!(svc.oneshot(req).await.unwrap().into_body(), Some(10));
    /// # }
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Runs every request in a context of its own, with
/// [`REQUEST_ID`](crate::REQUEST_ID), [`TRACE`](crate::TRACE) and
/// [`BAGGAGE`](crate::BAGGAGE) set from its headers: the server half of this
/// crate. Makes [`RequestContextService`]s.
///
/// What happens to each request is described on [`RequestContextService`].
///
/// **Layer order: this layer must be the outermost one.** Every layer that
/// reads or sets context variables goes inside it; a layer outside it runs
/// before the request has a context, where `set` panics. In axum the
/// **last** `.layer(..)` call is the outermost, so add this layer last; in
/// `ServiceBuilder` the first is the outermost. To avoid placing it by hand,
/// wrap the finished application with
/// [`with_request_context_layer`](crate::RequestContextExt::with_request_context_layer)
/// or serve it with `contextvars_tower::serve_with` (feature `axum`). See
/// the [crate docs](crate#layer-order).
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
///
/// // Layer order: the last `.layer(..)` is the outermost, so this one comes
/// // after every other layer.
/// let app: Router = Router::new()
///     .route("/", get(|| async { format!("request {}", REQUEST_ID.get()) }))
///     .layer(RequestContextLayer::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestContextLayer {
    config: SharedConfig,
}

impl RequestContextLayer {
    /// The default of [`max_header_bytes`](RequestContextLayer::max_header_bytes):
    /// 64 KiB.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

    /// A layer with the default settings: request id in `x-request-id`,
    /// echoed in the response and inserted into the request's extensions
    /// (no other extensions, see
    /// [`trace_extensions`](RequestContextLayer::trace_extensions) and
    /// [`response_extension`](RequestContextLayer::response_extension)); new
    /// traces sampled; the headers of requests
    /// whose header fields add up to more than
    /// [`DEFAULT_MAX_HEADER_BYTES`](RequestContextLayer::DEFAULT_MAX_HEADER_BYTES)
    /// not read.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let layer = RequestContextLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> RequestContextLayer {
        RequestContextLayer::default()
    }

    /// Reads and echoes the request id in header `name` instead of
    /// `x-request-id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    /// use http::HeaderName;
    ///
    /// let layer = RequestContextLayer::new()
    ///     .request_id_header(HeaderName::from_static("x-correlation-id"));
    /// # drop(layer);
    /// ```
    pub fn request_id_header(mut self, name: HeaderName) -> RequestContextLayer {
        self.config.make_mut().request_id_header = name;
        self
    }

    /// Whether to add the request id to responses that do not have the
    /// header yet (default: `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let quiet = RequestContextLayer::new().echo_request_id(false);
    /// # drop(quiet);
    /// ```
    pub fn echo_request_id(mut self, echo: bool) -> RequestContextLayer {
        self.config.make_mut().echo_request_id = echo;
        self
    }

    /// Whether traces started here (requests without a valid `traceparent`)
    /// have the `sampled` flag (default: `true`, see
    /// [`TraceContext::new_root`](crate::TraceContext::new_root)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let layer = RequestContextLayer::new().sample_new_traces(false);
    /// # drop(layer);
    /// ```
    pub fn sample_new_traces(mut self, sampled: bool) -> RequestContextLayer {
        self.config.make_mut().new_trace_flags = TraceFlags::NONE.with_sampled(sampled);
        self
    }

    /// The largest header section whose headers this layer reads, in bytes
    /// (default:
    /// [`DEFAULT_MAX_HEADER_BYTES`](RequestContextLayer::DEFAULT_MAX_HEADER_BYTES),
    /// 64 KiB); `usize::MAX` turns the check off.
    ///
    /// The size of a request's header section is measured as HTTP/2 measures
    /// a header list (RFC 9113, `SETTINGS_MAX_HEADER_LIST_SIZE`): for every
    /// header field of the request, the length of its name plus the length
    /// of its value plus 32. A request over the limit is served as if it had
    /// no header this layer reads: a **new request id** (which replaces its
    /// request id header), a **new trace**, **empty baggage**. It also gets a
    /// [`HeaderListTooLarge`] extension, so that a layer inside this one can
    /// refuse it with `431 Request Header Fields Too Large` (see the
    /// example): this layer does not answer requests itself, so that it works
    /// with any response body type. Counting takes one pass over the header
    /// fields, with no allocation, and stops at the limit.
    ///
    /// The server in front rejects some requests before any layer runs: see
    /// the crate's [limitations](crate#limitations) for what hyper enforces.
    ///
    /// # Examples
    ///
    /// Every request over the limit answered with `431`, whatever hyper let
    /// through:
    ///
    /// ```
    /// use axum::{body::Body, extract::Request, middleware::{self, Next}, response::Response};
    /// use axum::{routing::get, Router};
    /// use contextvars_tower::{HeaderListTooLarge, RequestContextLayer};
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    ///
    /// async fn refuse_too_large(request: Request, next: Next) -> Result<Response, StatusCode> {
    ///     if request.extensions().get::<HeaderListTooLarge>().is_some() {
    ///         return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    ///     }
    ///     Ok(next.run(request).await)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Layer order: the last `.layer(..)` is the outermost.
    /// let app = Router::new()
    ///     .route("/", get(|| async { "served" }))
    ///     .layer(middleware::from_fn(refuse_too_large))
    ///     .layer(RequestContextLayer::new().max_header_bytes(1024));
    ///
    /// // `x-big` (5) + 1000 + 32 = 1037 bytes: over the limit.
    /// let big = http::Request::get("/").header("x-big", "a".repeat(1000)).body(Body::empty()).unwrap();
    /// let response = app.clone().oneshot(big).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    /// assert!(response.headers().contains_key("x-request-id")); // a new id
    ///
    /// let small = http::Request::get("/").header("x-big", "a".repeat(900)).body(Body::empty()).unwrap();
    /// assert_eq!(app.oneshot(small).await.unwrap().status(), StatusCode::OK);
    /// # }
    /// ```
    pub fn max_header_bytes(mut self, limit: usize) -> RequestContextLayer {
        self.config.make_mut().max_header_bytes = limit;
        self
    }

    /// Whether to insert the request's [`TraceContext`](crate::TraceContext)
    /// and [`Baggage`](crate::w3c::Baggage) into its extensions too (default:
    /// `false`), for code that reads them from the request (axum:
    /// `Extension<TraceContext>`) rather than from [`TRACE`](crate::TRACE)
    /// and [`BAGGAGE`](crate::BAGGAGE).
    ///
    /// By default a request gets one extension from this layer, its
    /// [`RequestId`](crate::RequestId), as tower-http's `SetRequestIdLayer`
    /// gives it: each extension inserted costs about 400 instructions per
    /// request (a boxed value in the request's extension map, grown and
    /// freed with it), and the context variables already hold the same
    /// values, shared.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextLayer, TraceContext};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = RequestContextLayer::new().trace_extensions(true).layer(service_fn(
    ///     |req: http::Request<()>| async move {
    ///         let trace = req.extensions().get::<TraceContext>().cloned();
    ///         Ok::<_, Infallible>(http::Response::new(trace))
    ///     },
    /// ));
    /// let trace = svc.oneshot(http::Request::new(())).await.unwrap().into_body();
    /// assert!(trace.is_some());
    /// # }
    /// ```
    pub fn trace_extensions(mut self, insert: bool) -> RequestContextLayer {
        self.config.make_mut().trace_extensions = insert;
        self
    }

    /// Whether to insert the request id into the **response's** extensions
    /// (default: `false`), for a layer outside this one that reads it there,
    /// as it would read tower-http's after `PropagateRequestIdLayer`.
    ///
    /// Off by default because this layer is meant to be the outermost one
    /// (see [Layer order](crate#layer-order)), where nothing but the server
    /// sees the response; layers inside it read [`REQUEST_ID`](crate::REQUEST_ID).
    /// The first extension of a response allocates its extension map: about
    /// 900 instructions per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextLayer, RequestId};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = RequestContextLayer::new().response_extension(true).layer(service_fn(
    ///     |_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) },
    /// ));
    /// let req = http::Request::builder().header("x-request-id", "r-1").body(()).unwrap();
    /// let res = svc.oneshot(req).await.unwrap();
    /// assert_eq!(res.extensions().get::<RequestId>().unwrap().as_str(), "r-1");
    /// assert_eq!(res.headers()["x-request-id"], "r-1"); // still echoed
    /// # }
    /// ```
    pub fn response_extension(mut self, insert: bool) -> RequestContextLayer {
        self.config.make_mut().response_extension = insert;
        self
    }
}

impl RequestContextLayer {
    /// Lets incoming baggage set the propagated variable `var` (see
    /// [`contextvars::propagation`]): when the request's `baggage` has a
    /// member named as the variable, its value (percent-decoded) is parsed
    /// with `T`'s `FromStr` and bound in the request's context, where the
    /// handler reads it with `var.get()`. Adds to previous calls.
    ///
    /// Incoming names that are not accepted set nothing: they stay plain
    /// members of [`BAGGAGE`](crate::BAGGAGE). An accepted name whose value
    /// is longer than
    /// [`max_accepted_value_bytes`](RequestContextLayer::max_accepted_value_bytes),
    /// does not parse, or that appears more than once, binds nothing: the
    /// member (every member of that name) is also taken out of `BAGGAGE`, so
    /// that it is not forwarded either, and the drop is reported to
    /// [`on_reject`](RequestContextLayer::on_reject) as a [`Rejection`] of
    /// [`IncomingField::Variable`](crate::IncomingField::Variable) with the
    /// variable's name. Valid members stay in `BAGGAGE` too.
    ///
    /// Registers the variable, so that values of it are sent on by
    /// [`PropagateLayer`](crate::PropagateLayer) even before the process
    /// used it otherwise.
    ///
    /// # Panics
    ///
    /// If `var` was not built with
    /// [`propagate`](contextvars::VarBuilder::propagate), or another
    /// accepted variable has its name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars::ContextVar;
    /// use contextvars_tower::{RequestContextLayer, BAGGAGE};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    /// static SHARD: ContextVar<u16> = ContextVar::builder("shard").propagate().build();
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let svc = RequestContextLayer::new().accept(&TENANT).accept(&SHARD).layer(service_fn(
    ///     |_req: http::Request<()>| async {
    ///         let seen = (TENANT.get_opt(), SHARD.get_opt(), BAGGAGE.get().to_string());
    ///         Ok::<_, Infallible>(http::Response::new(seen))
    ///     },
    /// ));
    /// let req = http::Request::builder()
    ///     .header("baggage", "tenant=acme%20corp,shard=-3,user=ada")
    ///     .body(())
    ///     .unwrap();
    /// let (tenant, shard, baggage) = svc.oneshot(req).await.unwrap().into_body();
    /// assert_eq!(tenant.as_deref(), Some("acme corp"));
    /// assert_eq!(shard, None); // -3 is not a u16: dropped
    /// assert_eq!(baggage, "tenant=acme%20corp,user=ada");
    /// # }
    /// ```
    ///
    /// Dropped values, reported to the rejection hook in the request's
    /// context, by the variable's name and never with the value:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::{Arc, Mutex};
    /// use contextvars::{propagation::DropReason, ContextVar};
    /// use contextvars_tower::{IncomingField, RejectReason, RequestContextLayer};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// static SHARD: ContextVar<u16> = ContextVar::builder("shard").propagate().build();
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let layer = RequestContextLayer::new()
    ///     .accept(&SHARD)
    ///     .on_reject(move |rejection| log.lock().unwrap().push(*rejection));
    /// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(SHARD.get_opt()))
    /// }));
    /// let req = http::Request::builder().header("baggage", "shard=99999").body(()).unwrap();
    /// assert_eq!(svc.oneshot(req).await.unwrap().into_body(), None);
    /// let rejection = seen.lock().unwrap()[0];
    /// assert_eq!(rejection.field(), IncomingField::Variable("shard"));
    /// assert_eq!(rejection.reason(), RejectReason::Variable(DropReason::Invalid));
    /// assert_eq!(
    ///     rejection.to_string(),
    ///     "incoming context variable `shard` rejected: the value does not parse",
    /// );
    /// # }
    /// ```
    #[track_caller]
    pub fn accept<T>(mut self, var: &'static ContextVar<T>) -> RequestContextLayer
    where
        T: FromStr + Send + Sync + fmt::Debug + 'static,
    {
        let config = self.config.make_mut();
        config.accepted = std::mem::take(&mut config.accepted).accept(var);
        self
    }

    /// The longest accepted value that is parsed, in bytes after
    /// percent-decoding (default: 256, see
    /// [`AllowList::max_value_bytes`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// static QUERY: ContextVar<String> = ContextVar::builder("query").propagate().build();
    ///
    /// let layer = RequestContextLayer::new().accept(&QUERY).max_accepted_value_bytes(2048);
    /// # drop(layer);
    /// ```
    pub fn max_accepted_value_bytes(mut self, limit: usize) -> RequestContextLayer {
        let config = self.config.make_mut();
        config.accepted = std::mem::take(&mut config.accepted).max_value_bytes(limit);
        self
    }
}

impl RequestContextLayer {
    /// Makes the ids of requests that run with a new one with `make_id`
    /// instead of [`RequestId::new_v7`](crate::RequestId::new_v7) (the
    /// default): a UUIDv4, a ULID-like id, an id from a counter, … See
    /// [`MakeRequestId`] for examples.
    ///
    /// A request runs with a new id when it has no request id header, when
    /// its id is rejected (invalid, repeated, or
    /// [not trusted](RequestContextLayer::trust_incoming_ids)) and no
    /// trusted `traceparent` supplies one; `make_id` is called once for each
    /// such request.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use contextvars_tower::{RequestContextLayer, RequestId, REQUEST_ID};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// static NEXT: AtomicU64 = AtomicU64::new(1);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = RequestContextLayer::new().make_request_id(|| {
    ///     RequestId::new(&format!("req-{}", NEXT.fetch_add(1, Ordering::Relaxed))).unwrap()
    /// });
    /// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get().to_string()))
    /// }));
    /// let res = svc.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(res.headers()["x-request-id"], "req-1");
    /// # }
    /// ```
    pub fn make_request_id(mut self, make_id: impl MakeRequestId) -> RequestContextLayer {
        self.config.make_mut().make_id = Some(Arc::new(make_id));
        self
    }

    /// Whose request ids to take: from every request
    /// ([`TrustPolicy::all`], the default), from none
    /// ([`TrustPolicy::nothing`]: every request gets a new id), only from
    /// peers in given networks ([`TrustPolicy::peers`]), or only from
    /// requests that carry a trusted proxy's header
    /// ([`TrustPolicy::header`]).
    ///
    /// The policy covers both sources of an incoming request id: the
    /// request id header, and the trace id of `traceparent` when that
    /// header is absent or invalid. A request that is not trusted gets a
    /// new id (from [`make_request_id`](RequestContextLayer::make_request_id)'s
    /// generator), which also replaces its request id header. The trace is
    /// continued from a valid `traceparent` whatever the policy.
    ///
    /// # Examples
    ///
    /// Trust the ids of the load balancers only, in an axum application
    /// served with the peer's address:
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy, REQUEST_ID};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// let layer = RequestContextLayer::new()
    ///     .trust_incoming_ids(TrustPolicy::peers(["10.0.0.0/8".parse().unwrap()]));
    /// let app = Router::new().route("/", get(|| async { REQUEST_ID.get().to_string() }));
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
    /// // `ConnectInfo<SocketAddr>` in every request: what `peers` reads.
    /// contextvars_tower::serve_with_layer_and_connect_info(listener, app, layer).await
    /// # }
    /// ```
    pub fn trust_incoming_ids(mut self, policy: TrustPolicy) -> RequestContextLayer {
        self.config.make_mut().trust = policy;
        self
    }

    /// Calls `hook` for every incoming value the layer rejects or partly
    /// drops: a request id that is invalid, repeated or
    /// [not trusted](RequestContextLayer::trust_incoming_ids); a
    /// `traceparent` that is invalid or repeated; a `tracestate` that is
    /// invalid or has no valid `traceparent`; `baggage` with malformed
    /// members or over the limits; a header section over
    /// [`max_header_bytes`](RequestContextLayer::max_header_bytes); the
    /// value of an [accepted](RequestContextLayer::accept) propagated
    /// variable that does not parse, is too long or is repeated. The
    /// [`Rejection`] says which field and why, never what the value was.
    ///
    /// The hook runs synchronously in [`call`](tower_service::Service::call),
    /// **in the request's context**, before the inner service is called:
    /// [`REQUEST_ID`](crate::REQUEST_ID) is the id the request runs with,
    /// and a `tracing` event logged there carries the request's values like
    /// any other. It is called once per rejected field. Keep it short: it
    /// delays the request.
    ///
    /// Without a hook (the default) the layer looks for nothing more than
    /// it needs: finding why `baggage` members were dropped takes another
    /// pass over the `baggage` fields, made only when a hook is set.
    ///
    /// # Examples
    ///
    /// A `tracing` warning per rejection:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = RequestContextLayer::new().on_reject(|rejection| {
    ///     tracing::warn!(
    ///         request_id = %REQUEST_ID.get(),
    ///         field = %rejection.field(),
    ///         reason = %rejection.reason(),
    ///         "incoming value rejected",
    ///     );
    /// });
    /// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// let req = http::Request::builder().header("traceparent", "not a traceparent").body(()).unwrap();
    /// svc.oneshot(req).await.unwrap();
    /// # }
    /// ```
    pub fn on_reject(
        mut self,
        hook: impl Fn(&Rejection) + Send + Sync + 'static,
    ) -> RequestContextLayer {
        self.config.make_mut().on_reject = Some(Arc::new(hook));
        self
    }
}

impl RequestContextLayer {
    /// Reads the context of a message from any carrier (see
    /// [`carrier`](crate::carrier)), with this layer's settings and the same
    /// validation as for an HTTP request's headers, and returns a new
    /// context with its values bound: [`REQUEST_ID`](crate::REQUEST_ID),
    /// [`TRACE`](crate::TRACE) (a new hop below the sender's span) and
    /// [`BAGGAGE`](crate::BAGGAGE) (when not empty), set as
    /// [`RequestContextService`] sets them (steps 0 and 2 to 4 there).
    ///
    /// The context is a copy of the caller's
    /// ([`contextvars::child_context`]), as a request's is. Run the
    /// message's handling in it with [`Context::run`](contextvars::Context::run),
    /// or give it to the future that handles the message with
    /// [`FutureExt::with_context`](contextvars::FutureExt::with_context).
    ///
    /// The request id field is [`request_id_header`](RequestContextLayer::request_id_header)'s
    /// name (`x-request-id` by default). A carrier whose fields add up to
    /// more than [`max_header_bytes`](RequestContextLayer::max_header_bytes)
    /// is read as if it had none: a new request id, a new trace, no
    /// baggage. The layer's [id generator](RequestContextLayer::make_request_id)
    /// makes new ids, its [trust policy](RequestContextLayer::trust_incoming_ids)
    /// applies (a carrier has no peer address: under
    /// [`TrustPolicy::peers`] its ids are not taken), and its
    /// [reject hook](RequestContextLayer::on_reject) runs in the new context.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use contextvars_tower::{RequestContextLayer, BAGGAGE, REQUEST_ID, TRACE};
    ///
    /// let fields = HashMap::from([
    ///     ("traceparent".to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string()),
    ///     ("X-Correlation-Id".to_string(), "job-12".to_string()),
    ///     ("baggage".to_string(), "tenant=acme,bad value".to_string()),
    /// ]);
    /// let layer = RequestContextLayer::new()
    ///     .request_id_header(http::HeaderName::from_static("x-correlation-id"));
    /// layer.extract(&fields).run(|| {
    ///     assert_eq!(REQUEST_ID.get().as_str(), "job-12");
    ///     assert_eq!(TRACE.get().parent_span_id().unwrap().to_string(), "b7ad6b7169203331");
    ///     assert_eq!(BAGGAGE.get().to_string(), "tenant=acme"); // the invalid member dropped
    /// });
    /// ```
    pub fn extract<E: Extractor + ?Sized>(&self, carrier: &E) -> Context {
        let config = self.config.get();
        let trusted = config.trust.trusts_all() || config.trust.trusts_fields(carrier);
        let mut rejections = None;
        let incoming = config.read(Fields(carrier), trusted, &mut rejections);
        let mut dropped = Vec::new();
        let mut ctx = request_context(
            config,
            incoming.request_id,
            incoming.trace,
            incoming.baggage,
            &mut dropped,
        );
        if let Some(hook) = &config.on_reject {
            report_rejections(&mut ctx, hook, rejections.as_ref(), &dropped);
        }
        ctx
    }
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService::with_config(inner, self.config.clone())
    }
}
