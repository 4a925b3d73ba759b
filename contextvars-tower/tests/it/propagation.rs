//! Trace context, request id and baggage, from incoming headers to outbound
//! calls.

use std::convert::Infallible;

use contextvars::Context;
use contextvars_tower::w3c::{Baggage, TraceParent};
use contextvars_tower::{
    PropagateLayer, RequestContextLayer, RequestId, TraceContext, BAGGAGE, REQUEST_ID, TRACE,
};
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

use crate::common::*;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_continued_with_a_new_parent_per_call() {
    let backend = start_backend().await;
    let frontend = start_frontend(backend, None).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let reply = send(
        http_client(),
        get_request(
            &format!("http://{frontend}/work"),
            &[
                ("traceparent", &traceparent),
                ("tracestate", "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"),
            ],
        ),
    )
    .await;
    let f = reply.fields();
    // No request id came in: it is the trace id, so the two agree.
    assert_eq!(f["request_id"], TRACE_ID);
    assert_eq!(reply.header("x-request-id"), TRACE_ID);
    assert_eq!(f["trace_id"], TRACE_ID);
    assert_eq!(f["parent_span_id"], PARENT_ID);
    // Not echoed in the response.
    assert_eq!(reply.header("traceparent"), "-");

    let mut parents = Vec::new();
    for call in 0..3 {
        let sent: TraceParent = f[&format!("backend{call}.received.traceparent")]
            .parse()
            .unwrap();
        assert_eq!(sent.trace_id().to_string(), TRACE_ID);
        assert!(sent.flags().is_sampled());
        parents.push(sent.parent_id().to_string());
        assert_eq!(
            f[&format!("backend{call}.received.tracestate")],
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
        assert_eq!(f[&format!("backend{call}.received.x-request-id")], TRACE_ID);
    }
    parents.push(f["span_id"].clone());
    parents.push(PARENT_ID.to_owned());
    parents.sort();
    parents.dedup();
    assert_eq!(parents.len(), 5, "every call has a span id of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_and_level_2_flags_are_kept_reserved_bits_cleared() {
    let backend = start_backend().await;
    let frontend = start_frontend(backend, None).await;
    for (incoming, kept) in [
        ("00", "00"),
        ("01", "01"),
        ("02", "02"),
        ("03", "03"),
        ("ff", "03"),
        ("08", "00"),
    ] {
        let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-{incoming}");
        let reply = send(
            http_client(),
            get_request(
                &format!("http://{frontend}/work"),
                &[("traceparent", &traceparent)],
            ),
        )
        .await;
        let f = reply.fields();
        assert_eq!(f["flags"], kept, "{incoming}");
        let sent: TraceParent = f["backend0.received.traceparent"].parse().unwrap();
        assert_eq!(sent.flags().to_string(), kept, "{incoming}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_any_request_start_a_new_trace_each() {
    let backend = start_backend().await;
    let client = propagating_client();
    let mut trace_ids = Vec::new();
    for _ in 0..2 {
        // A plain tokio task: no context, nothing set.
        let reply = send(
            client.clone(),
            get_request(&format!("http://{backend}/echo"), &[]),
        )
        .await;
        let f = reply.fields();
        let sent: TraceParent = f["received.traceparent"].parse().unwrap();
        assert!(sent.flags().is_sampled());
        assert_eq!(f["received.baggage"], "-");
        assert_eq!(f["received.tracestate"], "-");
        // No request id was sent: the backend took the trace id.
        assert_eq!(f["request_id"], sent.trace_id().to_string());
        trace_ids.push(sent.trace_id());
    }
    assert_ne!(trace_ids[0], trace_ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_set_by_hand_groups_calls() {
    let backend = start_backend().await;
    let client = propagating_client();
    let root = TraceContext::new_root();
    let replies = contextvars_tokio::root({
        let root = root.clone();
        async move {
            TRACE.set(root);
            REQUEST_ID.set(RequestId::new("job-7").unwrap());
            let mut replies = Vec::new();
            for _ in 0..2 {
                replies.push(
                    send(
                        client.clone(),
                        get_request(&format!("http://{backend}/echo"), &[]),
                    )
                    .await,
                );
            }
            replies
        }
    })
    .await;
    for reply in replies {
        let f = reply.fields();
        assert_eq!(f["trace_id"], root.trace_id().to_string());
        assert_eq!(f["received.x-request-id"], "job-7");
        assert_ne!(f["parent_span_id"], root.span_id().to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_request_id_header_on_both_sides() {
    let header = HeaderName::from_static("x-correlation-id");
    let backend = serve(
        axum::Router::new()
            .route(
                "/",
                axum::routing::get(|headers: HeaderMap| async move {
                    format!(
                        "{} {}",
                        REQUEST_ID.get(),
                        header_str(&headers, "x-correlation-id")
                    )
                }),
            )
            .layer(contextvars_tower::RequestContextLayer::new().request_id_header(header.clone())),
    )
    .await;
    let reply = send(
        http_client(),
        get_request(
            &format!("http://{backend}/"),
            &[("x-correlation-id", "corr-1"), ("x-request-id", "other")],
        ),
    )
    .await;
    assert_eq!(reply.body, "corr-1 corr-1");
    assert_eq!(reply.header("x-correlation-id"), "corr-1");
    assert_eq!(reply.header("x-request-id"), "-");

    let client = ServiceBuilder::new()
        .layer(PropagateLayer::new().request_id_header(header))
        .service(http_client());
    let reply = Context::new()
        .run(|| {
            REQUEST_ID.set(RequestId::new("corr-2").unwrap());
            contextvars::FutureExt::with_current_context(send(
                client,
                get_request(&format!("http://{backend}/"), &[]),
            ))
        })
        .await;
    assert_eq!(reply.body, "corr-2 corr-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_can_be_turned_off_and_a_handler_header_wins() {
    let quiet = serve(
        axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .layer(contextvars_tower::RequestContextLayer::new().echo_request_id(false)),
    )
    .await;
    let reply = send(
        http_client(),
        get_request(&format!("http://{quiet}/"), &[("x-request-id", "a")]),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), "-");

    let own = serve(
        axum::Router::new()
            .route(
                "/",
                axum::routing::get(|| async { ([("x-request-id", "handler-set")], "ok") }),
            )
            .layer(contextvars_tower::RequestContextLayer::new()),
    )
    .await;
    let reply = send(
        http_client(),
        get_request(&format!("http://{own}/"), &[("x-request-id", "a")]),
    )
    .await;
    assert_eq!(reply.header("x-request-id"), "handler-set");
}

/// What a propagating client writes, captured without a network.
async fn captured(layer: PropagateLayer, request: Request<()>) -> HeaderMap {
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(req.headers().clone()))
            }));
    svc.oneshot(request).await.unwrap().into_body()
}

#[tokio::test]
async fn outbound_baggage_is_allow_listed_and_limited() {
    let layer = PropagateLayer::new()
        .forward_baggage(["a", "b"])
        .export_var("tenant", &TENANT);
    let headers = contextvars_tokio::root(async {
        BAGGAGE.set("a=1;p=x,secret=s,b=2,a=3".parse().unwrap());
        TENANT.set("acme corp".to_owned());
        captured(layer, Request::new(())).await
    })
    .await;
    assert_eq!(headers["baggage"], "tenant=acme%20corp,a=1;p=x,b=2,a=3");

    // A baggage member with the key of an exported variable is not forwarded.
    let layer = PropagateLayer::new()
        .forward_all_baggage()
        .export_var("tenant", &TENANT);
    let headers = contextvars_tokio::root(async {
        BAGGAGE.set("tenant=spoofed,x=1".parse().unwrap());
        TENANT.set("real".to_owned());
        captured(layer, Request::new(())).await
    })
    .await;
    assert_eq!(headers["baggage"], "tenant=real,x=1");

    // Limits: the variable and 63 forwarded members; the 65th is dropped.
    let layer = PropagateLayer::new()
        .forward_all_baggage()
        .export_var("tenant", &TENANT);
    let headers = contextvars_tokio::root(async {
        let many: String = (0..64).map(|i| format!("k{i}=v,")).collect();
        BAGGAGE.set(many.parse().unwrap());
        TENANT.set("t".to_owned());
        captured(layer, Request::new(())).await
    })
    .await;
    let sent: Baggage = headers["baggage"].to_str().unwrap().parse().unwrap();
    assert_eq!(sent.len(), 64);
    assert_eq!(sent.iter().next().unwrap().key(), "tenant");
    assert_eq!(sent.get("k62"), Some("v"));
    assert_eq!(sent.get("k63"), None);

    // By default, no baggage leaves the process.
    let headers = contextvars_tokio::root(async {
        BAGGAGE.set("a=1".parse().unwrap());
        captured(PropagateLayer::new(), Request::new(())).await
    })
    .await;
    assert!(!headers.contains_key("baggage"));
}

#[tokio::test]
async fn headers_already_on_the_request_win() {
    let request = Request::builder()
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-00"))
        .header("x-request-id", "mine")
        .header("baggage", "mine=1")
        .body(())
        .unwrap();
    let headers = contextvars_tokio::root(async {
        TRACE.set(TraceContext::new_root().with_trace_state("ours=1".parse().unwrap()));
        REQUEST_ID.set(RequestId::new("ours").unwrap());
        BAGGAGE.set("a=1".parse().unwrap());
        captured(PropagateLayer::new().forward_all_baggage(), request).await
    })
    .await;
    assert_eq!(
        headers["traceparent"],
        format!("00-{TRACE_ID}-{PARENT_ID}-00")
    );
    assert!(
        !headers.contains_key("tracestate"),
        "must match the caller's traceparent"
    );
    assert_eq!(headers["x-request-id"], "mine");
    assert_eq!(headers["baggage"], "mine=1");
}

#[tokio::test]
async fn the_outbound_trace_context_is_in_the_request_extensions() {
    let svc = ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(service_fn(|req: Request<()>| async move {
            let outbound = req.extensions().get::<TraceContext>().cloned().unwrap();
            let header = req.headers()["traceparent"].to_str().unwrap().to_owned();
            Ok::<_, Infallible>((outbound, header))
        }));
    let parent = TraceContext::new_root();
    let (outbound, header) = contextvars_tokio::root({
        let parent = parent.clone();
        async move {
            TRACE.set(parent);
            svc.oneshot(Request::new(())).await.unwrap()
        }
    })
    .await;
    assert_eq!(outbound.traceparent().to_string(), header);
    assert_eq!(outbound.parent_span_id(), Some(parent.span_id()));
    assert_eq!(outbound.trace_id(), parent.trace_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_baggage_is_parsed_leniently_and_limited() {
    let backend = start_backend().await;
    let reply = send(
        http_client(),
        get_request(
            &format!("http://{backend}/echo"),
            &[
                ("baggage", "userId=alice, bad key=1, serverNode = DF%2028;p"),
                ("baggage", "isProduction=false"),
            ],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let f = reply.fields();
    assert_eq!(
        f["baggage"],
        "userId=alice,serverNode=DF%2028;p,isProduction=false"
    );
}

#[tokio::test]
async fn empty_baggage_is_left_unbound_unless_it_hides_the_callers() {
    let svc = || {
        RequestContextLayer::new().layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new((BAGGAGE.get(), BAGGAGE.get_opt())))
        }))
    };
    // From an empty context: the default, unbound.
    let (read, bound) = contextvars_tokio::root(svc().oneshot(Request::new(())))
        .await
        .unwrap()
        .into_body();
    assert!(read.is_empty());
    assert_eq!(bound, None);

    // From a context with baggage of its own: empty baggage hides it.
    let (read, bound) = contextvars_tokio::root(async move {
        BAGGAGE.set("caller=1".parse().unwrap());
        svc().oneshot(Request::new(())).await
    })
    .await
    .unwrap()
    .into_body();
    assert!(read.is_empty());
    assert_eq!(bound, Some(Baggage::new()));

    // A request with baggage: bound.
    let req = Request::builder()
        .header("baggage", "a=1")
        .body(())
        .unwrap();
    let (read, _) = contextvars_tokio::root(svc().oneshot(req))
        .await
        .unwrap()
        .into_body();
    assert_eq!(read.get("a"), Some("1"));
}
