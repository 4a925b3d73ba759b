//! The HTTP comparison: requests per second of a minimal axum app, bare,
//! behind `contextvars_tower::RequestContextLayer`, and behind tower-http's
//! request-id layers for reference, on loopback, with the load generator in
//! the same process; and the same apps called in process ([`in_process`]),
//! which shows what the middleware itself costs per request, without the
//! sockets and the scheduling that dominate the loopback numbers.
//!
//! One server per [`Setup`] runs on `127.0.0.1` (ephemeral ports), all
//! served by `axum::serve` on one multi-thread tokio runtime. They differ
//! only in the middleware and in what the handler does with it:
//!
//! * [`Setup::Bare`]: no middleware; the handler returns the body.
//! * [`Setup::Layered`]: `RequestContextLayer::new()`; the handler reads
//!   [`REQUEST_ID`], as a handler that logs or forwards the id would.
//! * [`Setup::TowerHttp`]: the conventional request-id middleware,
//!   tower-http's `SetRequestIdLayer::x_request_id(MakeRequestUuid)` (the
//!   `x-request-id` header if present, else a new UUIDv4, put in the
//!   request's header and extensions) outside
//!   `PropagateRequestIdLayer::x_request_id()` (copies the request's
//!   `x-request-id` to the response); the handler reads the id from the
//!   request's extensions.
//! * [`Setup::LayeredNoEcho`]: the layer without the response header,
//!   `RequestContextLayer::new().echo_request_id(false)`; the handler as in
//!   [`Setup::Layered`].
//!
//! All answer `GET /` with the same two-byte body.
//!
//! The load generator, on the same runtime, holds [`CONNECTIONS`] keep-alive
//! HTTP/1.1 connections to each server (hyper's `client::conn::http1`, no
//! pool in between), and on each one sends requests back to back, every
//! request waiting for the previous response. The requests cycle through the
//! same [`header mix`](header_mix) for every server. Every response is
//! checked (status 200, the body, and the `x-request-id` echo present exactly
//! when the setup echoes it); a single failure fails the whole measurement.
//!
//! As in [`harness`](contextvars_benches::harness), the configurations are
//! timed in short rounds that take turns, so that a slow spell of the shared
//! machine hits all alike: one warm-up round each, then [`ROUNDS`] cycles of
//! one round of [`ROUND`] per configuration, the order within a cycle
//! rotating as a Williams design ([`cycle_order`]): over every run of
//! [`Setup::ALL`]`.len()` cycles (twice that for an odd count) each
//! configuration takes each position equally often, and directly follows
//! each other configuration equally often, so that neither a drift
//! in the machine's speed nor the round before favours any. A
//! configuration's requests/s is the median over its rounds.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request as ServerRequest;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use contextvars_benches::harness::{median, AllocProbe, Bench, Group, Routine};
use contextvars_tower::{RequestContextLayer, REQUEST_ID};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_service::Service;

/// Keep-alive connections per server, each with one request in flight.
pub(crate) const CONNECTIONS: usize = 8;
/// Duration of one round.
pub(crate) const ROUND: Duration = Duration::from_millis(200);
/// Recorded rounds per server, after one warm-up round each: a multiple of
/// [`Setup::ALL`]`.len()` (an even count), so that the rotation is balanced.
pub(crate) const ROUNDS: usize = 12;
// The balance of the default rotation, checked at compile time.
const _: () =
    assert!(Setup::ALL.len().is_multiple_of(2) && ROUNDS.is_multiple_of(Setup::ALL.len()));
/// Distinct requests in the [`header_mix`], cycled by every connection.
const MIX_LEN: usize = 64;
/// Requests per connection of the short and the long run of the
/// allocation count (see [`HttpResult`]'s `allocs_per_request`).
const ALLOC_RUNS: (u64, u64) = (20, 220);

/// The body of every response.
const BODY: &str = "ok";

/// One configuration of the app: the middleware around it and its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// No middleware; the handler returns the body.
    Bare,
    /// `RequestContextLayer::new()`; the handler reads [`REQUEST_ID`].
    Layered,
    /// tower-http's `SetRequestIdLayer::x_request_id(MakeRequestUuid)` outside
    /// `PropagateRequestIdLayer::x_request_id()`; the handler reads tower-http's
    /// `RequestId` from the request's extensions.
    TowerHttp,
    /// `RequestContextLayer::new().echo_request_id(false)`; the handler reads
    /// [`REQUEST_ID`]. No `x-request-id` in responses.
    LayeredNoEcho,
}

