//! The demo service: a frontend and a backend on 127.0.0.1, driven by many
//! concurrent requests over real HTTP, with proof that every request's id and
//! trace id reach every log line, every response and every header the
//! backend received — and never another request's.
//!
//! ```text
//! cargo run --release -p contextvars-demo                      # 2,000 requests, then the checks
//! cargo run --release -p contextvars-demo -- --requests 200 --concurrency 16
//! cargo run --release -p contextvars-demo -- --serve           # keep both services up for curl
//! ```
//!
//! Each order the frontend serves awaits a nested async function, spawns a
//! subtask (`contextvars_tokio::spawn`), runs blocking work
//! (`contextvars_tokio::spawn_blocking`) and calls the backend, logging at
//! every step: over HTTP through a propagating client, or, for one order in
//! three, over gRPC (tonic, behind `contextvars_tonic::GrpcContextLayer`,
//! called with `contextvars_tonic::PropagateInterceptor`). No function takes a
//! request id or a trace id as a parameter: they live in context variables
//! set for each request by `contextvars_tower::serve` (a
//! `RequestContextLayer` outside everything the app does), and every log
//! line gets them from `contextvars_tracing::ContextFormat`.
//!
//! The frontend also sets a typed variable of its own, [`TENANT`], built
//! with `propagate()`: the propagating clients send it in `baggage`, and the
//! backend, which accepts it over HTTP and gRPC alike, reads it back typed
//! and returns it, checked for every order.
//!
//! The last line of a run is `requests=N ok=N cross_talk=0 missing=0` with
//! the real counts; the process exits with a failure status when a count is
//! wrong.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use contextvars::ContextVar;
use contextvars_tower::{PropagateLayer, PropagateService, RequestContextLayer, REQUEST_ID, TRACE};
use contextvars_tracing::{ContextFields, ContextFormat};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tracing::info;

mod grpc;
mod soak;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The steps every order logs, each exactly once (the backend logs the last).
const STEPS: [&str; 6] = [
    "received", "nested", "subtask", "blocking", "done", "backend",
];

/// The tenant an order is placed for: a typed value that travels from the
/// frontend to the backend (`Display` and `FromStr` are its codec).
static TENANT: ContextVar<Tenant> = ContextVar::builder("tenant").propagate().build();

/// A tenant: `shop <n>/<region>`, 1 to 64 bytes of letters, digits, spaces
/// and `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tenant(String);

impl Tenant {
    /// The tenant of an order: one per order, so that a value from another
    /// request shows.
    fn of(order: u64) -> Tenant {
        let region = ["eu", "us", "ap"][(order % 3) as usize];
        Tenant(format!("shop {order}/{region}"))
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Tenant {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Tenant, Self::Err> {
        let valid = |b: u8| b.is_ascii_alphanumeric() || b == b' ' || b == b'/';
        if s.is_empty() || s.len() > 64 || !s.bytes().all(valid) {
            return Err("not a tenant");
        }
        Ok(Tenant(s.to_owned()))
    }
}

/// What the backend accepts from incoming baggage, over HTTP and gRPC.
fn backend_layer() -> RequestContextLayer {
    RequestContextLayer::new().accept(&TENANT)
}

// ===== command line =====

#[derive(Debug)]
struct Options {
    requests: u64,
    concurrency: u64,
    serve: bool,
    port: u16,
    soak: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        requests: 2_000,
        concurrency: 64,
        serve: false,
        port: 8080,
        soak: false,
    };
    let mut requests_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--requests" => {
                options.requests = parse_number(&value("--requests")?)?;
                requests_given = true;
            }
            "--soak" => options.soak = true,
            "--concurrency" => options.concurrency = parse_number(&value("--concurrency")?)?,
            "--port" => {
                options.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port needs a port number".to_string())?
            }
            "--serve" => options.serve = true,
            "-h" | "--help" => {
                return Err(
                    "usage: contextvars-demo [--requests N] [--concurrency C] [--soak] [--serve [--port P]]"
                        .to_string(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if options.soak && !requests_given {
        options.requests = 100_000;
    }
    if options.concurrency == 0 {
        return Err("--concurrency must be at least 1".to_string());
    }
    Ok(options)
}

fn parse_number(text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

// ===== logging =====

/// Every formatted log line, kept for the checks (and echoed in `--serve`).
static LOG: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Mutex::default);
static ECHO_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Clone, Copy, Debug)]
struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if ECHO_LOG.load(Ordering::Relaxed) {
            std::io::stdout().write_all(buf)?;
        }
        let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
        log.extend(text.lines().map(str::to_owned));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

fn init_logging() {
    // The whole point: two context variables on every line, set once per
    // request by the tower layer, read here at each event.
    let fields = ContextFields::new()
        .var(&REQUEST_ID)
        .field("trace_id", &TRACE, |trace, f| {
            write!(f, "{}", trace.trace_id())
        });
    let format = ContextFormat::new(
        fields,
        tracing_subscriber::fmt::format()
            .compact()
            .with_ansi(false)
            .without_time(),
    );
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(|| LogSink)
        .event_format(format)
        .init();
}

// ===== the services =====

#[derive(Clone)]
struct Frontend {
    backend: String,
    client: PropagateService<HttpClient>,
    /// The backend's gRPC endpoint, for the orders sent over gRPC.
    grpc: grpc::BackendClient,
    /// Inject the soak run's faults.
    faults: bool,
}

/// The faults a soak run injects, by order number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// The handler panics after it started its subtask.
    Panic,
    /// The backend is too slow: the handler's timeout cancels the call.
    Timeout,
    /// The client gives up (drops the connection) while the handler works.
    ClientCancel,
}

