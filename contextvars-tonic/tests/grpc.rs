//! A real tonic server and client on 127.0.0.1: the server behind
//! `GrpcContextLayer`, the client with `PropagateInterceptor`. Unary,
//! server-streaming and client-streaming calls, many at once on one HTTP/2
//! connection, and hostile metadata.
//!
//! The messages are prost messages declared by hand and the service glue
//! is written out (what `tonic-build` would generate), so no `protoc` is
//! needed.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use contextvars::{Context, ContextVar, FutureExt};
use contextvars_tonic::{GrpcContextLayer, PropagateInterceptor};
use contextvars_tower::w3c::Baggage;
use contextvars_tower::{
    IncomingField, PropagateLayer, RejectReason, RequestContextLayer, RequestId, TraceContext,
    TrustPolicy, BAGGAGE, REQUEST_ID, TRACE,
};
use http::uri::PathAndQuery;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;
use tower::service_fn;

// === messages ===

/// What the client asks: `count` messages back (server streaming), a text
/// to echo, and whether to fail.
#[derive(Clone, PartialEq, prost::Message)]
struct Ask {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(uint32, tag = "2")]
    count: u32,
    #[prost(bool, tag = "3")]
    fail: bool,
}

/// What the server saw, read from the context when the message was made.
#[derive(Clone, PartialEq, prost::Message)]
struct Seen {
    #[prost(string, tag = "1")]
    request_id: String,
    #[prost(string, tag = "2")]
    trace_id: String,
    #[prost(string, tag = "3")]
    parent_span_id: String,
    #[prost(string, tag = "4")]
    trace_state: String,
    #[prost(string, tag = "5")]
    baggage: String,
    #[prost(string, tag = "6")]
    scratch: String,
    #[prost(string, tag = "7")]
    text: String,
    #[prost(uint32, tag = "8")]
    index: u32,
    /// The typed, propagated `REGION` (empty if unset).
    #[prost(string, tag = "9")]
    region: String,
    /// The typed, propagated `WEIGHT` (`-` if unset).
    #[prost(string, tag = "10")]
    weight: String,
}

/// Set by the methods, to check that sets stay in their call and reach the
/// response stream.
static SCRATCH: ContextVar<String> = ContextVar::new("scratch");

/// Typed variables that travel from client to server, when accepted.
static REGION: ContextVar<String> = ContextVar::builder("region").propagate().build();
static WEIGHT: ContextVar<u32> = ContextVar::builder("weight").propagate().build();

fn seen(text: String, index: u32) -> Seen {
    let trace = TRACE.get();
    Seen {
        request_id: REQUEST_ID.get().to_string(),
        trace_id: trace.trace_id().to_string(),
        parent_span_id: trace
            .parent_span_id()
            .map_or_else(String::new, |id| id.to_string()),
        trace_state: trace.trace_state().to_string(),
        baggage: BAGGAGE.get().to_string(),
        scratch: SCRATCH.get_opt().unwrap_or_default(),
        text,
        index,
        region: REGION.get_opt().unwrap_or_default(),
        weight: WEIGHT
            .get_opt()
            .map_or_else(|| "-".to_owned(), |w| w.to_string()),
    }
}

// === the server ===

/// The methods of `test.Probe`.
async fn unary(request: Request<Ask>) -> Result<Response<Seen>, Status> {
    let ask = request.into_inner();
    SCRATCH.set(format!("unary {}", ask.text));
    tokio::time::sleep(Duration::from_millis(u64::from(ask.count % 5))).await;
    // Spawned work with a copy of the context sees the call's values.
    let in_task = contextvars_tokio::spawn(async { REQUEST_ID.get() })
        .await
        .unwrap();
    assert_eq!(in_task, REQUEST_ID.get());
    if ask.fail {
        return Err(Status::failed_precondition(format!(
            "failed {}",
            REQUEST_ID.get()
        )));
    }
    Ok(Response::new(seen(ask.text, 0)))
}

type SeenStream = Pin<Box<dyn Stream<Item = Result<Seen, Status>> + Send>>;

async fn server_stream(request: Request<Ask>) -> Result<Response<SeenStream>, Status> {
    let ask = request.into_inner();
    SCRATCH.set(format!("stream {}", ask.text));
    let stream: SeenStream = Box::pin(Messages {
        text: ask.text,
        next: 0,
        count: ask.count,
        pause: None,
    });
    Ok(Response::new(stream))
}

