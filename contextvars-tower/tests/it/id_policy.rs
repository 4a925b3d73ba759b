//! The request-id policy over real HTTP/1.1 on 127.0.0.1: whose ids are
//! trusted (everyone, no one, peers by address, requests through a proxy
//! that marks them), the id generator, and the reject hook.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Extension, Router};
use contextvars_tower::w3c::BaggageError;
use contextvars_tower::{
    IncomingField, InvalidRequestId, IpNetwork, MakeRequestId, RejectReason, Rejection,
    RequestContextExt, RequestContextLayer, RequestId, TrustPolicy, REQUEST_ID,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::common::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn probe(headers: HeaderMap, Extension(ext_id): Extension<RequestId>) -> String {
    let mut out = Report::default();
    report_request(&mut out, &headers, &ext_id);
    out.finish()
}

/// Serves the probe behind `layer`, with the peer's address in every
/// request as `ConnectInfo<SocketAddr>` if `connect_info`.
async fn start(layer: RequestContextLayer, connect_info: bool) -> SocketAddr {
    let app = Router::new()
        .route("/probe", get(probe))
        .with_request_context_layer(layer);
    if connect_info {
        let make = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
            SocketAddr,
        >(app);
        spawn_server(|listener| axum::serve(listener, make).into_future()).await
    } else {
        serve_app(app).await
    }
}

async fn probe_with(addr: SocketAddr, headers: &[(&str, &str)]) -> Reply {
    let reply = send(
        http_client(),
        get_request(&format!("http://{addr}/probe"), headers),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
}

/// Checks that every view of the request id agrees, and returns it.
fn request_id(reply: &Reply) -> String {
    let fields = reply.fields();
    let id = fields["request_id"].clone();
    assert_eq!(fields["ext_request_id"], id);
    assert_eq!(fields["header_request_id"], id);
    assert_eq!(reply.header("x-request-id"), id);
    id
}

fn is_uuid_v7(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[14] == b'7'
}

/// A reject hook that records each rejection with the request id the
/// request runs with (read in the hook, from the request's context).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(Rejection, String)>>>);

impl Recorder {
    fn layer(&self, layer: RequestContextLayer) -> RequestContextLayer {
        let sink = self.0.clone();
        layer.on_reject(move |rejection| {
            sink.lock()
                .unwrap()
                .push((*rejection, REQUEST_ID.get().to_string()));
        })
    }

    fn take(&self) -> Vec<(Rejection, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn take_reasons(&self) -> Vec<(IncomingField, RejectReason)> {
        self.take()
            .into_iter()
            .map(|(r, _)| (r.field(), r.reason()))
            .collect()
    }
}

#[tokio::test]
async fn by_default_incoming_ids_are_trusted() {
    let addr = start(RequestContextLayer::new(), false).await;
    let reply = probe_with(addr, &[("x-request-id", "client-1")]).await;
    assert_eq!(request_id(&reply), "client-1");
    // Without a request id, the trace id of the caller's traceparent.
    let reply = probe_with(addr, &[("traceparent", TRACEPARENT)]).await;
    assert_eq!(request_id(&reply), TRACE_ID);
}

#[tokio::test]
async fn trusting_nothing_gives_every_request_a_new_id() {
    let recorder = Recorder::default();
    let layer =
        recorder.layer(RequestContextLayer::new().trust_incoming_ids(TrustPolicy::nothing()));
    let addr = start(layer, false).await;

    let reply = probe_with(
        addr,
        &[("x-request-id", "client-1"), ("traceparent", TRACEPARENT)],
    )
    .await;
    let id = request_id(&reply);
    assert!(is_uuid_v7(&id), "{id}");
    // The trace is continued all the same; only the request id is new.
    let fields = reply.fields();
    assert_eq!(fields["trace_id"], TRACE_ID);
    assert_eq!(fields["parent_span_id"], "00f067aa0ba902b7");
    let rejections = recorder.take();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].0.field(), IncomingField::RequestId);
    assert_eq!(rejections[0].0.reason(), RejectReason::Untrusted);
    assert_eq!(
        rejections[0].1, id,
        "the hook runs in the request's context"
    );

    // A traceparent alone does not supply the id either; nothing rejected.
    let reply = probe_with(addr, &[("traceparent", TRACEPARENT)]).await;
    let id = request_id(&reply);
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(reply.fields()["trace_id"], TRACE_ID);
    assert!(recorder.take().is_empty());
}

#[tokio::test]
async fn trusted_peers_by_address() {
    let loopback: IpNetwork = "127.0.0.0/8".parse().unwrap();
    let elsewhere: IpNetwork = "192.0.2.0/24".parse().unwrap();
    let v6_loopback: IpNetwork = "::1".parse().unwrap();

    // The client connects from 127.0.0.1: trusted.
    let trusting = start(
        RequestContextLayer::new().trust_incoming_ids(TrustPolicy::peers([elsewhere, loopback])),
        true,
    )
    .await;
    let reply = probe_with(trusting, &[("x-request-id", "via-lb")]).await;
    assert_eq!(request_id(&reply), "via-lb");
    let reply = probe_with(trusting, &[("traceparent", TRACEPARENT)]).await;
    assert_eq!(request_id(&reply), TRACE_ID);

    // Not in the trusted networks: the ids are ignored, the trace continues.
    let recorder = Recorder::default();
    let untrusting = start(
        recorder.layer(
            RequestContextLayer::new()
                .trust_incoming_ids(TrustPolicy::peers([elsewhere, v6_loopback])),
        ),
        true,
    )
    .await;
    let reply = probe_with(
        untrusting,
        &[("x-request-id", "spoofed"), ("traceparent", TRACEPARENT)],
    )
    .await;
    let id = request_id(&reply);
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(reply.fields()["trace_id"], TRACE_ID);
    assert_eq!(
        recorder.take_reasons(),
        [(IncomingField::RequestId, RejectReason::Untrusted)]
    );

    // `serve_with_layer_and_connect_info` adds the address.
    let served = spawn_server(|listener| {
        contextvars_tower::serve_with_layer_and_connect_info(
            listener,
            Router::new().route("/probe", get(probe)),
            RequestContextLayer::new().trust_incoming_ids(TrustPolicy::peers([loopback])),
        )
        .into_future()
    })
    .await;
    let reply = probe_with(served, &[("x-request-id", "via-lb")]).await;
    assert_eq!(request_id(&reply), "via-lb");

    // Served without `ConnectInfo`: no address, so no trust.
    let no_address = start(
        RequestContextLayer::new().trust_incoming_ids(TrustPolicy::peers([loopback])),
        false,
    )
    .await;
    let reply = probe_with(no_address, &[("x-request-id", "via-lb")]).await;
    assert!(is_uuid_v7(&request_id(&reply)));
}

#[tokio::test]
async fn trusted_when_a_proxy_header_says_so() {
    let policy = TrustPolicy::header(
        HeaderName::from_static("x-via-edge"),
        HeaderValue::from_static("edge-secret"),
    );
    let addr = start(RequestContextLayer::new().trust_incoming_ids(policy), false).await;

    let reply = probe_with(
        addr,
        &[("x-request-id", "edge-1"), ("x-via-edge", "edge-secret")],
    )
    .await;
    assert_eq!(request_id(&reply), "edge-1");
    let reply = probe_with(
        addr,
        &[("traceparent", TRACEPARENT), ("x-via-edge", "edge-secret")],
    )
    .await;
    assert_eq!(request_id(&reply), TRACE_ID);

    for headers in [
        &[("x-request-id", "edge-1")][..],
        &[("x-request-id", "edge-1"), ("x-via-edge", "guess")],
        &[("x-request-id", "edge-1"), ("x-via-edge", "edge-secret-")],
        &[
            ("x-request-id", "edge-1"),
            ("x-via-edge", "edge-secret"),
            ("x-via-edge", "edge-secret"),
        ],
    ] {
        let reply = probe_with(addr, headers).await;
        assert!(is_uuid_v7(&request_id(&reply)), "{headers:?}");
    }
}

/// Ids from a counter, counting its calls.
struct Counter(AtomicU64);

impl MakeRequestId for Counter {
    fn make_request_id(&self) -> RequestId {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        RequestId::new(&format!("gen-{n}")).unwrap()
    }
}

#[tokio::test]
async fn the_generator_makes_every_new_id_and_only_those() {
    let counter = Arc::new(Counter(AtomicU64::new(0)));
    let make = counter.clone();
    let layer = RequestContextLayer::new().make_request_id(move || make.make_request_id());
    let addr = start(layer, false).await;

    assert_eq!(request_id(&probe_with(addr, &[]).await), "gen-0");
    // An invalid id is replaced with a generated one.
    let reply = probe_with(addr, &[("x-request-id", "a\tb")]).await;
    assert_eq!(request_id(&reply), "gen-1");
    // A valid id, or a traceparent, needs none.
    assert_eq!(
        request_id(&probe_with(addr, &[("x-request-id", "client-9")]).await),
        "client-9"
    );
    assert_eq!(
        request_id(&probe_with(addr, &[("traceparent", TRACEPARENT)]).await),
        TRACE_ID
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);

    // With a policy that trusts nothing, every request calls it.
    let layer = RequestContextLayer::new()
        .make_request_id(Counter(AtomicU64::new(100)))
        .trust_incoming_ids(TrustPolicy::nothing());
    let addr = start(layer, false).await;
    let reply = probe_with(
        addr,
        &[("x-request-id", "client-9"), ("traceparent", TRACEPARENT)],
    )
    .await;
    assert_eq!(request_id(&reply), "gen-100");
    assert_eq!(request_id(&probe_with(addr, &[]).await), "gen-101");
}

/// Sends `head` (raw HTTP/1.1 header lines) to the probe; returns the
/// request id the response carries.
async fn raw_probe(addr: SocketAddr, head: &str) -> Reply {
    let raw = format!("GET /probe HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{head}\r\n");
    let reply = raw_http1(addr, raw.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply
}

#[tokio::test]
async fn the_hook_says_what_was_rejected_and_why_never_the_value() {
    // Every hostile value carries this marker; no rejection may.
    const MARKER: &str = "M4RK3R";
    let recorder = Recorder::default();
    let addr = start(
        recorder.layer(RequestContextLayer::new().max_header_bytes(4096)),
        false,
    )
    .await;

    let members: String = (0..70).map(|i| format!("k{i}=v,")).collect();
    let cases: Vec<(String, Vec<(IncomingField, RejectReason)>)> = vec![
        // Valid values: nothing to report.
        (
            format!("x-request-id: ok-1\r\ntraceparent: {TRACEPARENT}\r\ntracestate: a=1\r\nbaggage: k=v\r\n"),
            vec![],
        ),
        (
            format!("x-request-id: {MARKER} with spaces\r\n"),
            vec![(
                IncomingField::RequestId,
                RejectReason::InvalidRequestId(InvalidRequestId::InvalidByte { index: 6 }),
            )],
        ),
        (
            format!("x-request-id: {}\r\n", MARKER.repeat(30)),
            vec![(
                IncomingField::RequestId,
                RejectReason::InvalidRequestId(InvalidRequestId::TooLong),
            )],
        ),
        (
            format!("x-request-id: {MARKER}-1\r\nx-request-id: {MARKER}-2\r\n"),
            vec![(IncomingField::RequestId, RejectReason::Repeated)],
        ),
        (
            format!("traceparent: 00-{MARKER}\r\ntracestate: {MARKER}=1\r\n"),
            vec![
                (
                    IncomingField::TraceParent,
                    RejectReason::InvalidTraceParent(
                        contextvars_tower::w3c::ParseTraceParentError::WrongLength,
                    ),
                ),
                (IncomingField::TraceState, RejectReason::NoTraceParent),
            ],
        ),
        (
            format!("traceparent: {TRACEPARENT}\r\ntraceparent: {TRACEPARENT}\r\n"),
            vec![(IncomingField::TraceParent, RejectReason::Repeated)],
        ),
        (
            format!("traceparent: {TRACEPARENT}\r\ntracestate: {MARKER}=1\r\n"),
            vec![(
                IncomingField::TraceState,
                RejectReason::InvalidTraceState(
                    contextvars_tower::w3c::ParseTraceStateError::InvalidKey,
                ),
            )],
        ),
        (
            format!("baggage: ok=1,{MARKER} bad=2\r\n"),
            vec![(
                IncomingField::Baggage,
                RejectReason::BaggageMembersDropped(BaggageError::InvalidKey),
            )],
        ),
        (
            format!("baggage: {members}\r\n"),
            vec![(
                IncomingField::Baggage,
                RejectReason::BaggageMembersDropped(BaggageError::TooManyMembers),
            )],
        ),
        (
            format!("x-request-id: {MARKER}\r\nx-big: {}\r\n", "a".repeat(5000)),
            vec![(IncomingField::HeaderList, RejectReason::HeaderListTooLarge)],
        ),
    ];
    for (head, expected) in cases {
        let reply = raw_probe(addr, &head).await;
        let id = request_id(&reply);
        let rejections = recorder.take();
        let reasons: Vec<_> = rejections
            .iter()
            .map(|(r, _)| (r.field(), r.reason()))
            .collect();
        assert_eq!(reasons, expected, "{head:?}");
        for (rejection, hook_id) in &rejections {
            assert_eq!(hook_id, &id, "the hook runs in the request's context");
            for text in [rejection.to_string(), format!("{rejection:?}")] {
                assert!(!text.contains(MARKER), "{text}");
            }
        }
    }
}
