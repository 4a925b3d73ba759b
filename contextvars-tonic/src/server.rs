//! The server side: a context per gRPC call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context as TaskContext, Poll};

use contextvars::{Context, ContextVar};
use contextvars_tower::{RequestContextLayer, RequestContextService};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// Runs every gRPC call in a context of its own, with
/// [`REQUEST_ID`](contextvars_tower::REQUEST_ID),
/// [`TRACE`](contextvars_tower::TRACE) and
/// [`BAGGAGE`](contextvars_tower::BAGGAGE) set from its metadata: the server
/// half of this crate. Add it to a tonic server with
/// `Server::builder().layer(GrpcContextLayer::new())`.
///
/// gRPC metadata travels as HTTP/2 headers, so a call is read exactly as
/// [`RequestContextLayer`] reads an HTTP request, with the same settings,
/// validation and limits (see
/// [`RequestContextService`](contextvars_tower::RequestContextService) for
/// every step): the request id from `x-request-id` (1 to 128 visible ASCII
/// bytes, else the trace id of a valid `traceparent`, else a new UUIDv7),
/// the trace from `traceparent` and `tracestate`, the baggage from
/// `baggage`, nothing at all from metadata over
/// [`max_header_bytes`](RequestContextLayer::max_header_bytes). Binary
/// (`-bin`) entries count towards that size, and are never read.
///
/// What gRPC adds:
///
/// * **The response body runs in the call's context too.** A
///   server-streaming method returns a stream that tonic polls after the
///   method has returned, while sending the response; every poll of the
///   response body (and so of that stream) runs in a copy of the call's
///   context as it was when the method returned, and the body is dropped
///   in it, also when the client cancels the call. Values the method set
///   are seen by the stream and by its destructor.
/// * **The request id is echoed** in the response's initial metadata
///   (`x-request-id` by default), unless
///   [`echo_request_id(false)`](RequestContextLayer::echo_request_id). A
///   call that fails before sending any message (a `Status` returned by the
///   method) is answered with one header block, the trailers-only response,
///   and the request id is in it too: tonic clients find it in
///   `Status::metadata()`.
///
/// **Layer order:** layers added with `Server::builder().layer(..)` wrap the
/// server's routes; the first one added is the outermost. Add this one
/// first, so that the layers after it run in the call's context.
///
/// # Examples
///
/// ```no_run
/// use contextvars_tonic::GrpcContextLayer;
///
/// #[tokio::main]
/// async fn main() -> Result<(), tonic::transport::Error> {
///     // The application's services, e.g. `Routes::new(GreeterServer::new(greeter))`.
///     let routes = tonic::service::Routes::default();
///     tonic::transport::Server::builder()
///         .layer(GrpcContextLayer::new())
///         .add_routes(routes)
///         .serve("127.0.0.1:50051".parse().unwrap())
///         .await
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct GrpcContextLayer {
    http: RequestContextLayer,
}

