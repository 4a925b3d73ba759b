//! The HTTP comparison: requests per second of a minimal axum app, bare and
//! behind `contextvars_tower::RequestContextLayer`, on loopback, with the
//! load generator in the same process.
//!
//! Two servers run side by side on `127.0.0.1` (ephemeral ports), served by
//! `axum::serve` on one multi-thread tokio runtime; they differ only in the
//! layer and in what the handler does with it (the layered handler reads
//! [`REQUEST_ID`], as a handler that logs or forwards the id would). Both
//! answer `GET /` with the same two-byte body.
//!
//! The load generator, on the same runtime, holds [`CONNECTIONS`] keep-alive
//! HTTP/1.1 connections to each server (hyper's `client::conn::http1`, no
//! pool in between), and on each one sends requests back to back, every
//! request waiting for the previous response. The requests cycle through the
//! same [`header mix`](header_mix) for both servers. Every response is
//! checked (status 200, the body, and the `x-request-id` echo present exactly
//! when the layer is there); a single failure fails the whole measurement.
//!
//! As in [`harness`](contextvars_benches::harness), the two configurations
//! are timed in short rounds that alternate between them, so that a slow
//! spell of the shared machine hits both alike: one warm-up round each, then
//! [`ROUNDS`] pairs of rounds of [`ROUND`] each, the order within a pair
//! swapped every other pair (bare, layered, layered, bare, …) so that a
//! drift in the machine's speed does not favour either. A configuration's
//! requests/s is the median over its rounds.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::Router;
use contextvars_benches::harness::{median, AllocProbe};
use contextvars_tower::{RequestContextLayer, REQUEST_ID};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Keep-alive connections per server, each with one request in flight.
pub(crate) const CONNECTIONS: usize = 8;
/// Duration of one round.
pub(crate) const ROUND: Duration = Duration::from_millis(250);
/// Recorded rounds per server, after one warm-up round each.
pub(crate) const ROUNDS: usize = 11;
/// Distinct requests in the [`header_mix`], cycled by every connection.
const MIX_LEN: usize = 64;
/// Requests per connection of the short and the long run of the
/// allocation count (see [`HttpResult`]'s `allocs_per_request`).
const ALLOC_RUNS: (u64, u64) = (20, 220);

/// The body of every response.
const BODY: &str = "ok";

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

/// Requests per second of one axum app, bare and behind the request-context
/// layer of `contextvars-tower`.
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
    /// Bare axum.
    pub(crate) bare: Throughput,
    /// The same app behind the layer.
    pub(crate) layered: Throughput,
    /// Median of layered / bare over the pairs of adjacent rounds: less
    /// sensitive to drift than the ratio of the medians, shown to judge the
    /// noise.
    pub(crate) paired_ratio: f64,
    /// Wall time of the whole comparison, set-up and allocation count
    /// included.
    pub(crate) elapsed: Duration,
}

impl HttpResult {
    /// `http_vs_bare`: median requests/s behind the layer / median
    /// requests/s bare.
    pub(crate) fn ratio(&self) -> f64 {
        self.layered.median_rps / self.bare.median_rps
    }
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
/// response, and checks every response.
async fn drive(
    mut sender: SendRequest<Empty<Bytes>>,
    mix: Arc<[HeaderMap]>,
    first: usize,
    until: Until,
    layered: bool,
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
        if status != StatusCode::OK || body != BODY || echoed != layered {
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
    name: &'static str,
    layered: bool,
    connections: Vec<SendRequest<Empty<Bytes>>>,
}

impl Server {
    /// Serves `GET /` on `127.0.0.1:0`, with or without the layer, and opens
    /// [`CONNECTIONS`] connections to it. Runs on the runtime of the caller.
    async fn start(layered: bool) -> Result<Server, String> {
        let app = if layered {
            Router::new()
                .route("/", get(self::layered))
                .layer(RequestContextLayer::new())
        } else {
            Router::new().route("/", get(bare))
        };
        let name = if layered { "layered" } else { "bare" };
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
        Ok(Server {
            name,
            layered,
            connections,
        })
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
                tokio::spawn(drive(sender, mix.clone(), first, until, self.layered))
            })
            .collect();
        let (mut ok, mut failures, mut first_failure, mut last) = (0, 0, None, start);
        for task in tasks {
            let (sender, outcome) = task
                .await
                .map_err(|e| format!("{} client task: {e}", self.name))?;
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
                self.name,
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
    let (mut bare, mut layered) = rt.block_on(async {
        Ok::<_, String>((Server::start(false).await?, Server::start(true).await?))
    })?;

    // Warm-up, then the recorded rounds in pairs, the order swapped every
    // other pair.
    rt.block_on(bare.round(&mix, Length::Timed))?;
    rt.block_on(layered.round(&mix, Length::Timed))?;
    let mut samples = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    let mut requests = [0u64; 2];
    for pair in 0..rounds {
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let server = if which == 0 { &mut bare } else { &mut layered };
            let (ok, elapsed) = rt.block_on(server.round(&mix, Length::Timed))?;
            requests[which] += ok;
            samples[which].push(ok as f64 / elapsed.as_secs_f64());
        }
    }
    let mut ratios: Vec<f64> = samples[1]
        .iter()
        .zip(&samples[0])
        .map(|(l, b)| l / b)
        .collect();
    ratios.sort_by(f64::total_cmp);

    // Allocations per request: the difference of a short and a long run,
    // so that what a round allocates once (its tasks) does not count.
    let mut allocs = [None, None];
    if let Some(probe) = probe {
        for (which, server) in [&mut bare, &mut layered].into_iter().enumerate() {
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
    drop((bare, layered));
    rt.shutdown_timeout(Duration::from_secs(1));

    let [bare_samples, layered_samples] = samples;
    Ok(HttpResult {
        workers,
        connections: CONNECTIONS,
        rounds,
        round: ROUND,
        bare: throughput(bare_samples, requests[0], allocs[0]),
        layered: throughput(layered_samples, requests[1], allocs[1]),
        paired_ratio: median(&ratios),
        elapsed: started.elapsed(),
    })
}
