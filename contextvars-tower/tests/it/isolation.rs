//! Requests served concurrently, or one after another on one connection,
//! each see only their own context: in the handler, after awaits, in spawned
//! tasks and blocking closures, and in what a backend receives.

use std::collections::HashSet;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use contextvars_tower::w3c::TraceParent;
use contextvars_tower::RequestContextLayer;
use http::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use crate::common::*;

const REQUESTS: usize = 200;
const CONNECTIONS: usize = 2;

fn trace_id(i: usize) -> String {
    format!("{:016x}{:016x}", 0xabc, i + 1)
}

fn parent_id(i: usize) -> String {
    format!("{:016x}", 0x1000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_multiplexed_on_two_connections_see_only_their_own_context() {
    let backend = start_backend().await;
    // Every handler waits until all 200 are in flight at once, so their
    // contexts are all alive and interleaved on the 2 worker threads.
    let frontend = start_frontend(backend, Some(Arc::new(Barrier::new(REQUESTS)))).await;

    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        connections.push(http2_connection(frontend).await);
    }
    let mut tasks = Vec::new();
    for i in 0..REQUESTS {
        let mut sender = connections[i % CONNECTIONS].clone();
        let id = format!("req-{i:03}");
        let baggage = format!("user=u{i},secret=s{i}");
        let traceparent = format!("00-{}-{}-01", trace_id(i), parent_id(i));
        let tracestate = format!("vendor=v{i}");
        let mut headers = vec![("x-request-id", id.as_str()), ("baggage", baggage.as_str())];
        if i % 2 == 0 {
            headers.push(("traceparent", traceparent.as_str()));
            headers.push(("tracestate", tracestate.as_str()));
        }
        let request = get_request(&format!("http://{frontend}/work"), &headers);
        tasks.push(tokio::spawn(async move {
            send_http2(&mut sender, request).await
        }));
    }
    let replies = tokio::time::timeout(HANG_GUARD, async {
        let mut replies = Vec::new();
        for task in tasks {
            replies.push(task.await.unwrap());
        }
        replies
    })
    .await
    .expect("requests hung: were they served concurrently?");

    let mut new_trace_ids = HashSet::new();
    let mut outbound_span_ids = HashSet::new();
    for (i, reply) in replies.iter().enumerate() {
        let id = format!("req-{i:03}");
        assert_eq!(reply.status, StatusCode::OK, "{i}: {}", reply.body);
        assert_eq!(reply.header("x-request-id"), id, "echoed");
        let f = reply.fields();
        let field = |key: &str| {
            f.get(key)
                .unwrap_or_else(|| panic!("{i}: no {key} in {}", reply.body))
                .as_str()
        };

        for key in [
            "request_id",
            "ext_request_id",
            "header_request_id",
            "after_await",
            "task_request_id",
            "blocking_request_id",
            "scratch_after_await",
            "task_scratch",
        ] {
            assert_eq!(field(key), id, "{i}: {key}");
        }
        assert_eq!(
            field("scratch_before"),
            "-",
            "{i}: a set leaked in from another request"
        );
        assert_eq!(field("baggage"), format!("user=u{i},secret=s{i}"), "{i}");

        let handler_trace = field("trace_id");
        let handler_span = field("span_id");
        assert_eq!(field("blocking_trace_id"), handler_trace, "{i}");
        assert_eq!(field("flags"), "01", "{i}");
        if i % 2 == 0 {
            assert_eq!(handler_trace, trace_id(i), "{i}: trace continued");
            assert_eq!(field("parent_span_id"), parent_id(i), "{i}");
            assert_eq!(field("tracestate"), format!("vendor=v{i}"), "{i}");
        } else {
            assert_eq!(field("parent_span_id"), "-", "{i}: new trace");
            assert_eq!(field("tracestate"), "", "{i}");
            assert!(
                new_trace_ids.insert(handler_trace.to_owned()),
                "{i}: trace id reused"
            );
        }
        assert_ne!(
            handler_span,
            parent_id(i),
            "{i}: this hop has its own span id"
        );

        let mut calls_parents = HashSet::new();
        for call in 0..3 {
            let b = |key: &str| field(&format!("backend{call}.{key}")).to_owned();
            assert_eq!(b("status"), "200", "{i}/{call}");
            assert_eq!(b("received.x-request-id"), id, "{i}/{call}");
            assert_eq!(b("request_id"), id, "{i}/{call}: the backend's REQUEST_ID");
            let sent: TraceParent = b("received.traceparent").parse().unwrap();
            assert_eq!(
                sent.trace_id().to_string(),
                handler_trace,
                "{i}/{call}: same trace"
            );
            assert_eq!(sent.flags().to_string(), "01", "{i}/{call}");
            let sent_parent = sent.parent_id().to_string();
            assert_ne!(sent_parent, handler_span, "{i}/{call}: a new span per call");
            assert_ne!(sent_parent, parent_id(i), "{i}/{call}");
            assert_eq!(
                b("parent_span_id"),
                sent_parent,
                "{i}/{call}: backend continued it"
            );
            assert_eq!(b("trace_id"), handler_trace, "{i}/{call}");
            assert!(
                calls_parents.insert(sent_parent.clone()),
                "{i}/{call}: parent reused"
            );
            assert!(
                outbound_span_ids.insert(sent_parent),
                "{i}/{call}: span id reused"
            );
            let expected_state = if i % 2 == 0 {
                format!("vendor=v{i}")
            } else {
                "-".to_owned()
            };
            assert_eq!(b("received.tracestate"), expected_state, "{i}/{call}");
            // Exported variable first, then the allow-listed member; never `secret`.
            assert_eq!(
                b("received.baggage"),
                format!("tenant=tenant-{id},user=u{i}"),
                "{i}/{call}"
            );
        }
    }
    assert_eq!(new_trace_ids.len(), REQUESTS / 2);
    assert_eq!(outbound_span_ids.len(), REQUESTS * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_on_one_http1_connection_do_not_share_sets() {
    let backend = start_backend().await;
    let frontend = start_frontend(backend, None).await;
    let stream = TcpStream::connect(frontend).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);

    let run = async {
        for i in 0..20 {
            let id = format!("seq-{i}");
            sender.ready().await.unwrap();
            let request = get_request(&format!("http://{frontend}/work"), &[("x-request-id", &id)]);
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            let reply = Reply {
                status: StatusCode::OK,
                headers: http::HeaderMap::new(),
                body: String::from_utf8(body.to_vec()).unwrap(),
            };
            let f = reply.fields();
            assert_eq!(f["request_id"], id);
            assert_eq!(
                f["scratch_before"], "-",
                "request {i} saw the previous request's set"
            );
            assert_eq!(f["scratch_after_await"], id);
        }
    };
    tokio::time::timeout(HANG_GUARD, run).await.expect("hung");
}

async fn try_set() -> &'static str {
    match SCRATCH.try_set("x".to_owned()) {
        Ok(_) => "accepted",
        Err(_) => "refused",
    }
}

/// The control for the tests above: without the layer, a handler runs in the
/// connection task's shared context, where `contextvars_tokio` refuses `set`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_can_set_variables_only_under_the_layer() {
    let without = serve(Router::new().route("/", get(try_set))).await;
    let with = serve(
        Router::new()
            .route("/", get(try_set))
            .layer(RequestContextLayer::new()),
    )
    .await;
    let client = http_client();
    let reply = send(
        client.clone(),
        get_request(&format!("http://{without}/"), &[]),
    )
    .await;
    assert_eq!(reply.body, "refused");
    let reply = send(client, get_request(&format!("http://{with}/"), &[])).await;
    assert_eq!(reply.body, "accepted");
}