async fn client_stream(request: Request<Streaming<Ask>>) -> Result<Response<Seen>, Status> {
    let mut asks = request.into_inner();
    let mut texts = Vec::new();
    while let Some(ask) = asks.message().await? {
        // Every message of the request stream is read in the call's context.
        texts.push(format!("{}@{}", ask.text, REQUEST_ID.get()));
    }
    SCRATCH.set("client stream".to_owned());
    Ok(Response::new(seen(texts.join(","), 0)))
}

/// A response stream that reads the context at every message, after a
/// pause that lets other calls run: it is polled by tonic while sending the
/// response, after `server_stream` has returned.
struct Messages {
    text: String,
    next: u32,
    count: u32,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for Messages {
    type Item = Result<Seen, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        task_cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Self::Item>> {
        if self.next == self.count {
            return Poll::Ready(None);
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(1))));
        std::task::ready!(pause.as_mut().poll(task_cx));
        self.pause = None;
        let index = self.next;
        self.next += 1;
        Poll::Ready(Some(Ok(seen(self.text.clone(), index))))
    }
}

/// The request ids seen by the destructors of `Endless` streams.
static DROPPED_IN: std::sync::Mutex<Vec<Option<String>>> = std::sync::Mutex::new(Vec::new());

/// A response stream that sends one message, then waits forever: ended only
/// by the client cancelling the call. Its destructor records the request id
/// it sees.
struct Endless {
    sent: bool,
}

impl Stream for Endless {
    type Item = Result<Seen, Status>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        Poll::Ready(Some(Ok(seen("first".to_owned(), 0))))
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        let id = REQUEST_ID.get_opt().map(|id| id.to_string());
        DROPPED_IN.lock().unwrap().push(id);
    }
}

async fn endless(_request: Request<Ask>) -> Result<Response<SeenStream>, Status> {
    let stream: SeenStream = Box::pin(Endless { sent: false });
    Ok(Response::new(stream))
}

/// `test.Probe` as tonic-build would generate it: a service that routes by
/// path to the methods above.
#[derive(Clone, Debug)]
struct Probe;

impl NamedService for Probe {
    const NAME: &'static str = "test.Probe";
}