impl Setup {
    /// Every configuration, in the order of [`HttpResult::runs`] and of the
    /// report's table.
    pub(crate) const ALL: [Setup; 4] = [
        Setup::Bare,
        Setup::Layered,
        Setup::TowerHttp,
        Setup::LayeredNoEcho,
    ];

    /// Short name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Setup::Bare => "bare",
            Setup::Layered => "layered",
            Setup::TowerHttp => "tower-http",
            Setup::LayeredNoEcho => "layered, no echo",
        }
    }

    /// Whether responses carry `x-request-id`.
    fn echoes(self) -> bool {
        match self {
            Setup::Bare | Setup::LayeredNoEcho => false,
            Setup::Layered | Setup::TowerHttp => true,
        }
    }

    /// The app: `GET /` with this configuration's handler and middleware.
    fn app(self) -> Router {
        match self {
            Setup::Bare => Router::new().route("/", get(bare)),
            Setup::Layered => Router::new()
                .route("/", get(layered))
                .layer(RequestContextLayer::new()),
            // The last layer added is the outermost: the id is set (from the
            // header or made) before `PropagateRequestId` looks for it.
            Setup::TowerHttp => Router::new()
                .route("/", get(tower_http))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
            Setup::LayeredNoEcho => Router::new()
                .route("/", get(layered))
                .layer(RequestContextLayer::new().echo_request_id(false)),
        }
    }
}

/// Requests per second of one server over the recorded rounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    /// Median over the rounds.
    pub(crate) median_rps: f64,
    /// Slowest round.
    pub(crate) min_rps: f64,
    /// Fastest round.
    pub(crate) max_rps: f64,
    /// Requests answered (and checked) in the recorded rounds.
    pub(crate) requests: u64,
    /// Heap allocations per request, client and server together, counted in
    /// a separate untimed pass (difference of a short and a long run), if
    /// counted.
    pub(crate) allocs_per_request: Option<f64>,
}

/// The measurements of one [`Setup`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    /// What was measured.
    pub(crate) setup: Setup,
    /// Its requests per second.
    pub(crate) throughput: Throughput,
    /// Median over the cycles of this setup's requests/s / bare's in the
    /// same cycle: less sensitive to drift than the ratio of the medians,
    /// shown to judge the noise (1 for bare itself).
    pub(crate) paired_vs_bare: f64,
}

/// Requests per second of one axum app, bare, behind the request-context
/// layer of `contextvars-tower`, and behind the references (see [`Setup`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpResult {
    /// Worker threads of the runtime that runs the servers and the clients.
    pub(crate) workers: usize,
    /// Keep-alive connections per server.
    pub(crate) connections: usize,
    /// Recorded rounds per server.
    pub(crate) rounds: usize,
    /// Duration of one round.
    pub(crate) round: Duration,
    /// One per [`Setup`], in the order of [`Setup::ALL`].
    pub(crate) runs: [Run; Setup::ALL.len()],
    /// Wall time of the whole comparison, set-up and allocation count
    /// included.
    pub(crate) elapsed: Duration,
}

impl HttpResult {
    /// The measurements of `setup`.
    pub(crate) fn run(&self, setup: Setup) -> &Run {
        self.runs
            .iter()
            .find(|r| r.setup == setup)
            .expect("every setup is measured")
    }

    /// `http_vs_bare`: median requests/s behind the layer / median
    /// requests/s bare.
    pub(crate) fn ratio(&self) -> f64 {
        self.run(Setup::Layered).throughput.median_rps / self.run(Setup::Bare).throughput.median_rps
    }

    /// The median of the per-cycle ratios behind the layer / bare.
    pub(crate) fn paired_ratio(&self) -> f64 {
        self.run(Setup::Layered).paired_vs_bare
    }
}

