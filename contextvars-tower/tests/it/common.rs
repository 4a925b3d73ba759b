//! Servers and clients on 127.0.0.1 shared by the integration tests.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use contextvars::ContextVar;
use contextvars_tower::{
    PropagateLayer, PropagateService, RequestContextLayer, RequestId, BAGGAGE, REQUEST_ID, TRACE,
};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use tower::{ServiceBuilder, ServiceExt};

/// How long any single test may run before it is considered hung. Only a
/// guard against deadlocks: no test asserts on time.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(60);

/// A variable that handlers set, to check that sets stay in their request.
pub(crate) static SCRATCH: ContextVar<String> = ContextVar::new("scratch");
/// Exported as the `tenant` baggage member by the frontend's client.
pub(crate) static TENANT: ContextVar<String> = ContextVar::new("tenant");

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;
pub(crate) type PropagatingClient = PropagateService<HttpClient>;

/// Serves `app` on 127.0.0.1 with a plain `tokio::spawn`, as production
/// servers do.
pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Binds 127.0.0.1 and runs the server that `start` makes of the listener in
/// a plain `tokio::spawn`: for servers other than `axum::serve(listener, router)`.
pub(crate) async fn spawn_server<F, Fut>(start: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = start(listener);
    tokio::spawn(async move { server.await.unwrap() });
    addr
}

/// Serves any service of axum requests, as `axum::serve` serves a `Router`.
pub(crate) async fn serve_app<S>(app: S) -> SocketAddr
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let make_service = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    spawn_server(|listener| axum::serve(listener, make_service).into_future()).await
}

pub(crate) fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub(crate) fn propagating_client() -> PropagatingClient {
    ServiceBuilder::new()
        .layer(
            PropagateLayer::new()
                .forward_baggage(["user"])
                .export_var("tenant", &TENANT),
        )
        .service(http_client())
}

/// A response, its body read.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The `key=value` lines of a report body.
    pub(crate) fn fields(&self) -> HashMap<String, String> {
        self.body
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("-", |v| v.to_str().unwrap_or("<opaque>"))
    }
}

pub(crate) async fn send<S>(client: S, request: Request<Full<Bytes>>) -> Reply
where
    S: tower::Service<Request<Full<Bytes>>, Response = http::Response<hyper::body::Incoming>>,
    S::Error: std::fmt::Debug,
{
    let response = client.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

pub(crate) fn get_request(url: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::default()).unwrap()
}

/// Builds a `key=value` report.
#[derive(Default)]
pub(crate) struct Report(String);

impl Report {
    pub(crate) fn add(&mut self, key: impl Display, value: impl Display) {
        self.0.push_str(&format!("{key}={value}\n"));
    }

    pub(crate) fn finish(self) -> String {
        self.0
    }
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<_> = headers.get_all(name).iter().collect();
    match values.as_slice() {
        [] => "-".to_owned(),
        [one] => one.to_str().unwrap_or("<opaque>").to_owned(),
        _ => "<several>".to_owned(),
    }
}

/// Adds what the handler sees of its request to `out`.
pub(crate) fn report_request(out: &mut Report, headers: &HeaderMap, ext_id: &RequestId) {
    let trace = TRACE.get();
    out.add("request_id", REQUEST_ID.get());
    out.add("ext_request_id", ext_id);
    out.add("header_request_id", header_str(headers, "x-request-id"));
    out.add("trace_id", trace.trace_id());
    out.add("span_id", trace.span_id());
    out.add(
        "parent_span_id",
        trace
            .parent_span_id()
            .map_or("-".to_owned(), |p| p.to_string()),
    );
    out.add("flags", trace.flags());
    out.add("tracestate", trace.trace_state());
    let baggage = BAGGAGE.get();
    out.add("baggage", &baggage);
    out.add("baggage_len", baggage.len());
    out.add(
        "scratch_before",
        SCRATCH.get_opt().as_deref().unwrap_or("-"),
    );
}

// === The backend: reports what it received ===

async fn echo(headers: HeaderMap, Extension(ext_id): Extension<RequestId>) -> String {
    let mut out = Report::default();
    report_request(&mut out, &headers, &ext_id);
    for name in ["x-request-id", "traceparent", "tracestate", "baggage"] {
        out.add(format!("received.{name}"), header_str(&headers, name));
    }
    out.finish()
}