impl tower::Service<http::Request<Body>> for Probe {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Seen, Ask>::default());
            Ok(match req.uri().path() {
                "/test.Probe/Unary" => grpc.unary(service_fn(unary), req).await,
                "/test.Probe/ServerStream" => {
                    grpc.server_streaming(service_fn(server_stream), req).await
                }
                "/test.Probe/Endless" => grpc.server_streaming(service_fn(endless), req).await,
                "/test.Probe/ClientStream" => {
                    grpc.client_streaming(service_fn(client_stream), req).await
                }
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

async fn start(layer: GrpcContextLayer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(layer)
        .add_service(Probe)
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(async move { server.await.unwrap() });
    addr
}

// === the client ===

struct ProbeClient<T> {
    grpc: tonic::client::Grpc<T>,
}

impl<T> ProbeClient<T>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.into().to_string()))
    }

    async fn unary(&mut self, request: Request<Ask>) -> Result<Response<Seen>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/test.Probe/Unary");
        self.grpc
            .unary(request, path, ProstCodec::<Ask, Seen>::default())
            .await
    }

    async fn server_stream(
        &mut self,
        request: Request<Ask>,
    ) -> Result<Response<Streaming<Seen>>, Status> {
        self.server_stream_at("/test.Probe/ServerStream", request)
            .await
    }

    async fn server_stream_at(
        &mut self,
        path: &'static str,
        request: Request<Ask>,
    ) -> Result<Response<Streaming<Seen>>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static(path);
        self.grpc
            .server_streaming(request, path, ProstCodec::<Ask, Seen>::default())
            .await
    }

    async fn client_stream(
        &mut self,
        asks: Vec<Ask>,
        metadata: &[(&'static str, &str)],
    ) -> Result<Response<Seen>, Status> {
        self.ready().await?;
        let mut request = Request::new(tokio_stream::iter(asks));
        for (key, value) in metadata {
            request
                .metadata_mut()
                .insert(*key, MetadataValue::try_from(*value).unwrap());
        }
        let path = PathAndQuery::from_static("/test.Probe/ClientStream");
        self.grpc
            .client_streaming(request, path, ProstCodec::<Ask, Seen>::default())
            .await
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

type Propagating = ProbeClient<InterceptedService<Channel, PropagateInterceptor>>;

fn propagating(channel: Channel) -> Propagating {
    let interceptor =
        PropagateInterceptor::with_settings(PropagateLayer::new().forward_baggage(["tenant"]));
    ProbeClient {
        grpc: tonic::client::Grpc::new(InterceptedService::new(channel, interceptor)),
    }
}

fn plain(channel: Channel) -> ProbeClient<Channel> {
    ProbeClient {
        grpc: tonic::client::Grpc::new(channel),
    }
}

fn ask(text: &str, count: u32) -> Ask {
    Ask {
        text: text.to_owned(),
        count,
        fail: false,
    }
}

/// The context of a request being served by the caller.
fn caller_context(request_id: &str, tenant: &str) -> (Context, TraceContext) {
    let trace = TraceContext::new_root();
    let mut ctx = Context::new();
    ctx.bind(&REQUEST_ID, RequestId::new(request_id).unwrap());
    ctx.bind(&TRACE, trace.clone());
    ctx.bind(
        &BAGGAGE,
        format!("tenant={tenant},secret=s")
            .parse::<Baggage>()
            .unwrap(),
    );
    (ctx, trace)
}

fn is_new_request_id(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[14] == b'7'
}

// === tests ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_call_runs_in_a_context_made_from_its_metadata() {
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = propagating(channel(addr).await);
    let (ctx, caller) = caller_context("req-1", "acme");
    let response = async { client.unary(Request::new(ask("hello", 0))).await }
        .with_context(ctx)
        .await
        .unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "req-1");
    let seen = response.into_inner();
    assert_eq!(seen.request_id, "req-1");
    assert_eq!(seen.trace_id, caller.trace_id().to_string());
    // The server's hop is a child of the call's span, itself a new child of
    // the caller's span.
    assert!(!seen.parent_span_id.is_empty());
    assert_ne!(seen.parent_span_id, caller.span_id().to_string());
    assert_eq!(seen.baggage, "tenant=acme", "only the allowed member");
    assert_eq!(seen.scratch, "unary hello");
    assert_eq!(seen.text, "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stream_is_polled_in_the_call_context() {
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = propagating(channel(addr).await);
    let (ctx, caller) = caller_context("req-stream", "acme");
    let response = async { client.server_stream(Request::new(ask("s", 5))).await }
        .with_context(ctx)
        .await
        .unwrap();
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "req-stream"
    );
    let messages: Vec<Seen> = response.into_inner().map(Result::unwrap).collect().await;
    assert_eq!(messages.len(), 5);
    for (i, seen) in messages.iter().enumerate() {
        assert_eq!(seen.index, i as u32);
        assert_eq!(seen.request_id, "req-stream");
        assert_eq!(seen.trace_id, caller.trace_id().to_string());
        assert_eq!(seen.baggage, "tenant=acme");
        // Set by the method before it returned the stream.
        assert_eq!(seen.scratch, "stream s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_short_is_dropped_in_the_call_context() {
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = plain(channel(addr).await);
    let mut request = Request::new(ask("e", 0));
    request
        .metadata_mut()
        .insert("x-request-id", "req-cancel".parse().unwrap());
    let mut messages = client
        .server_stream_at("/test.Probe/Endless", request)
        .await
        .unwrap()
        .into_inner();
    let first = messages.message().await.unwrap().unwrap();
    assert_eq!(first.request_id, "req-cancel");
    // The client cancels the call: the server drops the response body, and
    // the stream in it.
    drop(messages);
    let dropped = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(id) = DROPPED_IN.lock().unwrap().pop() {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stream was never dropped");
    assert_eq!(dropped.as_deref(), Some("req-cancel"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_stream_is_read_in_the_call_context() {
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = plain(channel(addr).await);
    let response = client
        .client_stream(
            vec![ask("a", 0), ask("b", 0), ask("c", 0)],
            &[("x-request-id", "req-cs")],
        )
        .await
        .unwrap();
    assert_eq!(response.metadata().get("x-request-id").unwrap(), "req-cs");
    let seen = response.into_inner();
    assert_eq!(seen.text, "a@req-cs,b@req-cs,c@req-cs");
    assert_eq!(seen.request_id, "req-cs");
    assert_eq!(seen.scratch, "client stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_carries_the_request_id_in_its_status() {
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = plain(channel(addr).await);
    let mut request = Request::new(Ask {
        fail: true,
        ..ask("x", 0)
    });
    request
        .metadata_mut()
        .insert("x-request-id", "req-fail".parse().unwrap());
    let status = client.unary(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(status.message(), "failed req-fail");
    assert_eq!(status.metadata().get("x-request-id").unwrap(), "req-fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_on_one_connection_never_cross() {
    const CALLS: usize = 200;
    let addr = start(GrpcContextLayer::new()).await;
    // One channel, one HTTP/2 connection: every call a stream on it.
    let channel = channel(addr).await;
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let mut client = propagating(channel.clone());
        let (ctx, caller) = caller_context(&format!("req-{i}"), &format!("t{i}"));
        calls.push(tokio::spawn(
            async move {
                let text = format!("m{i}");
                let messages = if i % 2 == 0 {
                    let response = client
                        .unary(Request::new(ask(&text, i as u32)))
                        .await
                        .unwrap();
                    vec![response.into_inner()]
                } else {
                    let response = client
                        .server_stream(Request::new(ask(&text, 3)))
                        .await
                        .unwrap();
                    response
                        .into_inner()
                        .map(Result::unwrap)
                        .collect::<Vec<_>>()
                        .await
                };
                // The caller's context is its own after the call too.
                assert_eq!(REQUEST_ID.get().as_str(), format!("req-{i}"));
                (i, caller, messages)
            }
            .with_context(ctx),
        ));
    }
    let mut checked = 0;
    for call in calls {
        let (i, caller, messages) = call.await.unwrap();
        assert_eq!(messages.len(), if i % 2 == 0 { 1 } else { 3 });
        for seen in messages {
            assert_eq!(seen.request_id, format!("req-{i}"));
            assert_eq!(seen.trace_id, caller.trace_id().to_string());
            assert_eq!(seen.baggage, format!("tenant=t{i}"));
            assert_eq!(seen.text, format!("m{i}"));
            let kind = if i % 2 == 0 { "unary" } else { "stream" };
            assert_eq!(seen.scratch, format!("{kind} m{i}"));
            checked += 1;
        }
    }
    assert_eq!(checked, CALLS / 2 + CALLS / 2 * 3);
}

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// A unary call with this metadata (ASCII entries, then binary ones).
async fn call_with(addr: SocketAddr, ascii: &[(&str, &[u8])], binary: &[(&str, &[u8])]) -> Seen {
    let mut client = plain(channel(addr).await);
    let mut request = Request::new(ask("h", 0));
    for (key, value) in ascii {
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(key.as_bytes()).unwrap();
        let value = MetadataValue::try_from(*value).unwrap();
        request.metadata_mut().append(key, value);
    }
    for (key, value) in binary {
        let key = tonic::metadata::BinaryMetadataKey::from_bytes(key.as_bytes()).unwrap();
        request
            .metadata_mut()
            .append_bin(key, MetadataValue::from_bytes(value));
    }
    client.unary(request).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_metadata_is_validated_as_http_headers_are() {
    let addr = start(GrpcContextLayer::new()).await;

    // Valid: continued.
    let seen = call_with(
        addr,
        &[
            ("traceparent", TP.as_bytes()),
            ("tracestate", b"foo@=1,foo@=2"),
        ],
        &[],
    )
    .await;
    assert_eq!(seen.trace_id, TRACE_ID);
    assert_eq!(seen.parent_span_id, "b7ad6b7169203331");
    assert_eq!(seen.trace_state, "foo@=1");
    assert_eq!(seen.request_id, TRACE_ID, "no request id: the trace id");

    // An invalid traceparent: a new trace, and tracestate not read.
    let seen = call_with(
        addr,
        &[("traceparent", b"00-zz"), ("tracestate", b"a=1")],
        &[],
    )
    .await;
    assert_ne!(seen.trace_id, TRACE_ID);
    assert!(seen.parent_span_id.is_empty());
    assert!(seen.trace_state.is_empty());
    assert!(is_new_request_id(&seen.request_id), "{}", seen.request_id);

    // Invalid request ids are replaced.
    let too_long = "r".repeat(129);
    for bad in [too_long.as_bytes(), b"a b", b"caf\xc3\xa9"] {
        let seen = call_with(
            addr,
            &[("x-request-id", bad), ("traceparent", TP.as_bytes())],
            &[],
        )
        .await;
        assert_eq!(seen.request_id, TRACE_ID, "{bad:?}");
    }
    // Two request ids: neither is trusted.
    let seen = call_with(addr, &[("x-request-id", b"a"), ("x-request-id", b"b")], &[]).await;
    assert!(is_new_request_id(&seen.request_id));

    // Binary entries are never read, whatever their name or bytes.
    let seen = call_with(
        addr,
        &[],
        &[
            ("x-request-id-bin", b"req-bin"),
            ("traceparent-bin", &[0, 0x0a, 0xff, 0x0d]),
            ("baggage-bin", b"tenant=evil"),
        ],
    )
    .await;
    assert!(is_new_request_id(&seen.request_id));
    assert!(seen.parent_span_id.is_empty());
    assert!(seen.baggage.is_empty());

    // Baggage: invalid members dropped, the limits applied.
    let many: String = (0..100).map(|i| format!("k{i}=v,")).collect();
    let seen = call_with(
        addr,
        &[
            ("baggage", b"a=1,bad member,b=2"),
            ("baggage", many.as_bytes()),
        ],
        &[],
    )
    .await;
    let baggage: Baggage = seen.baggage.parse().unwrap();
    assert_eq!(baggage.len(), 64);
    assert_eq!(baggage.get("a"), Some("1"));
    assert_eq!(baggage.get("k61"), Some("v"));
    assert_eq!(baggage.get("k62"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_metadata_is_not_read() {
    let layer = GrpcContextLayer::with_settings(RequestContextLayer::new().max_header_bytes(4096));
    let addr = start(layer).await;
    let padding = vec![b'p'; 5000];
    let seen = call_with(
        addr,
        &[
            ("x-request-id", b"req-big"),
            ("traceparent", TP.as_bytes()),
            ("x-padding", &padding),
        ],
        &[],
    )
    .await;
    assert!(is_new_request_id(&seen.request_id), "{}", seen.request_id);
    assert_ne!(seen.trace_id, TRACE_ID);
    // Binary entries count towards the size.
    let seen = call_with(
        addr,
        &[("x-request-id", b"req-big")],
        &[("x-padding-bin", &padding)],
    )
    .await;
    assert!(is_new_request_id(&seen.request_id));
    // Under the limit: read.
    let seen = call_with(
        addr,
        &[
            ("x-request-id", b"req-small"),
            ("x-padding", &padding[..3000]),
        ],
        &[],
    )
    .await;
    assert_eq!(seen.request_id, "req-small");
}

// === typed variables that travel ===

fn typed_layer(drops: Option<std::sync::Arc<std::sync::Mutex<Vec<String>>>>) -> GrpcContextLayer {
    let mut layer = RequestContextLayer::new().accept(&REGION).accept(&WEIGHT);
    if let Some(drops) = drops {
        layer = layer.on_reject(move |r| {
            if let contextvars_tower::IncomingField::Variable(_) = r.field() {
                drops.lock().unwrap().push(r.to_string());
            }
        });
    }
    GrpcContextLayer::with_settings(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_variables_cross_unary_and_streaming_calls() {
    let addr = start(GrpcContextLayer::new().accept(&REGION).accept(&WEIGHT)).await;
    let mut client = propagating(channel(addr).await);
    let (unary, stream) = async {
        REGION.set("eu west/1=a,b;c".to_owned());
        WEIGHT.set(5);
        let unary = client.unary(Request::new(ask("u", 0))).await.unwrap();
        let stream = client
            .server_stream(Request::new(ask("s", 3)))
            .await
            .unwrap();
        let stream: Vec<Seen> = stream.into_inner().map(Result::unwrap).collect().await;
        (unary.into_inner(), stream)
    }
    .with_context(Context::new())
    .await;
    assert_eq!(unary.region, "eu west/1=a,b;c");
    assert_eq!(unary.weight, "5");
    // Sent as baggage members, next to the plain ones.
    assert_eq!(unary.baggage, "region=eu%20west/1%3Da%2Cb%3Bc,weight=5");
    assert_eq!(stream.len(), 3);
    for seen in stream {
        assert_eq!(seen.region, "eu west/1=a,b;c");
        assert_eq!(seen.weight, "5");
    }
    // Not accepted: the variables stay unset, the members plain baggage.
    let addr = start(GrpcContextLayer::new()).await;
    let mut client = propagating(channel(addr).await);
    let seen = async {
        REGION.set("eu".to_owned());
        client
            .unary(Request::new(ask("u", 0)))
            .await
            .unwrap()
            .into_inner()
    }
    .with_context(Context::new())
    .await;
    assert_eq!(
        (seen.region.as_str(), seen.baggage.as_str()),
        ("", "region=eu")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_each_read_their_own_typed_values() {
    const CALLS: u32 = 200;
    let addr = start(typed_layer(None)).await;
    let channel = channel(addr).await;
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let mut client = propagating(channel.clone());
        calls.push(contextvars_tokio::spawn(
            async move {
                REGION.set(format!("region {i}"));
                WEIGHT.set(i);
                let messages = if i % 2 == 0 {
                    vec![client
                        .unary(Request::new(ask("u", i)))
                        .await
                        .unwrap()
                        .into_inner()]
                } else {
                    let response = client
                        .server_stream(Request::new(ask("s", 2)))
                        .await
                        .unwrap();
                    response
                        .into_inner()
                        .map(Result::unwrap)
                        .collect::<Vec<_>>()
                        .await
                };
                (i, messages)
            }
            .with_context(Context::new()),
        ));
    }
    let mut checked = 0;
    for call in calls {
        let (i, messages) = call.await.unwrap();
        for seen in messages {
            assert_eq!(seen.region, format!("region {i}"), "cross-talk");
            assert_eq!(seen.weight, i.to_string(), "cross-talk");
            checked += 1;
        }
    }
    assert_eq!(checked, CALLS / 2 + CALLS / 2 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_typed_values_in_metadata_set_nothing() {
    let drops = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let addr = start(typed_layer(Some(drops.clone()))).await;
    let long = format!("region={}", "r".repeat(257));
    let cases: [(&str, &str, &str, &str); 6] = [
        (
            "weight=-1,region=ok",
            "ok",
            "-",
            "incoming context variable `weight` rejected: the value does not parse",
        ),
        (
            "weight=99999999999",
            "",
            "-",
            "incoming context variable `weight` rejected: the value does not parse",
        ),
        (
            &long,
            "",
            "-",
            "incoming context variable `region` rejected: the value is too long",
        ),
        (
            "region=a,weight=1,region=b",
            "",
            "1",
            "incoming context variable `region` rejected: the name appears more than once",
        ),
        // Python's OpenTelemetry SDK: `quote_plus` encoding, a property
        // added upstream.
        ("region=eu%2Fwest%3D1;ttl=60,weight=7", "eu/west=1", "7", ""),
        // Not accepted here: plain baggage only.
        ("scratch=injected,request_id=r", "", "-", ""),
    ];
    for (baggage, region, weight, dropped) in cases {
        drops.lock().unwrap().clear();
        let seen = call_with(addr, &[("baggage", baggage.as_bytes())], &[]).await;
        assert_eq!(seen.region, region, "{baggage}");
        assert_eq!(seen.weight, weight, "{baggage}");
        assert_eq!(seen.scratch, "unary h", "{baggage}");
        let got = drops.lock().unwrap().join("; ");
        assert_eq!(got, dropped, "{baggage}");
    }
}

/// The peer address tonic's server puts into every request.
fn tonic_peer(extensions: &http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<tonic::transport::server::TcpConnectInfo>()?
        .remote_addr()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_policy_applies_to_metadata() {
    // The client connects from 127.0.0.1: trusted when that is a trusted
    // peer.
    let trusting = GrpcContextLayer::with_settings(RequestContextLayer::new().trust_incoming_ids(
        TrustPolicy::peers(["127.0.0.1".parse().unwrap()]).peer_addr_from(tonic_peer),
    ));
    let addr = start(trusting).await;
    let seen = call_with(addr, &[("x-request-id", b"via-lb")], &[]).await;
    assert_eq!(seen.request_id, "via-lb");

    // Not a trusted peer: a new id, from the layer's generator; the trace
    // continues, and the hook is told why the id was not taken.
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let sink = rejected.clone();
    let untrusting = GrpcContextLayer::with_settings(
        RequestContextLayer::new()
            .trust_incoming_ids(
                TrustPolicy::peers(["192.0.2.0/24".parse().unwrap()]).peer_addr_from(tonic_peer),
            )
            .make_request_id(|| RequestId::new("grpc-new").unwrap())
            .on_reject(move |rejection| sink.lock().unwrap().push(*rejection)),
    );
    let addr = start(untrusting).await;
    let seen = call_with(
        addr,
        &[("x-request-id", b"spoofed"), ("traceparent", TP.as_bytes())],
        &[],
    )
    .await;
    assert_eq!(seen.request_id, "grpc-new");
    assert_eq!(seen.trace_id, TRACE_ID);
    let rejected = rejected.lock().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].field(), IncomingField::RequestId);
    assert_eq!(rejected[0].reason(), RejectReason::Untrusted);
}
