//! Hostile and malformed headers, sent as raw bytes over HTTP/1.1 (and
//! HTTP/2 for header-size limits). Each case has one expected outcome; the
//! request succeeds wherever hyper lets it through, and nothing invalid is
//! ever stored or echoed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use contextvars_tower::{RequestContextLayer, RequestId};
use http::{HeaderMap, StatusCode};

use crate::common::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[derive(Debug)]
enum Expect {
    /// hyper answers with this status before any layer runs; the handler
    /// never sees the request.
    Rejected(u16),
    /// Served, with this request id.
    RequestId(String),
    /// Served; the incoming request id was invalid and replaced with a new
    /// UUIDv7 (there is no traceparent to take it from).
    Replaced,
    /// Served; the traceparent was ignored: a new trace, and a new UUIDv7
    /// request id.
    NewTrace,
    /// Served; the trace continues `TRACE_ID` from `PARENT_ID`, and the
    /// request id is the trace id.
    Continued,
    /// Served, and continued, with this tracestate.
    ContinuedWithTraceState(&'static str),
    /// Served, with this many baggage members, the first and last keys given.
    Baggage(usize, &'static str, &'static str),
}

async fn probe(
    State(runs): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    Extension(ext_id): Extension<RequestId>,
) -> String {
    runs.fetch_add(1, Ordering::SeqCst);
    let mut out = Report::default();
    report_request(&mut out, &headers, &ext_id);
    out.finish()
}

async fn start_probe() -> (SocketAddr, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let addr = serve(
        Router::new()
            .route("/probe", get(probe))
            .with_state(runs.clone())
            .layer(RequestContextLayer::new()),
    )
    .await;
    (addr, runs)
}

fn is_uuid_v7(s: &str) -> bool {
    s.len() == 36
        && s.as_bytes()[14] == b'7'
        && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

fn tp(s: &str) -> Vec<u8> {
    format!("traceparent: {s}\r\n").into_bytes()
}

fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::*;
    let valid_tp = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    // 5,000 members: about 34 KB, under the layer's 64 KiB limit.
    let many_baggage: String = (0..5_000).map(|i| format!("k{i}=v,")).collect();
    let many_tracestate: String = (0..5_000).map(|i| format!("k{i}=v,")).collect();
    let too_many_tracestate: String = (0..10_000).map(|i| format!("k{i}=v,")).collect();
    vec![
        // --- Request ids: CR, LF and control characters ---
        (
            "bare CR",
            b"x-request-id: abc\rdef\r\n".to_vec(),
            Rejected(400),
        ),
        // A bare LF ends the header line: the rest is another header.
        (
            "bare LF",
            b"x-request-id: abc\ninjected: 1\r\n".to_vec(),
            RequestId("abc".into()),
        ),
        (
            "obsolete line folding",
            b"x-request-id: abc\r\n def\r\n".to_vec(),
            Rejected(400),
        ),
        ("NUL", b"x-request-id: a\x00b\r\n".to_vec(), Rejected(400)),
        ("SOH", b"x-request-id: a\x01b\r\n".to_vec(), Rejected(400)),
        (
            "ANSI escape",
            b"x-request-id: \x1b[31mred\r\n".to_vec(),
            Rejected(400),
        ),
        ("DEL", b"x-request-id: a\x7fb\r\n".to_vec(), Rejected(400)),
        // hyper lets these through; the layer replaces them.
        ("tab inside", b"x-request-id: a\tb\r\n".to_vec(), Replaced),
        ("space inside", b"x-request-id: a b\r\n".to_vec(), Replaced),
        (
            "UTF-8",
            "x-request-id: réq-1\r\n".as_bytes().to_vec(),
            Replaced,
        ),
        (
            "Latin-1 byte",
            b"x-request-id: r\xe9q\r\n".to_vec(),
            Replaced,
        ),
        ("empty", b"x-request-id: \r\n".to_vec(), Replaced),
        (
            "twice",
            b"x-request-id: a\r\nx-request-id: b\r\n".to_vec(),
            Replaced,
        ),
        (
            "128 bytes",
            format!("x-request-id: {}\r\n", "a".repeat(128)).into_bytes(),
            RequestId("a".repeat(128)),
        ),
        (
            "129 bytes",
            format!("x-request-id: {}\r\n", "a".repeat(129)).into_bytes(),
            Replaced,
        ),
        // Under hyper's HTTP/1.1 limit (~400 KB), at the layer's default
        // limit (64 KiB): served, no header read, the id replaced.
        (
            "64 KB",
            format!("x-request-id: {}\r\n", "a".repeat(64 * 1024)).into_bytes(),
            Replaced,
        ),
        // Over it: hyper answers 431 before any layer runs, so nothing of
        // the value is stored or logged.
        (
            "1 MB",
            format!("x-request-id: {}\r\n", "a".repeat(1024 * 1024)).into_bytes(),
            Rejected(431),
        ),
        // Visible ASCII is accepted as is, quotes and braces included.
        (
            "JSON-ish",
            b"x-request-id: {\"a\":1}\r\n".to_vec(),
            RequestId("{\"a\":1}".into()),
        ),
        // An invalid id with a valid traceparent: the trace id.
        (
            "invalid id, valid traceparent",
            [b"x-request-id: a b\r\n".to_vec(), tp(&valid_tp)].concat(),
            Continued,
        ),
        // --- traceparent ---
        ("valid traceparent", tp(&valid_tp), Continued),
        (
            "traceparent with OWS",
            format!("traceparent: \t {valid_tp} \t\r\n").into_bytes(),
            Continued,
        ),
        ("uppercase hex", tp(&valid_tp.to_uppercase()), NewTrace),
        (
            "uppercase trace id only",
            tp(&format!("00-{}-{PARENT_ID}-01", TRACE_ID.to_uppercase())),
            NewTrace,
        ),
        (
            "short trace id",
            tp(&format!("00-{}-{PARENT_ID}-01", &TRACE_ID[1..])),
            NewTrace,
        ),
        (
            "long trace id",
            tp(&format!("00-{TRACE_ID}0-{PARENT_ID}-01")),
            NewTrace,
        ),
        (
            "short parent id",
            tp(&format!("00-{TRACE_ID}-{}-01", &PARENT_ID[1..])),
            NewTrace,
        ),
        (
            "long parent id",
            tp(&format!("00-{TRACE_ID}-{PARENT_ID}0-01")),
            NewTrace,
        ),
        (
            "short flags",
            tp(&format!("00-{TRACE_ID}-{PARENT_ID}-1")),
            NewTrace,
        ),
        (
            "version ff",
            tp(&format!("ff-{TRACE_ID}-{PARENT_ID}-01")),
            NewTrace,
        ),
        (
            "all-zero trace id",
            tp(&format!("00-{}-{PARENT_ID}-01", "0".repeat(32))),
            NewTrace,
        ),
        (
            "all-zero parent id",
            tp(&format!("00-{TRACE_ID}-{}-01", "0".repeat(16))),
            NewTrace,
        ),
        (
            "version 00, extra field",
            tp(&format!("{valid_tp}-extra")),
            NewTrace,
        ),
        (
            "future version, extra fields",
            tp(&format!(
                "cc-{TRACE_ID}-{PARENT_ID}-01-what-the-future-will-be-like"
            )),
            Continued,
        ),
        (
            "future version, exact length",
            tp(&format!("cc-{TRACE_ID}-{PARENT_ID}-01")),
            Continued,
        ),
        (
            "future version, no dash after flags",
            tp(&format!("cc-{TRACE_ID}-{PARENT_ID}-01.future")),
            NewTrace,
        ),
        (
            "two traceparents",
            [tp(&valid_tp), tp(&valid_tp)].concat(),
            NewTrace,
        ),
        (
            "non-ASCII traceparent",
            [
                b"traceparent: 00-".to_vec(),
                "é".repeat(16).into_bytes(),
                format!("-{PARENT_ID}-01\r\n").into_bytes(),
            ]
            .concat(),
            NewTrace,
        ),
        ("garbage traceparent", tp("hello"), NewTrace),
        // --- tracestate ---
        (
            "invalid tracestate",
            [tp(&valid_tp), b"tracestate: FOO=1\r\n".to_vec()].concat(),
            ContinuedWithTraceState(""),
        ),
        (
            "5,000 tracestate members",
            [
                tp(&valid_tp),
                format!("tracestate: {many_tracestate}\r\n").into_bytes(),
            ]
            .concat(),
            ContinuedWithTraceState(""),
        ),
        // Over the layer's 64 KiB limit: no header read, not even the
        // traceparent.
        (
            "10,000 tracestate members",
            [
                tp(&valid_tp),
                format!("tracestate: {too_many_tracestate}\r\n").into_bytes(),
            ]
            .concat(),
            NewTrace,
        ),
        (
            "tracestate fields combined",
            [
                tp(&valid_tp),
                b"tracestate: a=1\r\ntracestate: b=2\r\n".to_vec(),
            ]
            .concat(),
            ContinuedWithTraceState("a=1,b=2"),
        ),
        (
            "tracestate with Trace Context Level 2 keys",
            [
                tp(&valid_tp),
                b"tracestate: foo@=1,foo@@bar=2,1foo=3\r\n".to_vec(),
            ]
            .concat(),
            ContinuedWithTraceState("foo@=1,foo@@bar=2,1foo=3"),
        ),
        (
            "tracestate with a key repeated across fields",
            [
                tp(&valid_tp),
                b"tracestate: congo=1,rojo=2\r\ntracestate: congo=3\r\n".to_vec(),
            ]
            .concat(),
            ContinuedWithTraceState("congo=1,rojo=2"),
        ),
        // --- baggage ---
        (
            "5,000 baggage members",
            format!("baggage: {many_baggage}\r\n").into_bytes(),
            Baggage(64, "k0", "k63"),
        ),
        (
            "non-ASCII baggage field",
            b"baggage: a=\xe9\r\nbaggage: b=2\r\n".to_vec(),
            Baggage(1, "b", "b"),
        ),
        // More header fields than hyper's HTTP/1.1 default of 100.
        (
            "150 baggage fields",
            "baggage: a=1\r\n".repeat(150).into_bytes(),
            Rejected(431),
        ),
        (
            "one oversized member",
            format!("baggage: a=1,big={},c=3\r\n", "x".repeat(9000)).into_bytes(),
            Baggage(1, "a", "a"),
        ),
    ]
}

fn check(name: &str, raw: &[u8], expect: &Expect, reply: &Reply, handler_ran: bool) {
    if let Expect::Rejected(code) = expect {
        assert_eq!(reply.status.as_u16(), *code, "{name}");
        assert!(!handler_ran, "{name}: the handler saw a rejected request");
        return;
    }
    assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
    assert!(handler_ran, "{name}");
    let f: HashMap<String, String> = reply.fields();
    let id = f["request_id"].as_str();
    // Whatever happened, every place that holds the id holds the same valid one.
    assert!(
        contextvars_tower::RequestId::new(id).is_ok(),
        "{name}: {id:?}"
    );
    assert_eq!(f["ext_request_id"], id, "{name}");
    assert_eq!(
        f["header_request_id"], id,
        "{name}: the handler saw another header"
    );
    assert_eq!(reply.header("x-request-id"), id, "{name}: echo");
    // An invalid id that came in is stored, reported and echoed nowhere.
    if !matches!(expect, Expect::RequestId(_)) {
        if let Some(start) = find(raw, b"x-request-id: ") {
            let rest = &raw[start + 14..];
            let value = &rest[..rest.iter().position(|&b| b == b'\r' || b == b'\n').unwrap()];
            assert_ne!(id.as_bytes(), value, "{name}: raw value stored");
            if value.len() >= 3 {
                let text = String::from_utf8_lossy(value);
                assert!(
                    !reply.body.contains(&*text),
                    "{name}: raw value reached the handler"
                );
            }
        }
    }
    match expect {
        Expect::Rejected(_) => unreachable!(),
        Expect::RequestId(expected) => assert_eq!(id, expected, "{name}"),
        Expect::Replaced => {
            assert!(is_uuid_v7(id), "{name}: {id}");
            assert_eq!(f["parent_span_id"], "-", "{name}");
        }
        Expect::NewTrace => {
            assert!(is_uuid_v7(id), "{name}: {id}");
            assert_ne!(f["trace_id"], TRACE_ID, "{name}");
            assert_eq!(f["parent_span_id"], "-", "{name}");
            assert_eq!(f["tracestate"], "", "{name}");
        }
        Expect::Continued => {
            assert_eq!(id, TRACE_ID, "{name}");
            assert_eq!(f["trace_id"], TRACE_ID, "{name}");
            assert_eq!(f["parent_span_id"], PARENT_ID, "{name}");
        }
        Expect::ContinuedWithTraceState(state) => {
            assert_eq!(f["trace_id"], TRACE_ID, "{name}");
            assert_eq!(f["parent_span_id"], PARENT_ID, "{name}");
            assert_eq!(f["tracestate"], *state, "{name}");
        }
        Expect::Baggage(len, first, last) => {
            assert_eq!(f["baggage_len"], len.to_string(), "{name}");
            let baggage: contextvars_tower::w3c::Baggage = f["baggage"].parse().unwrap();
            assert_eq!(baggage.iter().next().unwrap().key(), *first, "{name}");
            assert_eq!(baggage.iter().last().unwrap().key(), *last, "{name}");
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_headers_over_http1() {
    let (addr, runs) = start_probe().await;
    let run = async {
        for (name, headers, expect) in cases() {
            let mut raw =
                b"GET /probe HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n".to_vec();
            raw.extend_from_slice(&headers);
            raw.extend_from_slice(b"\r\n");
            let before = runs.load(Ordering::SeqCst);
            let reply = raw_http1(addr, &raw).await;
            let handler_ran = runs.load(Ordering::SeqCst) != before;
            check(name, &headers, &expect, &reply, handler_ran);
        }
    };
    tokio::time::timeout(HANG_GUARD, run).await.expect("hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_over_http2_are_rejected_by_hyper() {
    let (addr, runs) = start_probe().await;
    let mut sender = http2_connection(addr).await;
    let url = format!("http://{addr}/probe");

    // Within hyper's 16 KB HTTP/2 header-list limit: served, id replaced.
    let ten_kb = "a".repeat(10 * 1024);
    let reply = send_http2(&mut sender, get_request(&url, &[("x-request-id", &ten_kb)])).await;
    assert_eq!(reply.status, StatusCode::OK);
    let id = reply.fields()["request_id"].clone();
    assert!(is_uuid_v7(&id), "{id}");
    assert_eq!(reply.header("x-request-id"), id);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Above it: 431 from hyper (h2), the handler never runs, the connection
    // lives on.
    let twenty_kb = "a".repeat(20 * 1024);
    let reply = send_http2(
        &mut sender,
        get_request(&url, &[("x-request-id", &twenty_kb)]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let reply = send_http2(&mut sender, get_request(&url, &[("x-request-id", "after")])).await;
    assert_eq!(reply.fields()["request_id"], "after");
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // Above 4 times the limit (64 KB): h2 closes the whole connection with
    // GOAWAY (ENHANCE_YOUR_CALM); the handler never runs.
    let sixty_four_kb = "a".repeat(64 * 1024);
    let result = sender
        .send_request(get_request(&url, &[("x-request-id", &sixty_four_kb)]))
        .await;
    let err = result.expect_err("the connection is closed");
    assert!(format!("{err:?}").contains("ENHANCE_YOUR_CALM"), "{err:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // The server itself is fine.
    let mut sender = http2_connection(addr).await;
    let reply = send_http2(&mut sender, get_request(&url, &[("x-request-id", "fresh")])).await;
    assert_eq!(reply.fields()["request_id"], "fresh");
}