impl GrpcContextLayer {
    /// A layer with the default settings of [`RequestContextLayer::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextLayer;
    ///
    /// let layer = GrpcContextLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> GrpcContextLayer {
        GrpcContextLayer::default()
    }

    /// A layer with the settings of `layer`: the request id's metadata key,
    /// echo, sampling of new traces, size limit, extensions, and the
    /// request-id policy (whose ids to trust, the id generator, the reject
    /// hook).
    ///
    /// A [`TrustPolicy::peers`](contextvars_tower::TrustPolicy::peers)
    /// policy needs the caller's address: tonic's server puts it into every
    /// request as `TcpConnectInfo` (with its `transport` feature), which
    /// [`peer_addr_from`](contextvars_tower::TrustPolicy::peer_addr_from)
    /// names (second example).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextLayer;
    /// use contextvars_tower::RequestContextLayer;
    /// use http::HeaderName;
    ///
    /// let layer = GrpcContextLayer::with_settings(
    ///     RequestContextLayer::new()
    ///         .request_id_header(HeaderName::from_static("x-correlation-id"))
    ///         .max_header_bytes(8 * 1024),
    /// );
    /// # drop(layer);
    /// ```
    ///
    /// Request ids taken only from callers in `10.0.0.0/8`, rejections
    /// logged:
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use contextvars_tonic::GrpcContextLayer;
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy};
    /// use tonic::transport::server::TcpConnectInfo;
    ///
    /// fn peer(extensions: &http::Extensions) -> Option<SocketAddr> {
    ///     extensions.get::<TcpConnectInfo>()?.remote_addr()
    /// }
    ///
    /// let layer = GrpcContextLayer::with_settings(
    ///     RequestContextLayer::new()
    ///         .trust_incoming_ids(
    ///             TrustPolicy::peers(["10.0.0.0/8".parse().unwrap()]).peer_addr_from(peer),
    ///         )
    ///         .on_reject(|rejection| eprintln!("{rejection}")),
    /// );
    /// # drop(layer);
    /// ```
    pub fn with_settings(layer: RequestContextLayer) -> GrpcContextLayer {
        GrpcContextLayer { http: layer }
    }

    /// Lets the call's `baggage` set the propagated variable `var`, as
    /// [`RequestContextLayer::accept`] does for HTTP requests (see
    /// [`contextvars::propagation`]): the value is parsed with `T`'s
    /// `FromStr` and bound in the call's context; invalid, too long and
    /// repeated values are dropped and reported to the layer's
    /// [`on_reject`](RequestContextLayer::on_reject) hook.
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
    /// use contextvars::ContextVar;
    /// use contextvars_tonic::GrpcContextLayer;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    ///
    /// let layer = GrpcContextLayer::new().accept(&TENANT);
    /// # drop(layer);
    /// ```
    #[track_caller]
    pub fn accept<T>(self, var: &'static ContextVar<T>) -> GrpcContextLayer
    where
        T: FromStr + Send + Sync + fmt::Debug + 'static,
    {
        GrpcContextLayer {
            http: self.http.accept(var),
        }
    }
}

impl<S> Layer<S> for GrpcContextLayer {
    type Service = GrpcContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcContextService {
            inner: self.http.layer(CaptureContext { inner }),
        }
    }
}

/// Runs every gRPC call in a context of its own: made by
/// [`GrpcContextLayer`], which describes what it does.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use contextvars_tonic::GrpcContextLayer;
/// use contextvars_tower::REQUEST_ID;
/// use http_body_util::BodyExt;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = GrpcContextLayer::new().layer(service_fn(|_req: http::Request<()>| async {
///     let body = http_body_util::Full::new(bytes::Bytes::from(REQUEST_ID.get().to_string()));
///     Ok::<_, Infallible>(http::Response::new(body))
/// }));
/// let req = http::Request::builder().header("x-request-id", "call-1").body(()).unwrap();
/// let res = svc.oneshot(req).await.unwrap();
/// assert_eq!(res.headers()["x-request-id"], "call-1");
/// assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "call-1");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct GrpcContextService<S> {
    inner: RequestContextService<CaptureContext<S>>,
}

impl<S> GrpcContextService<S> {
    /// Wraps `inner` with the default settings of [`GrpcContextLayer::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextService;
    ///
    /// assert_eq!(*GrpcContextService::new(5).get_ref(), 5);
    /// ```
    pub fn new(inner: S) -> GrpcContextService<S> {
        GrpcContextLayer::new().layer(inner)
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextService;
    ///
    /// assert_eq!(*GrpcContextService::new(5).get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner.get_ref().inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextService;
    ///
    /// let mut svc = GrpcContextService::new(5);
    /// *svc.get_mut() = 6;
    /// assert_eq!(*svc.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.get_mut().inner
    }

    /// Unwraps the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::GrpcContextService;
    ///
    /// assert_eq!(GrpcContextService::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner.into_inner().inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcContextService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ContextBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, task_cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(task_cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
        }
    }
}

/// The service inside the request-context service: its response future is
/// polled in the call's context, and gives the body a copy of it.
#[derive(Clone, Debug)]
struct CaptureContext<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CaptureContext<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ContextBody<ResBody>>;
    type Error = S::Error;
    type Future = CaptureFuture<S::Future>;

    fn poll_ready(&mut self, task_cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(task_cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        CaptureFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    struct CaptureFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for CaptureFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ContextBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.project().inner.poll(task_cx))?;
        // Polled inside the call's context: this copies it, with what the
        // method set.
        let ctx = contextvars::copy_context();
        Poll::Ready(Ok(response.map(|body| ContextBody::new(body, ctx))))
    }
}