pub(crate) async fn start_backend() -> SocketAddr {
    serve(
        Router::new()
            .route("/echo", get(echo))
            .layer(RequestContextLayer::new()),
    )
    .await
}

// === The frontend: a handler that looks everywhere, and calls the backend ===

#[derive(Clone)]
pub(crate) struct Frontend {
    pub(crate) client: PropagatingClient,
    pub(crate) backend: SocketAddr,
    /// If set, every request waits here until this many requests are in
    /// their handler at once.
    pub(crate) barrier: Option<Arc<Barrier>>,
}

async fn call_backend(client: PropagatingClient, backend: SocketAddr) -> Reply {
    send(client, get_request(&format!("http://{backend}/echo"), &[])).await
}

async fn work(
    State(app): State<Frontend>,
    headers: HeaderMap,
    Extension(ext_id): Extension<RequestId>,
) -> String {
    let mut out = Report::default();
    report_request(&mut out, &headers, &ext_id);
    let id = REQUEST_ID.get();
    // Allowed: the request has a context of its own.
    SCRATCH.set(id.to_string());
    TENANT.set(format!("tenant-{id}"));
    if let Some(barrier) = &app.barrier {
        barrier.wait().await;
    }
    tokio::task::yield_now().await;
    out.add("after_await", REQUEST_ID.get());
    out.add("scratch_after_await", SCRATCH.get());

    let (task_id, task_scratch) = contextvars_tokio::spawn(async {
        tokio::task::yield_now().await;
        (REQUEST_ID.get(), SCRATCH.get())
    })
    .await
    .unwrap();
    out.add("task_request_id", task_id);
    out.add("task_scratch", task_scratch);

    let (blocking_id, blocking_trace) =
        contextvars_tokio::spawn_blocking(|| (REQUEST_ID.get(), TRACE.get().trace_id()))
            .await
            .unwrap();
    out.add("blocking_request_id", blocking_id);
    out.add("blocking_trace_id", blocking_trace);

    let calls = [
        call_backend(app.client.clone(), app.backend).await,
        call_backend(app.client.clone(), app.backend).await,
        // From a subtask: it inherits the request's context, so the call does too.
        contextvars_tokio::spawn(call_backend(app.client.clone(), app.backend))
            .await
            .unwrap(),
    ];
    for (i, reply) in calls.iter().enumerate() {
        out.add(format!("backend{i}.status"), reply.status.as_u16());
        for (key, value) in reply.fields() {
            out.add(format!("backend{i}.{key}"), value);
        }
    }
    out.finish()
}

pub(crate) async fn start_frontend(
    backend: SocketAddr,
    barrier: Option<Arc<Barrier>>,
) -> SocketAddr {
    let state = Frontend {
        client: propagating_client(),
        backend,
        barrier,
    };
    serve(
        Router::new()
            .route("/work", get(work))
            .with_state(state)
            .layer(RequestContextLayer::new()),
    )
    .await
}

// === Clients for the hostile-input tests ===

/// Sends raw bytes over a new HTTP/1.1 connection and reads the response
/// until the server closes it.
pub(crate) async fn raw_http1(addr: SocketAddr, head: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_raw_response(&raw)
}

fn parse_raw_response(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            http::HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    Reply {
        status: StatusCode::from_u16(code).unwrap(),
        headers,
        body: String::from_utf8_lossy(&raw[split + 4..]).into_owned(),
    }
}