impl Fault {
    fn of(order: u64) -> Option<Fault> {
        match order % 50 {
            13 => Some(Fault::Panic),
            17 => Some(Fault::Timeout),
            23 => Some(Fault::ClientCancel),
            _ => None,
        }
    }
}

/// The handler's budget for the backend call, and the shorter one of the
/// orders whose backend call is made to time out (the backend then takes
/// three times as long, so the outcome does not depend on the machine's load).
const BACKEND_TIMEOUT: Duration = Duration::from_secs(10);
const INJECTED_TIMEOUT: Duration = Duration::from_millis(40);

#[derive(Debug, Default)]
struct Backend {
    /// Inject the soak run's faults.
    faults: bool,
    /// What the backend received, by order number.
    received: Mutex<HashMap<u64, Received>>,
    /// Traceparents received by `/echo` (the W3C test-service protocol).
    echoed: Mutex<Vec<Option<String>>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Received {
    request_id: Option<String>,
    traceparent: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct BackendReply {
    request_id: String,
    trace_id: String,
    parent_span_id: Option<String>,
    /// `http` or `grpc`: how the frontend called the backend.
    via: String,
    /// The [`TENANT`] the backend read, typed, from the call's baggage.
    tenant: Option<String>,
}

/// Whether the frontend calls the backend over gRPC for this order (one
/// order in three), else over HTTP.
fn over_grpc(order: u64) -> bool {
    order % 3 == 1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OrderReply {
    order: u64,
    request_id: String,
    trace_id: String,
    span_id: String,
    subtask_request_id: String,
    blocking_request_id: String,
    backend: BackendReply,
}

/// A short, deterministic pause so that requests interleave on the workers.
async fn nap(order: u64, salt: u64) {
    let mut x = order.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    x ^= x >> 29;
    tokio::time::sleep(Duration::from_micros(x % 1_500)).await;
}

/// A nested async function: it shares the request's context.
async fn price_of(order: u64) -> u64 {
    nap(order, 1).await;
    info!(order, step = "nested", "pricing the order");
    100 + order % 7
}

async fn order(
    State(app): State<Frontend>,
    Path(order): Path<u64>,
) -> Result<Json<OrderReply>, (StatusCode, String)> {
    info!(order, step = "received", "order received");
    // Sent to the backend with every call below, read there typed.
    TENANT.set(Tenant::of(order));
    let price = price_of(order).await;

    // asyncio.create_task: the subtask starts with a copy of this context.
    let subtask = contextvars_tokio::spawn(async move {
        nap(order, 2).await;
        info!(order, step = "subtask", "checking stock");
        REQUEST_ID.get().to_string()
    });
    // asyncio.to_thread: blocking work on another thread, same values.
    let blocking = contextvars_tokio::spawn_blocking(move || {
        info!(order, step = "blocking", "rendering the invoice");
        REQUEST_ID.get().to_string()
    });

    let fault = if app.faults { Fault::of(order) } else { None };
    match fault {
        Some(Fault::Panic) => panic!("injected panic in order {order}"),
        // Long enough for the client to give up first.
        Some(Fault::ClientCancel) => tokio::time::sleep(Duration::from_millis(60)).await,
        _ => {}
    }

    // The propagating clients send this request's ids along: in HTTP headers,
    // or in gRPC metadata.
    let url = format!("{}/work/{order}", app.backend);
    let request = http::Request::post(url)
        .body(Full::default())
        .map_err(internal)?;
    let call = async {
        if over_grpc(order) {
            return app.grpc.clone().work(order).await.map_err(internal);
        }
        let response = app
            .client
            .clone()
            .oneshot(request)
            .await
            .map_err(internal)?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(internal)?
            .to_bytes();
        serde_json::from_slice::<BackendReply>(&body).map_err(internal)
    };
    let budget = if fault == Some(Fault::Timeout) {
        INJECTED_TIMEOUT
    } else {
        BACKEND_TIMEOUT
    };
    let backend = match tokio::time::timeout(budget, call).await {
        Ok(reply) => reply?,
        Err(_) => {
            info!(order, step = "timeout", "the backend is too slow");
            return Err((StatusCode::GATEWAY_TIMEOUT, "backend timeout".to_string()));
        }
    };

    let subtask_request_id = subtask.await.map_err(internal)?;
    let blocking_request_id = blocking.await.map_err(internal)?;
    info!(order, step = "done", price, "order done");
    let trace = TRACE.get();
    Ok(Json(OrderReply {
        order,
        request_id: REQUEST_ID.get().to_string(),
        trace_id: trace.trace_id().to_string(),
        span_id: trace.span_id().to_string(),
        subtask_request_id,
        blocking_request_id,
        backend,
    }))
}

fn internal(err: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// One case of the W3C trace-context test-service protocol.
#[derive(Debug, Deserialize)]
struct TestCase {
    url: String,
    arguments: serde_json::Value,
}

/// `POST /test`: for each case, POST its `arguments` as JSON to its `url`,
/// propagating the incoming request's trace context.
///
/// Answers `200 OK` only if every callback answered with a success status.
/// A callback that could not be made (bad URL, connection refused) or
/// answered otherwise makes the whole request fail with `502 Bad Gateway`
/// and a message naming the case, its URL and what went wrong; the cases
/// after it are not run.
async fn w3c_test(
    State(app): State<Frontend>,
    Json(cases): Json<Vec<TestCase>>,
) -> Result<StatusCode, (StatusCode, String)> {
    for (index, case) in cases.into_iter().enumerate() {
        let failed = |what: String| {
            let message = format!("case {index}: POST {}: {what}", case.url);
            (StatusCode::BAD_GATEWAY, message)
        };
        let body = serde_json::to_vec(&case.arguments).map_err(internal)?;
        let request = http::Request::post(&case.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| failed(format!("invalid request: {err}")))?;
        let response = app
            .client
            .clone()
            .oneshot(request)
            .await
            .map_err(|err| failed(format!("call failed: {err}")))?;
        let status = response.status();
        // Drain the body so the connection can be reused.
        let _ = response.into_body().collect().await;
        if !status.is_success() {
            return Err(failed(format!("answered {status}")));
        }
    }
    Ok(StatusCode::OK)
}

async fn work(
    State(backend): State<Arc<Backend>>,
    Path(order): Path<u64>,
    headers: HeaderMap,
) -> Json<BackendReply> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    backend.received.lock().unwrap().insert(
        order,
        Received {
            request_id: header("x-request-id"),
            traceparent: header("traceparent"),
        },
    );
    info!(order, step = "backend", via = "http", "backend work");
    if backend.faults && Fault::of(order) == Some(Fault::Timeout) {
        tokio::time::sleep(INJECTED_TIMEOUT * 3).await;
    }
    let trace = TRACE.get();
    Json(BackendReply {
        request_id: REQUEST_ID.get().to_string(),
        trace_id: trace.trace_id().to_string(),
        parent_span_id: trace.parent_span_id().map(|s| s.to_string()),
        via: "http".to_owned(),
        tenant: TENANT.get_opt().map(|t| t.to_string()),
    })
}

async fn echo(State(backend): State<Arc<Backend>>, headers: HeaderMap) -> StatusCode {
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    backend.echoed.lock().unwrap().push(traceparent);
    StatusCode::OK
}

fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http()
}

struct Services {
    frontend: String,
    backend: String,
    /// The backend's gRPC endpoint.
    backend_grpc: String,
    state: Arc<Backend>,
}

async fn start_services(frontend_port: u16, faults: bool) -> std::io::Result<Services> {
    let backend_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let backend_url = format!("http://{}", backend_listener.local_addr()?);
    let state = Arc::new(Backend {
        faults,
        ..Backend::default()
    });
    let backend_app = Router::new()
        .route("/work/{order}", post(work))
        .route("/echo", post(echo))
        .with_state(state.clone());
    // Every request in a context of its own, outside everything the app
    // does, with the tenant the caller sent.
    contextvars_tokio::spawn(async move {
        contextvars_tower::serve_with(backend_listener, backend_app, backend_layer()).await
    });
    // The same backend over gRPC, every call in a context of its own.
    let grpc_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let grpc_url = format!("http://{}", grpc_listener.local_addr()?);
    contextvars_tokio::spawn(grpc::serve(grpc_listener, state.clone()));

    let frontend = Frontend {
        backend: backend_url.clone(),
        client: ServiceBuilder::new()
            .layer(PropagateLayer::new())
            .service(http_client()),
        grpc: grpc::BackendClient::new(grpc_url.clone()).map_err(std::io::Error::other)?,
        faults,
    };
    let frontend_listener = TcpListener::bind(("127.0.0.1", frontend_port)).await?;
    let frontend_url = format!("http://{}", frontend_listener.local_addr()?);
    let frontend_app = Router::new()
        .route("/api/orders/{order}", get(order))
        .route("/test", post(w3c_test))
        .with_state(frontend)
        // Inside the request's context (`serve` puts it outermost): a
        // panicking handler becomes a 500 that still carries the request id.
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    contextvars_tokio::spawn(async move {
        contextvars_tower::serve(frontend_listener, frontend_app).await
    });

    Ok(Services {
        frontend: frontend_url,
        backend: backend_url,
        backend_grpc: grpc_url,
        state,
    })
}

// ===== the load and the checks =====

/// What the client sent for one order, and what it got back.
#[derive(Debug)]
struct Outcome {
    order: u64,
    /// The client gave up waiting (an injected client cancellation).
    cancelled: bool,
    sent: Sent,
    status: Option<StatusCode>,
    header_id: Option<String>,
    reply: Option<OrderReply>,
}

/// How the client identified a request.
#[derive(Clone, Debug)]
enum Sent {
    /// A valid `x-request-id`: echoed as is.
    RequestId(String),
    /// Only a `traceparent`: the request id is its trace id.
    TraceParent { trace_id: String },
    /// An invalid `x-request-id`: replaced by the server.
    InvalidId(String),
    /// Nothing: the server makes an id and a trace.
    Nothing,
}

fn random_hex(state: &mut u64, digits: usize) -> String {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out.push_str(&format!("{:016x}", *state));
    }
    out.truncate(digits);
    out
}

async fn send_order(client: &HttpClient, base: &str, order: u64, faults: bool) -> Outcome {
    let mut seed = order.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    let sent = match order % 10 {
        7 => Sent::TraceParent {
            trace_id: random_hex(&mut seed, 32),
        },
        8 => Sent::InvalidId(format!("bad id\twith tab {order}")),
        9 => Sent::Nothing,
        _ => Sent::RequestId(format!("order-{order}-{}", random_hex(&mut seed, 8))),
    };
    let mut request = http::Request::get(format!("{base}/api/orders/{order}"));
    match &sent {
        Sent::RequestId(id) | Sent::InvalidId(id) => request = request.header("x-request-id", id),
        Sent::TraceParent { trace_id } => {
            let parent = random_hex(&mut seed, 16);
            request = request.header("traceparent", format!("00-{trace_id}-{parent}-01"));
        }
        Sent::Nothing => {}
    }
    let mut outcome = Outcome {
        order,
        cancelled: false,
        sent,
        status: None,
        header_id: None,
        reply: None,
    };
    let Ok(request) = request.body(Full::default()) else {
        return outcome;
    };
    let response = if faults && Fault::of(order) == Some(Fault::ClientCancel) {
        // Give up while the handler still works: the connection is dropped
        // mid-request.
        match tokio::time::timeout(Duration::from_millis(15), client.request(request)).await {
            Ok(response) => response,
            Err(_) => {
                outcome.cancelled = true;
                return outcome;
            }
        }
    } else {
        client.request(request).await
    };
    let Ok(response) = response else {
        return outcome;
    };
    outcome.status = Some(response.status());
    outcome.header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Ok(body) = response.into_body().collect().await {
        outcome.reply = serde_json::from_slice(&body.to_bytes()).ok();
    }
    outcome
}

/// Sends orders `orders` with `concurrency` of them in flight at a time.
async fn drive(
    base: &str,
    orders: std::ops::Range<u64>,
    concurrency: u64,
    faults: bool,
) -> Vec<Outcome> {
    let client = http_client();
    let next = Arc::new(AtomicU64::new(orders.start));
    let end = orders.end;
    let mut workers = Vec::new();
    for _ in 0..concurrency.min((end - orders.start).max(1)) {
        let (client, next, base) = (client.clone(), next.clone(), base.to_owned());
        workers.push(contextvars_tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let order = next.fetch_add(1, Ordering::Relaxed);
                if order >= end {
                    break outcomes;
                }
                outcomes.push(send_order(&client, &base, order, faults).await);
            }
        }));
    }
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("client worker panicked"));
    }
    outcomes.sort_by_key(|o| o.order);
    outcomes
}