/// The in-process rows: one request at a time through each app's
/// `Service::call`, on a current-thread runtime, with no connection, no
/// parsing and no load generator, so that the rows differ only by what the
/// middleware and its handler do. The requests cycle through the same
/// [`header_mix`] as on loopback; every response's status and `x-request-id`
/// echo are checked as there (the body, not read here, is not). Besides the
/// loopback setups, one row runs the layer with tower-http's kind of id
/// (UUIDv4, [`uuid_v4`]) for the requests that come without one, which
/// shows what the default UUIDv7 (a clock read and a lock per id) adds.
pub(crate) fn in_process() -> Group {
    let mix: Arc<[HeaderMap]> = header_mix().into();
    let bench_app = |name: &'static str, mut app: Router, echoes: bool| -> Routine {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current_thread runtime");
        let mix = mix.clone();
        let mut next = 0usize;
        Box::new(move |n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let mut request = Request::new(axum::body::Body::empty());
                    *request.headers_mut() = mix[next % mix.len()].clone();
                    next = next.wrapping_add(1);
                    // As a server does: ready first (a router always is).
                    std::future::poll_fn(|cx| {
                        Service::<Request<axum::body::Body>>::poll_ready(&mut app, cx)
                    })
                    .await
                    .expect("the router is infallible");
                    let response = Service::call(&mut app, request)
                        .await
                        .expect("the router is infallible");
                    assert!(
                        response.status() == StatusCode::OK
                            && response.headers().contains_key("x-request-id") == echoes,
                        "{name}: unexpected response {response:?}",
                    );
                    black_box(response);
                }
                start.elapsed()
            })
        })
    };
    let bench = |setup: Setup| bench_app(setup.name(), setup.app(), setup.echoes());
    Group {
        title: "HTTP middleware in process: GET / through axum's Router".into(),
        note: "One request at a time through `Service::call`, on a current-thread runtime, \
               cycling the loopback header mix; building and checking the request and \
               response included in every row."
            .into(),
        benches: vec![
            Bench::baseline(
                "http.inproc.bare",
                "bare",
                "bare axum, handler returns the body",
                bench(Setup::Bare),
            ),
            Bench::baseline(
                "http.inproc.tower_http",
                "tower-http",
                "tower-http SetRequestId(MakeRequestUuid) + PropagateRequestId, handler reads RequestId",
                bench(Setup::TowerHttp),
            ),
            Bench::ours(
                "http.inproc.layered",
                "RequestContextLayer, handler reads REQUEST_ID",
                bench(Setup::Layered),
            ),
            Bench::ours(
                "http.inproc.layered_no_echo",
                "RequestContextLayer without the response header, handler reads REQUEST_ID",
                bench(Setup::LayeredNoEcho),
            ),
            Bench::ours(
                "http.inproc.layered_uuid_v4",
                "RequestContextLayer making UUIDv4s (tower-http's kind of id) instead of \
                 UUIDv7s, handler reads REQUEST_ID",
                bench_app(
                    "layered, UUIDv4",
                    Router::new()
                        .route("/", get(layered))
                        .layer(RequestContextLayer::new().make_request_id(uuid_v4)),
                    true,
                ),
            ),
        ],
    }
}

/// A UUIDv4 request id, made as tower-http's `MakeRequestUuid` makes its
/// own (a random UUID, its text copied into a new header value).
fn uuid_v4() -> contextvars_tower::RequestId {
    let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    contextvars_tower::RequestId::new(text).expect("a UUID is a valid request id")
}

/// The bare handler.
async fn bare() -> Result<&'static str, StatusCode> {
    Ok(BODY)
}

