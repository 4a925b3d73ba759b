//! The server-side service.

use std::task::{Context as TaskContext, Poll};

use contextvars::propagation::Dropped;
use contextvars::{Context, FutureExt};
use http::{Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::{HeaderListTooLarge, RequestContextLayer, ServerConfig, SharedConfig};
use crate::policy::{RejectHook, Rejection, Rejections};
use crate::request_id::RequestId;
use crate::trace::TraceContext;
use crate::w3c::Baggage;
use crate::{BAGGAGE, REQUEST_ID, TRACE};

/// Runs every request in a context of its own, with
/// [`REQUEST_ID`], [`TRACE`] and
/// [`BAGGAGE`] set from its headers. Made by
/// [`RequestContextLayer`].
///
/// For each request, at [`call`](Service::call) time:
///
/// 0. **Size.** A request whose header fields add up to more than
///    [`max_header_bytes`](RequestContextLayer::max_header_bytes) (64 KiB by
///    default; name + value + 32 bytes per field) is served as if it had no
///    header this layer reads: a new request id (replacing its request id
///    header), a new trace, empty baggage; and it gets a
///    [`HeaderListTooLarge`](crate::HeaderListTooLarge) extension, with
///    which an inner layer can answer `431` (see there).
/// 1. **Context.** A new context is made with
///    [`contextvars::child_context`]: a copy of the caller's context (in a
///    hyper or axum server, the connection task's, normally empty). Both the
///    synchronous `inner.call(request)` and every poll of the response future
///    run in it, and the response future owns it, so requests served on the
///    same connection (one after another over HTTP/1.1, or multiplexed over
///    HTTP/2) never see each other's values, and handlers may `set` context
///    variables freely — also in tasks that `contextvars-tokio` refuses
///    `set` in otherwise.
/// 2. **Request id** ([`REQUEST_ID`]): the request id
///    header (`x-request-id` by default) if it appears exactly once and is a
///    valid [`RequestId`](crate::RequestId) (1 to 128 visible ASCII bytes);
///    else the trace id (32 hex characters) of a valid `traceparent`; else a
///    new id, a UUIDv7 unless
///    [`make_request_id`](RequestContextLayer::make_request_id) says
///    otherwise. The first two are taken only from requests that
///    [`trust_incoming_ids`](RequestContextLayer::trust_incoming_ids)'s
///    policy trusts (by default, every request); others get a new id. The
///    request's header is then **replaced** with that id, so an invalid or
///    untrusted incoming value is never seen by inner layers, handlers or
///    logs.
/// 3. **Trace** ([`TRACE`]): a valid `traceparent` (exactly one
///    header field, optional whitespace trimmed, see
///    [`TraceParent`](crate::w3c::TraceParent)) is continued with
///    [`TraceContext::from_parent`](crate::TraceContext::from_parent): same
///    trace id, a new span id for this hop, the caller's span as parent, its
///    `sampled` and `random` flags, and the `tracestate` (all its header
///    fields combined) if valid, else an empty one. Otherwise a new trace
///    starts ([`TraceContext::new_root`](crate::TraceContext::new_root),
///    sampled unless [`sample_new_traces(false)`](RequestContextLayer::sample_new_traces)).
/// 4. **Baggage** ([`BAGGAGE`]): the `baggage` header fields,
///    combined and parsed with [`Baggage::parse_lossy`](crate::w3c::Baggage::parse_lossy):
///    malformed members dropped, then the W3C limits (64 members, 8192
///    bytes) applied. Bound only if not empty, or if the caller's context
///    has a value to hide: [`BAGGAGE`]'s default is empty baggage, so
///    `BAGGAGE.get()` reads the same either way (`get_opt` and
///    [`Context::get`](contextvars::Context::get) see no value in a request
///    without baggage).
/// 5. **Extensions.** The same [`RequestId`](crate::RequestId) is inserted
///    into the request's extensions (axum: `Extension<RequestId>`), as
///    tower-http's `SetRequestIdLayer` does. The
///    [`TraceContext`](crate::TraceContext) and [`Baggage`](crate::w3c::Baggage) go there too with
///    [`trace_extensions(true)`](RequestContextLayer::trace_extensions), and
///    the request id into the response's extensions with
///    [`response_extension(true)`](RequestContextLayer::response_extension).
/// 6. **Response.** The request id is added to the response under the same
///    header name, unless the response already has that header or
///    [`echo_request_id(false)`](RequestContextLayer::echo_request_id).
///    `traceparent` is **not** echoed: responses carry no trace headers
///    (W3C's `traceresponse` is a draft).
///
/// Every incoming value rejected or partly dropped on the way (steps 0 and 2
/// to 4) is reported to the hook set with
/// [`on_reject`](RequestContextLayer::on_reject), if any, in the request's
/// context, before the inner service is called.
///
/// The `traceparent`, `tracestate` and `baggage` request headers are left as
/// received, for inner layers that do their own propagation.
///
/// Errors of the inner service pass through unchanged.
///
/// **Layer order: this service must be the outermost one.** Middleware
/// outside it runs before the request has a context, where `set` panics and
/// reads see no request's values. With `ServiceBuilder` the first layer is
/// the outermost; in axum the last `.layer(..)`. The
/// [`RequestContextExt`](crate::RequestContextExt) methods and
/// `contextvars_tower::serve` (feature `axum`) wrap a whole application, so
/// they cannot be misordered.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
/// use http::{Request, Response};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Layer order: in `ServiceBuilder` the first layer is the outermost.
/// let svc = ServiceBuilder::new()
///     .layer(RequestContextLayer::new())
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, Infallible>(Response::new(REQUEST_ID.get().to_string()))
///     }));
/// let req = Request::builder().header("x-request-id", "abc-123").body(()).unwrap();
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.body(), "abc-123");
/// assert_eq!(res.headers()["x-request-id"], "abc-123");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RequestContextService<S> {
    inner: S,
    config: SharedConfig,
}