/// An HTTP/2 (prior knowledge) connection to `addr`.
pub(crate) async fn http2_connection(
    addr: SocketAddr,
) -> hyper::client::conn::http2::SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends `request` on an HTTP/2 connection.
pub(crate) async fn send_http2(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Reply {
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

// === Clients over each transport, for the isolation tests ===

/// How a client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTP/1.1, a new connection for every request.
    Http1Fresh,
    /// HTTP/1.1, requests one after another on a kept-alive connection (a
    /// new one only after the server dropped it).
    Http1KeepAlive,
    /// HTTP/2 (prior knowledge), requests multiplexed on one connection.
    Http2,
}

impl Transport {
    pub(crate) const ALL: [Transport; 3] = [
        Transport::Http1Fresh,
        Transport::Http1KeepAlive,
        Transport::Http2,
    ];
}

type Http1Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
type Http2Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// A client connection over one [`Transport`], reconnecting after the
/// server dropped it.
pub(crate) struct Conn {
    addr: SocketAddr,
    transport: Transport,
    http1: Option<Http1Sender>,
    http2: Option<Http2Sender>,
    /// Connections this client opened so far.
    pub(crate) opened: usize,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr, transport: Transport) -> Conn {
        Conn {
            addr,
            transport,
            http1: None,
            http2: None,
            opened: 0,
        }
    }

    /// Another client on the same HTTP/2 connection (if there is one yet);
    /// a client of its own for HTTP/1.1.
    pub(crate) fn share(&self) -> Conn {
        Conn {
            http2: self.http2.clone(),
            ..Conn::new(self.addr, self.transport)
        }
    }

    async fn http1(&mut self) -> Result<Http1Sender, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        self.opened += 1;
        Ok(sender)
    }

    /// Sends `request`. `Err` describes an exchange that failed: the server
    /// closed the connection or reset the stream.
    pub(crate) async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let response = match self.transport {
            Transport::Http1Fresh => {
                let mut sender = self.http1().await?;
                sender.send_request(request).await
            }
            Transport::Http1KeepAlive => {
                let mut kept = self.http1.take();
                if let Some(sender) = &mut kept {
                    if sender.ready().await.is_err() {
                        kept = None;
                    }
                }
                let mut sender = match kept {
                    Some(sender) => sender,
                    None => self.http1().await?,
                };
                let response = sender.send_request(request).await;
                if response.is_ok() {
                    self.http1 = Some(sender);
                }
                response
            }
            Transport::Http2 => {
                let mut kept = self.http2.take();
                if let Some(sender) = &mut kept {
                    if sender.ready().await.is_err() {
                        kept = None;
                    }
                }
                let mut sender = match kept {
                    Some(sender) => sender,
                    None => {
                        self.opened += 1;
                        http2_connection(self.addr).await
                    }
                };
                let response = sender.send_request(request).await;
                self.http2 = Some(sender);
                response
            }
        };
        let (parts, body) = response.map_err(|e| e.to_string())?.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        })
    }
}

/// What [`send_all`] got back for each request.
pub(crate) struct Sent {
    /// By request index.
    pub(crate) replies: Vec<Result<Reply, String>>,
    /// Connections the clients opened.
    pub(crate) opened: usize,
}

/// Sends `count` requests (`make(i)` is the `i`th) to `addr` over
/// `transport`, from `clients` clients at once, each sending its share (`i`
/// such that `i % clients` is its number) one after another.
pub(crate) async fn send_all(
    addr: SocketAddr,
    transport: Transport,
    count: usize,
    clients: usize,
    make: impl Fn(usize) -> Request<Full<Bytes>>,
) -> Sent {
    let mut first = Conn::new(addr, transport);
    if transport == Transport::Http2 {
        first.http2 = Some(http2_connection(addr).await);
        first.opened = 1;
    }
    let mut conns = vec![];
    for _ in 1..clients {
        conns.push(first.share());
    }
    conns.insert(0, first);
    let mut workers = tokio::task::JoinSet::new();
    for (number, mut conn) in conns.into_iter().enumerate() {
        let requests: Vec<_> = (number..count)
            .step_by(clients)
            .map(|i| (i, make(i)))
            .collect();
        workers.spawn(async move {
            let mut replies = Vec::new();
            for (i, request) in requests {
                replies.push((i, conn.send(request).await));
            }
            (replies, conn.opened)
        });
    }
    let mut replies: Vec<Option<Result<Reply, String>>> = (0..count).map(|_| None).collect();
    let mut opened = 0;
    let joined = tokio::time::timeout(HANG_GUARD, workers.join_all())
        .await
        .expect("requests hung");
    for (worker_replies, worker_opened) in joined {
        opened += worker_opened;
        for (i, reply) in worker_replies {
            replies[i] = Some(reply);
        }
    }
    Sent {
        replies: replies.into_iter().map(Option::unwrap).collect(),
        opened,
    }
}