/// The layered handler: looks at the request id, as a handler that logs it
/// or passes it on would, and answers as [`bare`] does.
async fn layered() -> Result<&'static str, StatusCode> {
    match REQUEST_ID.get_opt() {
        Some(id) => {
            black_box(id.as_str());
            Ok(BODY)
        }
        None => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The tower-http handler: looks at the request id that
/// `SetRequestIdLayer` put in the request's extensions, and answers as
/// [`bare`] does.
async fn tower_http(request: ServerRequest) -> Result<&'static str, StatusCode> {
    match request.extensions().get::<RequestId>() {
        Some(id) => {
            black_box(id.header_value());
            Ok(BODY)
        }
        None => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `digits` hex digits from a small xorshift generator: ids that look real,
/// the same in every run.
fn hex(state: &mut u64, digits: usize) -> String {
    let mut out = String::with_capacity(digits + 16);
    while out.len() < digits {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        out.push_str(&format!("{:016x}", *state));
    }
    out.truncate(digits);
    out
}

/// The requests' headers, [`MIX_LEN`] of them, in a fixed order: every one
/// has `host`, `user-agent` and `accept`; then, of every 8,
///
/// * 4 have a valid `x-request-id` (echoed by the layer),
/// * 1 has a `traceparent` (the layer continues the trace and takes its
///   trace id as the request id),
/// * 1 has a `traceparent`, a `tracestate` and a `baggage` of two members,
/// * 2 have none of these (the layer makes a UUIDv7 and a new trace).
fn header_mix() -> Vec<HeaderMap> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let value = |s: String| HeaderValue::try_from(s).expect("a valid header value");
    (0..MIX_LEN)
        .map(|i| {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static("localhost"));
            h.insert("user-agent", HeaderValue::from_static("report/0.0.0"));
            h.insert("accept", HeaderValue::from_static("*/*"));
            let traceparent =
                |seed: &mut u64| value(format!("00-{}-{}-01", hex(seed, 32), hex(seed, 16)));
            match i % 8 {
                0..=3 => {
                    h.insert("x-request-id", value(format!("req-{}", hex(&mut seed, 12))));
                }
                4 => {
                    h.insert("traceparent", traceparent(&mut seed));
                }
                5 => {
                    h.insert("traceparent", traceparent(&mut seed));
                    h.insert(
                        "tracestate",
                        value(format!("vendor={},other=x", hex(&mut seed, 8))),
                    );
                    h.insert("baggage", HeaderValue::from_static("user=ada,tenant=acme"));
                }
                _ => {}
            }
            h
        })
        .collect()
}

/// How long a round lasts.
#[derive(Clone, Copy)]
enum Length {
    /// [`ROUND`], timed.
    Timed,
    /// This many requests per connection, untimed.
    Requests(u64),
}

/// When a connection stops sending.
#[derive(Clone, Copy)]
enum Until {
    /// At the first response after this instant.
    Deadline(Instant),
    /// After this many requests.
    Count(u64),
}

/// What one connection did in one round.
struct Outcome {
    /// Responses received and found right.
    ok: u64,
    /// Failed requests: transport errors and wrong responses.
    failures: u64,
    /// What went wrong first.
    first_failure: Option<String>,
    /// When the last response arrived.
    finished: Instant,
}

/// Sends requests on one connection until `until`, each after the previous
/// response, and checks every response (`x-request-id` present exactly when
/// `echoes`).
async fn drive(
    mut sender: SendRequest<Empty<Bytes>>,
    mix: Arc<[HeaderMap]>,
    first: usize,
    until: Until,
    echoes: bool,
) -> (SendRequest<Empty<Bytes>>, Outcome) {
    let mut outcome = Outcome {
        ok: 0,
        failures: 0,
        first_failure: None,
        finished: Instant::now(),
    };
    fn fail(outcome: &mut Outcome, what: String) {
        outcome.failures += 1;
        outcome.first_failure.get_or_insert(what);
    }
    for sent in 0u64.. {
        match until {
            Until::Deadline(deadline) if Instant::now() >= deadline => break,
            Until::Count(n) if sent >= n => break,
            _ => {}
        }
        // `Request::new`: GET / over HTTP/1.1.
        let mut request = Request::new(Empty::new());
        *request.headers_mut() = mix[(first + sent as usize) % mix.len()].clone();
        let response = match sender.ready().await {
            Ok(()) => sender.send_request(request).await,
            Err(err) => Err(err),
        };
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                // The connection is unusable: stop here.
                fail(&mut outcome, format!("request failed: {err}"));
                break;
            }
        };
        let status = response.status();
        let echoed = response.headers().contains_key("x-request-id");
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                fail(&mut outcome, format!("reading the body failed: {err}"));
                break;
            }
        };
        if status != StatusCode::OK || body != BODY || echoed != echoes {
            fail(
                &mut outcome,
                format!(
                    "unexpected response: status {status}, body {body:?}, x-request-id {}",
                    if echoed { "echoed" } else { "absent" }
                ),
            );
        } else {
            outcome.ok += 1;
        }
    }
    outcome.finished = Instant::now();
    (sender, outcome)
}

