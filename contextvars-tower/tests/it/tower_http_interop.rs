//! Together with tower-http's request-id and trace layers.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Router};
use contextvars_tower::{RequestContextLayer, REQUEST_ID, TRACE};
use http::{Request, Response, StatusCode};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::common::*;

type Log = Arc<Mutex<Vec<(String, String)>>>;

fn record(log: &Log, event: &str) {
    let id = REQUEST_ID
        .get_opt()
        .map_or("-".to_owned(), |id| id.to_string());
    log.lock().unwrap().push((event.to_owned(), id));
}

/// The recommended order: ours outermost, then tower-http's layers.
fn recommended(log: Log) -> Router {
    let (on_span, on_request, on_response) = (log.clone(), log.clone(), log);
    Router::new()
        .route(
            "/",
            get(
                |Extension(theirs): Extension<tower_http::request_id::RequestId>| async move {
                    // tower-http's extension holds the same, validated id.
                    let theirs = theirs.header_value().to_str().unwrap().to_owned();
                    format!("{} {theirs}", REQUEST_ID.get())
                },
            ),
        )
        .layer(
            ServiceBuilder::new()
                .layer(RequestContextLayer::new())
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(move |_req: &Request<Body>| {
                            record(&on_span, "make_span");
                            tracing::info_span!(
                                "request",
                                request_id = %REQUEST_ID.get(),
                                trace_id = %TRACE.get().trace_id(),
                            )
                        })
                        .on_request(move |_req: &Request<Body>, _span: &tracing::Span| {
                            record(&on_request, "on_request");
                        })
                        .on_response(
                            move |_res: &Response<Body>,
                                  _latency: std::time::Duration,
                                  _span: &tracing::Span| {
                                record(&on_response, "on_response");
                            },
                        ),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_layer_callbacks_and_request_id_layers_see_the_validated_id() {
    let log: Log = Arc::default();
    let addr = serve(recommended(log.clone())).await;
    let client = http_client();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        // Every third id is invalid and gets replaced.
        let id = if i % 3 == 0 {
            format!("bad id {i}")
        } else {
            format!("good-{i}")
        };
        tasks.push(tokio::spawn(async move {
            let reply = send(
                client,
                get_request(&format!("http://{addr}/"), &[("x-request-id", &id)]),
            )
            .await;
            (id, reply)
        }));
    }
    let mut served = Vec::new();
    for task in tasks {
        let (sent, reply) = tokio::time::timeout(HANG_GUARD, task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let (ours, theirs) = reply.body.split_once(' ').unwrap();
        assert_eq!(ours, theirs, "tower-http's RequestId extension");
        assert_eq!(
            reply.header("x-request-id"),
            ours,
            "echoed once, by either layer"
        );
        assert_eq!(reply.headers.get_all("x-request-id").iter().count(), 1);
        if sent.starts_with("good") {
            assert_eq!(ours, sent);
        } else {
            assert_ne!(ours, sent);
            assert_eq!(ours.len(), 36, "a new UUIDv7, not tower-http's UUIDv4");
            assert_eq!(&ours[14..15], "7");
        }
        served.push(ours.to_owned());
    }
    let log = log.lock().unwrap();
    for event in ["make_span", "on_request", "on_response"] {
        let mut seen: Vec<&str> = log
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, id)| id.as_str())
            .collect();
        seen.sort();
        let mut expected: Vec<&str> = served.iter().map(String::as_str).collect();
        expected.sort();
        assert_eq!(seen, expected, "{event} ran in each request's context");
    }
}

/// Why the order matters: a `TraceLayer` outside ours runs before the request
/// has its context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_layer_outside_the_request_context_layer_sees_nothing() {
    let log: Log = Arc::default();
    let (on_span, on_response) = (log.clone(), log.clone());
    let app = Router::new()
        .route("/", get(|| async { REQUEST_ID.get().to_string() }))
        .layer(
            ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(move |_req: &Request<Body>| {
                            record(&on_span, "make_span");
                            tracing::Span::none()
                        })
                        .on_response(
                            move |_res: &Response<Body>,
                                  _latency: std::time::Duration,
                                  _span: &tracing::Span| {
                                record(&on_response, "on_response");
                            },
                        ),
                )
                .layer(RequestContextLayer::new()),
        );
    let addr = serve(app).await;
    let reply = send(
        http_client(),
        get_request(&format!("http://{addr}/"), &[("x-request-id", "r-1")]),
    )
    .await;
    assert_eq!(reply.body, "r-1");
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [
            ("make_span".to_owned(), "-".to_owned()),
            ("on_response".to_owned(), "-".to_owned())
        ]
    );
}