pin_project! {
    /// The response future of [`GrpcContextService`]: the method's future
    /// polled in the call's context, the request id echoed, the body
    /// wrapped in a [`ContextBody`].
    ///
    /// # Panics
    ///
    /// Polling after completion panics, as for the inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tonic::{GrpcContextService, ResponseFuture};
    /// use tower::{service_fn, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = GrpcContextService::new(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// let future: ResponseFuture<_> = svc.call(http::Request::new(()));
    /// assert!(future.await.unwrap().headers().contains_key("x-request-id"));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: contextvars_tower::ResponseFuture<CaptureFuture<F>>,
    }
}

impl<F> ResponseFuture<F> {
    /// The call's context, with the changes the call made so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tonic::GrpcContextService;
    /// use contextvars_tower::REQUEST_ID;
    /// use tower::{service_fn, Service};
    ///
    /// let mut svc = GrpcContextService::new(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// let req = http::Request::builder().header("x-request-id", "c-1").body(()).unwrap();
    /// let future = svc.call(req);
    /// assert_eq!(future.context().get(&REQUEST_ID).unwrap().as_str(), "c-1");
    /// ```
    pub fn context(&self) -> &Context {
        self.inner.context()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ContextBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(task_cx)
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("context", self.context())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A response body polled in a context: every
    /// [`poll_frame`](Body::poll_frame) runs in it (with
    /// [`Context::run_mut`], so values set while polling stay for the next
    /// poll), and the body is dropped in it too, so the destructors of a
    /// stream cut short (a client that cancels the call) see its values.
    /// [`GrpcContextService`] gives each call's body a copy of the call's
    /// context, so the stream of a server-streaming method runs in it.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    /// use contextvars_tonic::ContextBody;
    /// use http_body_util::BodyExt;
    ///
    /// static NAME: ContextVar<String> = ContextVar::new("name");
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut ctx = Context::new();
    /// ctx.bind(&NAME, "ada".to_string());
    /// let body = ContextBody::new(http_body_util::Full::new(bytes::Bytes::from("x")), ctx);
    /// assert_eq!(body.context().get(&NAME).as_deref().map(String::as_str), Some("ada"));
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "x");
    /// # }
    /// ```
    #[derive(Debug)]
    pub struct ContextBody<B> {
        // `None` only once taken by `into_inner`.
        #[pin]
        body: Option<B>,
        ctx: Context,
    }

    impl<B> PinnedDrop for ContextBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut body = this.body;
            if body.is_some() && std::mem::needs_drop::<B>() {
                // If the context cannot be entered (thread shutdown), the
                // body is dropped in the current one rather than panicking
                // in `drop`.
                let _ = this.ctx.try_run(|| body.set(None));
            }
        }
    }
}

impl<B> ContextBody<B> {
    /// `body`, polled in `ctx`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::ContextBody;
    ///
    /// let body = ContextBody::new(String::from("x"), contextvars::copy_context());
    /// assert_eq!(body.into_inner(), "x");
    /// ```
    pub fn new(body: B, ctx: Context) -> ContextBody<B> {
        ContextBody {
            body: Some(body),
            ctx,
        }
    }

    /// The context the body is polled in.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tonic::ContextBody;
    ///
    /// assert!(ContextBody::new((), Context::new()).context().is_empty());
    /// ```
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The body, out of its context.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tonic::ContextBody;
    ///
    /// assert_eq!(ContextBody::new(7, Context::new()).into_inner(), 7);
    /// ```
    pub fn into_inner(mut self) -> B {
        self.body
            .take()
            .expect("`ContextBody` holds its body until `into_inner`")
    }
}

impl<B: Body> Body for ContextBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        task_cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.body.as_pin_mut() {
            Some(body) => this.ctx.run_mut(|| body.poll_frame(task_cx)),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