/// One server and the client's connections to it.
struct Server {
    setup: Setup,
    connections: Vec<SendRequest<Empty<Bytes>>>,
}

impl Server {
    /// Serves `GET /` on `127.0.0.1:0` as `setup` says, and opens
    /// [`CONNECTIONS`] connections to it. Runs on the runtime of the caller.
    async fn start(setup: Setup) -> Result<Server, String> {
        let app = setup.app();
        let name = setup.name();
        let err = |what: &str, err: std::io::Error| format!("{name} server: {what}: {err}");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| err("bind 127.0.0.1:0", e))?;
        let addr = listener.local_addr().map_err(|e| err("local address", e))?;
        // Requests and responses are single small writes; no Nagle delays
        // either way.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            connections.push(
                connect(addr)
                    .await
                    .map_err(|e| format!("{name} server: {e}"))?,
            );
        }
        Ok(Server { setup, connections })
    }

    /// Sends requests on every connection at once for `length`; returns
    /// the requests answered and the time from the start to the last
    /// response, or what failed.
    async fn round(
        &mut self,
        mix: &Arc<[HeaderMap]>,
        length: Length,
    ) -> Result<(u64, Duration), String> {
        let start = Instant::now();
        let until = match length {
            Length::Timed => Until::Deadline(start + ROUND),
            Length::Requests(n) => Until::Count(n),
        };
        let tasks: Vec<_> = self
            .connections
            .drain(..)
            .enumerate()
            .map(|(i, sender)| {
                let first = i * (MIX_LEN / CONNECTIONS).max(1);
                tokio::spawn(drive(
                    sender,
                    mix.clone(),
                    first,
                    until,
                    self.setup.echoes(),
                ))
            })
            .collect();
        let (mut ok, mut failures, mut first_failure, mut last) = (0, 0, None, start);
        for task in tasks {
            let (sender, outcome) = task
                .await
                .map_err(|e| format!("{} client task: {e}", self.setup.name()))?;
            self.connections.push(sender);
            ok += outcome.ok;
            failures += outcome.failures;
            first_failure = first_failure.or(outcome.first_failure);
            last = last.max(outcome.finished);
        }
        if failures > 0 {
            return Err(format!(
                "{failures} of {} requests to the {} server failed; first: {}",
                ok + failures,
                self.setup.name(),
                first_failure.unwrap_or_default()
            ));
        }
        Ok((ok, last - start))
    }
}

/// Opens one HTTP/1.1 connection to `addr`; its driver runs in a task.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake with {addr}: {e}"))?;
    // Its errors surface in `send_request`.
    tokio::spawn(connection);
    Ok(sender)
}

/// Sorted samples of one server.
fn throughput(mut samples: Vec<f64>, requests: u64, allocs: Option<f64>) -> Throughput {
    samples.sort_by(f64::total_cmp);
    Throughput {
        median_rps: median(&samples),
        min_rps: samples[0],
        max_rps: samples[samples.len() - 1],
        requests,
        allocs_per_request: allocs,
    }
}

/// The order of the configurations in recorded cycle `cycle`, as indices
/// into a list of `count`: a Williams design. Row `r` of the design is the
/// sequence `0, 1, count-1, 2, count-2, …` plus `r` (mod `count`); for an
/// odd `count` the next `count` cycles take the same rows reversed. Over
/// every `count` cycles (`2 * count` for an odd `count`) each configuration
/// is in each position equally often, and directly after each other
/// configuration equally often. For two configurations: `0 1`, `1 0`, ….
fn cycle_order(cycle: usize, count: usize) -> Vec<usize> {
    let shift = cycle % count;
    let mut order: Vec<usize> = (0..count)
        .map(|j| match j {
            0 => 0,
            j if j % 2 == 1 => j.div_ceil(2),
            j => count - j / 2,
        })
        .map(|base| (base + shift) % count)
        .collect();
    if count % 2 == 1 && (cycle / count) % 2 == 1 {
        order.reverse();
    }
    order
}

