//! The header-size limit `RequestContextLayer` checks, over real HTTP/1.1
//! on 127.0.0.1: exact at the byte, the same for every request, whatever
//! hyper lets through (hyper's own limit is checked as data arrives, so it
//! is not exact; see the crate's limitations).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use contextvars_tower::{HeaderListTooLarge, RequestContextLayer, RequestId, BAGGAGE, TRACE};
use http::{HeaderMap, StatusCode};

use crate::common::*;

/// The recipe of `RequestContextLayer::max_header_bytes`: requests the
/// layer marked are answered `431`.
async fn refuse_too_large(request: Request, next: Next) -> Result<Response, StatusCode> {
    if request.extensions().get::<HeaderListTooLarge>().is_some() {
        return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    Ok(next.run(request).await)
}

async fn probe(
    State(runs): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    Extension(id): Extension<RequestId>,
    marker: Option<Extension<HeaderListTooLarge>>,
) -> String {
    runs.fetch_add(1, Ordering::SeqCst);
    let mut out = Report::default();
    out.add("request_id", id);
    out.add("header_request_id", header_str(&headers, "x-request-id"));
    out.add(
        "parent",
        TRACE
            .get()
            .parent_span_id()
            .map_or("-".to_owned(), |p| p.to_string()),
    );
    out.add("baggage", BAGGAGE.get());
    out.add(
        "too_large",
        marker.map_or("-".to_owned(), |Extension(m)| m.limit().to_string()),
    );
    out.finish()
}

/// A server with `layer`, answering `431` to marked requests if `refuse`.
async fn start(layer: RequestContextLayer, refuse: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut app = Router::new()
        .route("/probe", get(probe))
        .with_state(runs.clone());
    if refuse {
        app = app.layer(middleware::from_fn(refuse_too_large));
    }
    (serve(app.layer(layer)).await, runs)
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A request whose header section, as the layer measures it (name, value
/// and 32 bytes per field), is `size` bytes: `host`, `connection`,
/// `x-request-id`, `traceparent`, `baggage`, and `x-pad` to make up the size.
fn request_of_size(size: usize) -> Vec<u8> {
    let fixed = [
        ("host", "127.0.0.1"),
        ("connection", "close"),
        ("x-request-id", "given-id"),
        ("traceparent", TRACEPARENT),
        ("baggage", "user=ada"),
    ];
    let used: usize = fixed.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
    let pad = size - used - ("x-pad".len() + 32);
    let mut raw = b"GET /probe HTTP/1.1\r\n".to_vec();
    for (name, value) in fixed {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(format!("x-pad: {}\r\n\r\n", "a".repeat(pad)).as_bytes());
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_limit_is_exact_to_the_byte_over_http1() {
    let limit = 100_000;
    let layer = RequestContextLayer::new().max_header_bytes(limit);
    let (addr, runs) = start(layer.clone(), false).await;

    // At the limit: every header read.
    let reply = raw_http1(addr, &request_of_size(limit)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let f = reply.fields();
    assert_eq!(f["request_id"], "given-id");
    assert_eq!(f["parent"], "00f067aa0ba902b7");
    assert_eq!(f["baggage"], "user=ada");
    assert_eq!(f["too_large"], "-");

    // One byte over: served, but no header read, and marked.
    let reply = raw_http1(addr, &request_of_size(limit + 1)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let f = reply.fields();
    assert_ne!(f["request_id"], "given-id");
    assert_eq!(f["request_id"].len(), 36, "a new UUIDv7");
    assert_eq!(f["header_request_id"], f["request_id"], "header replaced");
    assert_eq!(reply.header("x-request-id"), f["request_id"], "echoed");
    assert_eq!(f["parent"], "-", "a new trace");
    assert_eq!(f["baggage"], "");
    assert_eq!(f["too_large"], limit.to_string());
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    // With the recipe's middleware: `431` one byte over, the handler never
    // runs; at the limit, served.
    let (addr, runs) = start(layer, true).await;
    let reply = raw_http1(addr, &request_of_size(limit + 1)).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(reply.header("x-request-id").len(), 36, "a new id, echoed");
    let reply = raw_http1(addr, &request_of_size(limit)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_refuses_every_request_hyper_lets_through() {
    let run = async {
        // The default, 64 KiB, with the recipe's `431`.
        let (addr, runs) = start(RequestContextLayer::new(), true).await;
        let at_default = RequestContextLayer::DEFAULT_MAX_HEADER_BYTES;
        let reply = raw_http1(addr, &request_of_size(at_default)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.fields()["request_id"], "given-id");
        // Below hyper's HTTP/1.1 read buffer (408 KiB), which accepts all of
        // these: the layer's limit decides, the same way every time.
        for size in [at_default + 1, 70_000, 200_000, 300_000] {
            for _ in 0..5 {
                let reply = raw_http1(addr, &request_of_size(size)).await;
                assert_eq!(
                    reply.status,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "{size}"
                );
            }
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // The check turned off: hyper alone serves them all, every header
        // read.
        let layer = RequestContextLayer::new().max_header_bytes(usize::MAX);
        let (addr, runs) = start(layer, true).await;
        for size in [70_000, 200_000, 300_000] {
            for _ in 0..5 {
                let reply = raw_http1(addr, &request_of_size(size)).await;
                assert_eq!(reply.status, StatusCode::OK, "{size}");
                assert_eq!(reply.fields()["request_id"], "given-id");
            }
        }
        assert_eq!(runs.load(Ordering::SeqCst), 15);
    };
    tokio::time::timeout(HANG_GUARD, run).await.expect("hung");
}