/// The fields of one log line that the checks look at.
#[derive(Debug, Default)]
struct LogLine<'a> {
    request_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    order: Option<u64>,
    step: Option<&'a str>,
}

fn parse_line(line: &str) -> LogLine<'_> {
    let mut parsed = LogLine::default();
    for token in line.split_whitespace() {
        if let Some((key, value)) = token.split_once('=') {
            let value = value.trim_matches('"');
            match key {
                "request_id" => parsed.request_id = Some(value),
                "trace_id" => parsed.trace_id = Some(value),
                "order" => parsed.order = value.parse().ok(),
                "step" => parsed.step = Some(value),
                _ => {}
            }
        }
    }
    parsed
}

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    cross_talk: u64,
    missing: u64,
    problems: Vec<String>,
}

impl Tally {
    fn cross_talk(&mut self, what: String) {
        self.cross_talk += 1;
        self.note(what);
    }

    fn missing(&mut self, what: String) {
        self.missing += 1;
        self.note(what);
    }

    fn note(&mut self, what: String) {
        if self.problems.len() < 10 {
            self.problems.push(what);
        }
    }
}

/// Checks one order end to end. Every observation of an id is compared with
/// the id this request must have: a different value is cross-talk (another
/// request's id, or a wrong one), an absent value is missing.
fn check_order(
    outcome: &Outcome,
    lines: &[LogLine<'_>],
    received: Option<&Received>,
    tally: &mut Tally,
) -> bool {
    let (cross_before, missing_before) = (tally.cross_talk, tally.missing);
    let order = outcome.order;
    let (Some(status), Some(id), Some(reply)) = (
        outcome.status,
        outcome.header_id.as_deref(),
        outcome.reply.as_ref(),
    ) else {
        tally.missing(format!(
            "order {order}: no complete response ({:?})",
            outcome.status
        ));
        return false;
    };
    if status != StatusCode::OK {
        tally.missing(format!("order {order}: status {status}"));
        return false;
    }
    let trace_id = reply.trace_id.as_str();

    // The id the server must have chosen, given what was sent.
    let id_ok = match &outcome.sent {
        Sent::RequestId(sent) => id == sent,
        Sent::TraceParent { trace_id: sent } => id == sent && trace_id == sent,
        Sent::InvalidId(sent) => id != sent && !id.is_empty(),
        Sent::Nothing => !id.is_empty(),
    };
    if !id_ok {
        tally.cross_talk(format!(
            "order {order}: response id {id:?} for {:?}",
            outcome.sent
        ));
    }
    let mut expect = |what: &str, seen: &str, want: &str| {
        if seen != want {
            tally.cross_talk(format!("order {order}: {what} {seen:?}, expected {want:?}"));
        }
    };
    expect("order echoed", &reply.order.to_string(), &order.to_string());
    expect("handler id", &reply.request_id, id);
    expect("subtask id", &reply.subtask_request_id, id);
    expect("blocking id", &reply.blocking_request_id, id);
    expect("backend id", &reply.backend.request_id, id);
    let via = if over_grpc(order) { "grpc" } else { "http" };
    expect("backend called over", &reply.backend.via, via);
    expect("backend trace", &reply.backend.trace_id, trace_id);
    // The typed variable the frontend set, read by the backend.
    match reply.backend.tenant.as_deref() {
        Some(tenant) => expect("backend tenant", tenant, &Tenant::of(order).to_string()),
        None => tally.missing(format!("order {order}: the backend read no tenant")),
    }

    // The headers the backend received from the propagating client.
    match received {
        None => tally.missing(format!("order {order}: the backend never saw it")),
        Some(received) => {
            match received.request_id.as_deref() {
                Some(got) if got == id => {}
                Some(got) => tally.cross_talk(format!("order {order}: backend got id {got:?}")),
                None => tally.missing(format!("order {order}: no x-request-id to the backend")),
            }
            match received
                .traceparent
                .as_deref()
                .map(|t| t.split('-').collect::<Vec<_>>())
            {
                Some(parts) if parts.len() == 4 => {
                    if parts[1] != trace_id {
                        tally.cross_talk(format!("order {order}: backend got trace {}", parts[1]));
                    }
                    // A new span per outbound call, and the backend's parent.
                    if parts[2] == reply.span_id
                        || reply.backend.parent_span_id.as_deref() != Some(parts[2])
                    {
                        tally.cross_talk(format!("order {order}: outbound parent id {}", parts[2]));
                    }
                }
                _ => tally.missing(format!("order {order}: no traceparent to the backend")),
            }
        }
    }

    // Every step logged exactly once, each line with this request's ids.
    let mut seen = HashMap::new();
    for line in lines {
        *seen.entry(line.step.unwrap_or("?")).or_insert(0u32) += 1;
        match line.request_id {
            Some(got) if got == id => {}
            Some(got) => tally.cross_talk(format!("order {order}: log line with id {got:?}")),
            None => tally.missing(format!("order {order}: log line without request_id")),
        }
        match line.trace_id {
            Some(got) if got == trace_id => {}
            Some(got) => tally.cross_talk(format!("order {order}: log line with trace {got:?}")),
            None => tally.missing(format!("order {order}: log line without trace_id")),
        }
    }
    for step in STEPS {
        match seen.get(step) {
            Some(1) => {}
            Some(n) => tally.cross_talk(format!("order {order}: step {step} logged {n} times")),
            None => tally.missing(format!("order {order}: step {step} not logged")),
        }
    }

    tally.cross_talk == cross_before && tally.missing == missing_before
}

/// POSTs `cases` to the frontend's `/test`, with `traceparent` if given;
/// its status and body.
async fn post_test_cases(
    frontend: &str,
    cases: serde_json::Value,
    traceparent: Option<&str>,
) -> Result<(StatusCode, String), String> {
    let mut request =
        http::Request::post(format!("{frontend}/test")).header("content-type", "application/json");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let request = request
        .body(Full::new(Bytes::from(cases.to_string())))
        .map_err(|e| e.to_string())?;
    let response = http_client()
        .request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Sends one W3C test-service request through the frontend and returns
/// whether the backend received the same trace id with a new parent id.
async fn check_w3c_test_endpoint(services: &Services) -> Result<String, String> {
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let cases = serde_json::json!([
        { "url": format!("{}/echo", services.backend), "arguments": [] },
        { "url": format!("{}/echo", services.backend), "arguments": [{ "url": "unused", "arguments": [] }] },
    ]);
    let traceparent = format!("00-{trace_id}-{parent}-01");
    let (status, _) = post_test_cases(&services.frontend, cases, Some(&traceparent)).await?;
    if status != StatusCode::OK {
        return Err(format!("POST /test answered {status}"));
    }
    let echoed = services.state.echoed.lock().unwrap().clone();
    if echoed.len() != 2 {
        return Err(format!("the backend got {} of 2 calls", echoed.len()));
    }
    let mut parents = Vec::new();
    for traceparent in echoed.iter() {
        let traceparent = traceparent.as_deref().ok_or("a call without traceparent")?;
        let parts: Vec<&str> = traceparent.split('-').collect();
        if parts.len() != 4 || parts[1] != trace_id || parts[2] == parent || parts[3] != "01" {
            return Err(format!("unexpected traceparent {traceparent}"));
        }
        parents.push(parts[2].to_owned());
    }
    if parents[0] == parents[1] {
        return Err("both calls had the same parent id".to_string());
    }
    // A callback that fails makes `/test` fail, with a message.
    let (status, message) = post_test_cases(
        &services.frontend,
        serde_json::json!([{ "url": format!("{}/no-such-route", services.backend), "arguments": [] }]),
        None,
    )
    .await?;
    if status != StatusCode::BAD_GATEWAY || !message.contains("404") {
        return Err(format!(
            "POST /test with a failing callback answered {status}: {message:?}"
        ));
    }
    Ok(format!(
        "POST /test: 2 calls continued trace {trace_id} with new parent ids {} and {}",
        parents[0], parents[1]
    ))
}

async fn run_load(options: &Options) -> ExitCode {
    let services = match start_services(0, false).await {
        Ok(services) => services,
        Err(err) => {
            eprintln!("cannot start the services: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "frontend {} and backend {} (gRPC {}) up; sending {} orders, {} at a time",
        services.frontend,
        services.backend,
        services.backend_grpc,
        options.requests,
        options.concurrency
    );
    let started = Instant::now();
    let outcomes = drive(
        &services.frontend,
        0..options.requests,
        options.concurrency,
        false,
    )
    .await;
    let elapsed = started.elapsed();
    let w3c = check_w3c_test_endpoint(&services).await;

    // The checks.
    let log = std::mem::take(&mut *LOG.lock().unwrap());
    let parsed: Vec<LogLine<'_>> = log.iter().map(|l| parse_line(l)).collect();
    let mut by_order: HashMap<u64, Vec<LogLine<'_>>> = HashMap::new();
    let mut stray = 0;
    for line in parsed {
        match line.order {
            Some(order) => by_order.entry(order).or_default().push(line),
            None if line.request_id.is_some() => stray += 1,
            None => {}
        }
    }
    let received = services.state.received.lock().unwrap().clone();
    let mut tally = Tally::default();
    for outcome in &outcomes {
        let lines = by_order.remove(&outcome.order).unwrap_or_default();
        if check_order(outcome, &lines, received.get(&outcome.order), &mut tally) {
            tally.ok += 1;
        }
    }
    if outcomes.len() as u64 != options.requests {
        tally.missing(format!(
            "{} of {} orders sent",
            outcomes.len(),
            options.requests
        ));
    }
    for (order, _) in by_order {
        tally.cross_talk(format!("log lines for order {order}, which was never sent"));
    }

    // The human summary.
    let rate = options.requests as f64 / elapsed.as_secs_f64().max(1e-9);
    let over = |via: &str| {
        outcomes
            .iter()
            .filter(|o| o.reply.as_ref().is_some_and(|r| r.backend.via == via))
            .count()
    };
    println!(
        "{} orders in {:.2?} ({rate:.0} requests/s), {} log lines, {} backend calls \
         ({} over HTTP, {} over gRPC)",
        outcomes.len(),
        elapsed,
        log.len(),
        received.len(),
        over("http"),
        over("grpc")
    );
    let tenant_read = |via: &str| {
        outcomes
            .iter()
            .filter_map(|o| o.reply.as_ref().map(|r| (o.order, &r.backend)))
            .filter(|(order, b)| {
                b.via == via && b.tenant.as_deref() == Some(&*Tenant::of(*order).to_string())
            })
            .count()
    };
    println!(
        "typed variable TENANT (propagate): set by the frontend, read back by the backend for \
         {} orders over HTTP and {} over gRPC",
        tenant_read("http"),
        tenant_read("grpc")
    );
    let kinds = |f: fn(&Sent) -> bool| outcomes.iter().filter(|o| f(&o.sent)).count();
    println!(
        "request ids: {} sent and echoed, {} taken from traceparent, {} invalid and replaced, {} generated",
        kinds(|s| matches!(s, Sent::RequestId(_))),
        kinds(|s| matches!(s, Sent::TraceParent { .. })),
        kinds(|s| matches!(s, Sent::InvalidId(_))),
        kinds(|s| matches!(s, Sent::Nothing)),
    );
    if let Some(sample) = outcomes
        .iter()
        .find(|o| o.order == 4.min(options.requests.saturating_sub(1)))
    {
        let order = sample.order;
        let via = if over_grpc(order) { "gRPC" } else { "HTTP" };
        println!(
            "the log lines of order {order} (backend called over {via}), from five places in two services:"
        );
        for line in log.iter().filter(|l| parse_line(l).order == Some(order)) {
            println!("    {line}");
        }
    }
    match &w3c {
        Ok(summary) => println!("{summary}"),
        Err(err) => {
            tally.missing(format!("W3C test endpoint: {err}"));
        }
    }
    if stray > 0 {
        println!("{stray} log lines carried a request id outside any order");
    }
    for problem in &tally.problems {
        println!("problem: {problem}");
    }
    println!(
        "requests={} ok={} cross_talk={} missing={}",
        options.requests, tally.ok, tally.cross_talk, tally.missing
    );
    if tally.ok == options.requests && tally.cross_talk == 0 && tally.missing == 0 && w3c.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn serve(options: &Options) -> ExitCode {
    ECHO_LOG.store(true, Ordering::Relaxed);
    let services = match start_services(options.port, false).await {
        Ok(services) => services,
        Err(err) => {
            eprintln!("cannot start the services: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("frontend: {}", services.frontend);
    println!("backend:  {}", services.backend);
    println!(
        "backend over gRPC: {} (orders 1, 4, 7, ...)",
        services.backend_grpc
    );
    println!("try:");
    println!("  curl -i {}/api/orders/1", services.frontend);
    println!(
        "  curl -i -H 'x-request-id: my-id' {}/api/orders/2",
        services.frontend
    );
    println!(
        "  curl -i -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' {}/api/orders/3",
        services.frontend
    );
    println!("press Ctrl-C to stop");
    // Keep the log from growing without bound while serving.
    let trim = contextvars_tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            LOG.lock().unwrap().clear();
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    trim.abort();
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(contextvars_tokio::root(async {
        if options.serve {
            serve(&options).await
        } else if options.soak {
            soak::run(&options).await
        } else {
            run_load(&options).await
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn w3c_test_endpoint_reports_failed_callbacks() {
        let run = async {
            let services = start_services(0, false).await.unwrap();
            let echo = format!("{}/echo", services.backend);
            let missing = format!("{}/no-such-route", services.backend);

            // Every callback succeeds: 200.
            let cases = serde_json::json!([{ "url": echo, "arguments": [] }]);
            let (status, _) = post_test_cases(&services.frontend, cases, None)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);

            // A callback answers 404: 502, naming the case, URL and status;
            // the cases after it are not run.
            let before = services.state.echoed.lock().unwrap().len();
            let cases = serde_json::json!([
                { "url": echo, "arguments": [] },
                { "url": missing, "arguments": [] },
                { "url": echo, "arguments": [] },
            ]);
            let (status, message) = post_test_cases(&services.frontend, cases, None)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert_eq!(
                message,
                format!("case 1: POST {missing}: answered 404 Not Found")
            );
            assert_eq!(services.state.echoed.lock().unwrap().len(), before + 1);

            // A callback that cannot be made: 502 too.
            let cases = serde_json::json!([{ "url": "http://127.0.0.1:1/", "arguments": [] }]);
            let (status, message) = post_test_cases(&services.frontend, cases, None)
                .await
                .unwrap();
            assert_eq!(status, StatusCode::BAD_GATEWAY);
            assert!(
                message.starts_with("case 0: POST http://127.0.0.1:1/: call failed"),
                "{message}"
            );
        };
        contextvars_tokio::root(async {
            tokio::time::timeout(Duration::from_secs(60), run)
                .await
                .expect("hung")
        })
        .await;
    }
}