/// Runs the comparison described in the [module docs](self), with `rounds`
/// recorded rounds per server, and counts allocations with `probe` if
/// given.
///
/// # Errors
///
/// Any failed request, and any failure to set up the servers or the
/// connections.
pub(crate) fn measure(rounds: usize, probe: Option<AllocProbe<'_>>) -> Result<HttpResult, String> {
    if rounds == 0 {
        return Err("at least one round is needed".into());
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a multi_thread runtime: {e}"))?;
    let workers = rt.metrics().num_workers();
    let mix: Arc<[HeaderMap]> = header_mix().into();
    let mut servers = rt.block_on(async {
        let mut servers = Vec::with_capacity(Setup::ALL.len());
        for setup in Setup::ALL {
            servers.push(Server::start(setup).await?);
        }
        Ok::<_, String>(servers)
    })?;
    let count = servers.len();

    // Warm-up, then the recorded rounds in cycles of one round per server,
    // in the rotating order of `cycle_order`.
    for server in &mut servers {
        rt.block_on(server.round(&mix, Length::Timed))?;
    }
    let mut samples = vec![Vec::with_capacity(rounds); count];
    let mut requests = vec![0u64; count];
    for cycle in 0..rounds {
        for which in cycle_order(cycle, count) {
            let (ok, elapsed) = rt.block_on(servers[which].round(&mix, Length::Timed))?;
            requests[which] += ok;
            samples[which].push(ok as f64 / elapsed.as_secs_f64());
        }
    }
    // Per-cycle ratios to bare (index 0 of `Setup::ALL`).
    let paired: Vec<f64> = samples
        .iter()
        .map(|own| {
            let mut ratios: Vec<f64> = own.iter().zip(&samples[0]).map(|(s, b)| s / b).collect();
            ratios.sort_by(f64::total_cmp);
            median(&ratios)
        })
        .collect();

    // Allocations per request: the difference of a short and a long run,
    // so that what a round allocates once (its tasks) does not count.
    let mut allocs = vec![None; count];
    if let Some(probe) = probe {
        for (which, server) in servers.iter_mut().enumerate() {
            let mut counts = [0u64; 2];
            for (count, n) in counts.iter_mut().zip([ALLOC_RUNS.0, ALLOC_RUNS.1]) {
                let mut result = Ok((0, Duration::ZERO));
                *count =
                    probe(&mut || result = rt.block_on(server.round(&mix, Length::Requests(n))));
                result?;
            }
            let extra = (ALLOC_RUNS.1 - ALLOC_RUNS.0) * CONNECTIONS as u64;
            allocs[which] = Some(counts[1].saturating_sub(counts[0]) as f64 / extra as f64);
        }
    }
    drop(servers);
    rt.shutdown_timeout(Duration::from_secs(1));

    // The servers were started in the order of `Setup::ALL`.
    let runs = std::array::from_fn(|which| Run {
        setup: Setup::ALL[which],
        throughput: throughput(
            std::mem::take(&mut samples[which]),
            requests[which],
            allocs[which],
        ),
        paired_vs_bare: paired[which],
    });
    Ok(HttpResult {
        workers,
        connections: CONNECTIONS,
        rounds,
        round: ROUND,
        runs,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::cycle_order;

    /// Over a full run of the design, every configuration takes every
    /// position, and follows every other configuration, equally often.
    #[test]
    fn cycle_order_is_balanced() {
        for count in 1..=7 {
            let cycles = if count % 2 == 0 { count } else { 2 * count };
            let mut positions = vec![vec![0usize; count]; count];
            let mut follows = vec![vec![0usize; count]; count];
            for cycle in 0..cycles {
                let order = cycle_order(cycle, count);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..count).collect::<Vec<_>>(), "{order:?}");
                for (position, &which) in order.iter().enumerate() {
                    positions[which][position] += 1;
                }
                for pair in order.windows(2) {
                    follows[pair[0]][pair[1]] += 1;
                }
            }
            for (which, (positions, follows)) in positions.iter().zip(&follows).enumerate() {
                assert!(positions.iter().all(|&n| n == cycles / count));
                for (other, &n) in follows.iter().enumerate() {
                    let expected = if which == other { 0 } else { cycles / count };
                    assert_eq!(n, expected, "count {count}");
                }
            }
        }
        assert_eq!(cycle_order(0, 2), [0, 1]);
        assert_eq!(cycle_order(1, 2), [1, 0]);
    }
}