impl<S> RequestContextService<S> {
    /// Wraps `inner` with the default settings of
    /// [`RequestContextLayer::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextService;
    ///
    /// let svc = RequestContextService::new(tower::service_fn(|_req: http::Request<()>| async move {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(()))
    /// }));
    /// # drop(svc);
    /// ```
    pub fn new(inner: S) -> RequestContextService<S> {
        RequestContextService::with_config(inner, SharedConfig::default())
    }

    pub(crate) fn with_config(inner: S, config: SharedConfig) -> RequestContextService<S> {
        RequestContextService { inner, config }
    }

    /// A [`RequestContextLayer`] with the default settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextService;
    ///
    /// let layer = RequestContextService::<()>::layer();
    /// # drop(layer);
    /// ```
    pub fn layer() -> RequestContextLayer {
        RequestContextLayer::new()
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextService;
    ///
    /// let svc = RequestContextService::new(5);
    /// assert_eq!(*svc.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextService;
    ///
    /// let mut svc = RequestContextService::new(5);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextService;
    ///
    /// assert_eq!(RequestContextService::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// A new context for a request (or a message) with these values: a
/// [`child_context`](contextvars::child_context) of the caller's, with the
/// accepted propagated variables of `config` bound from `baggage`; the
/// values of those that were not bound are added to `dropped`.
pub(crate) fn request_context(
    config: &ServerConfig,
    request_id: RequestId,
    trace: TraceContext,
    mut baggage: Baggage,
    dropped: &mut Vec<Dropped>,
) -> Context {
    // Whether the copy will hold a baggage (it holds one exactly when the
    // caller's context does: BAGGAGE is inherited), asked of the caller's
    // context, which is read without a lock or a reference count when it
    // has none.
    let inherits_baggage = BAGGAGE.get_opt_arc().is_some();
    let mut ctx = contextvars::child_context();
    if !config.accepted.is_empty() && !baggage.is_empty() {
        let members = baggage.iter().map(|m| (m.key(), m.value()));
        config.accepted.bind(&mut ctx, members, |d| dropped.push(d));
        // A dropped value is not forwarded either.
        for d in dropped.iter() {
            baggage.remove(d.name());
        }
    }
    // The request's values are bound before the context is entered (no
    // entry, task probe or token per value), in one allocation. Empty
    // baggage is BAGGAGE's default: bound only to hide the caller's.
    if !baggage.is_empty() || inherits_baggage {
        ctx.bind_all((
            (&REQUEST_ID, request_id),
            (&TRACE, trace),
            (&BAGGAGE, baggage),
        ));
    } else {
        ctx.bind_all(((&REQUEST_ID, request_id), (&TRACE, trace)));
    }
    ctx
}

/// Calls `hook` for each rejection, then for each dropped value of an
/// accepted variable, in the request's context.
pub(crate) fn report_rejections(
    ctx: &mut Context,
    hook: &RejectHook,
    rejections: Option<&Rejections>,
    dropped: &[Dropped],
) {
    let rejections = rejections.filter(|r| !r.is_empty());
    if rejections.is_some() || !dropped.is_empty() {
        ctx.run_mut(|| {
            rejections
                .into_iter()
                .flat_map(Rejections::iter)
                .for_each(|rejection| hook(rejection));
            for d in dropped {
                hook(&Rejection::from(*d));
            }
        });
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestContextService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, task_cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(task_cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = self.config.get();
        let trusted = config.trust.trusts_all()
            || config.trust.trusts_request(req.headers(), req.extensions());
        // Over the size limit, no header of the request is read.
        let mut rejections = None;
        let incoming = config.read(req.headers(), trusted, &mut rejections);
        if incoming.too_large {
            let marker = HeaderListTooLarge::new(config.max_header_bytes);
            req.extensions_mut().insert(marker);
        }
        let request_id = incoming.request_id;

        // Inner layers and the handler only ever see the validated id.
        if !incoming.request_id_from_header {
            req.headers_mut()
                .insert(&config.request_id_header, request_id.to_header_value());
        }
        let extensions = req.extensions_mut();
        extensions.insert(request_id.clone());
        if config.trace_extensions {
            extensions.insert(incoming.trace.clone());
        }

        let mut dropped = Vec::new();
        let mut ctx = request_context(
            config,
            request_id.clone(),
            incoming.trace,
            incoming.baggage,
            &mut dropped,
        );
        if let Some(hook) = &config.on_reject {
            report_rejections(&mut ctx, hook, rejections.as_ref(), &dropped);
        }
        if config.trace_extensions {
            // The baggage as bound: without the dropped values of accepted
            // variables.
            let baggage = ctx
                .get(&BAGGAGE)
                .map_or_else(Baggage::new, |b| (*b).clone());
            req.extensions_mut().insert(baggage);
        }
        // The inner service's `call` runs in the context too (a layer inside
        // may read the values there). The closure borrows everything and
        // writes the inner future into `future`: the request and the future
        // (often hundreds of bytes) are not moved in and out through the
        // closure and its result.
        let inner = &mut self.inner;
        let mut req = Some(req);
        let mut future = None;
        ctx.run_mut(|| future = Some(inner.call(req.take().expect("taken once"))));
        let future = future
            .expect("set by the closure")
            .with_context(ctx)
            .task_root();
        let echo = config
            .echo_request_id
            .then(|| config.request_id_header.clone());
        ResponseFuture::new(future, request_id, echo, config.response_extension)
    }
}
