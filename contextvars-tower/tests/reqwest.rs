//! The `reqwest` feature: `PropagateMiddleware` on a reqwest-middleware
//! client, against a real axum server on 127.0.0.1 that records the headers
//! it receives. Calls are made from a handler under `RequestContextLayer`
//! (directly and from a spawned task) and from outside any request.

#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use contextvars::ContextVar;
use contextvars_tower::reqwest::PropagateMiddleware;
use contextvars_tower::w3c::TraceParent;
use contextvars_tower::{PropagateLayer, RequestContextLayer, TraceContext, TRACE};
use http::{Extensions, HeaderMap};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use tokio::net::TcpListener;

/// Only a guard against hangs: no test asserts on time.
const HANG_GUARD: Duration = Duration::from_secs(60);

const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const S: &str = "00f067aa0ba902b7";
const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static TENANT: ContextVar<String> = ContextVar::new("tenant");

/// Everything one server or middleware saw, in order.
type Log<T> = Arc<Mutex<Vec<T>>>;

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A backend that records the headers of every request.
async fn recording_backend() -> (String, Log<HeaderMap>) {
    let log: Log<HeaderMap> = Arc::default();
    let app = Router::new()
        .route(
            "/",
            get(
                |State(log): State<Log<HeaderMap>>, headers: HeaderMap| async move {
                    log.lock().unwrap().push(headers);
                    "recorded"
                },
            ),
        )
        .with_state(log.clone());
    (format!("http://{}/", serve(app).await), log)
}

/// Records the outbound `TraceContext` that `PropagateMiddleware` leaves in
/// the extensions for the middleware after it.
struct RecordOutbound(Log<TraceContext>);

#[async_trait::async_trait]
impl Middleware for RecordOutbound {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let outbound = extensions.get::<TraceContext>().cloned();
        self.0
            .lock()
            .unwrap()
            .push(outbound.expect("PropagateMiddleware ran first"));
        next.run(req, extensions).await
    }
}

fn client(outbound: &Log<TraceContext>) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(PropagateMiddleware::from(
            PropagateLayer::new()
                .forward_baggage(["user"])
                .export_var("tenant", &TENANT),
        ))
        .with(RecordOutbound(outbound.clone()))
        .build()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn traceparent(headers: &HeaderMap) -> TraceParent {
    header(headers, "traceparent").unwrap().parse().unwrap()
}

#[derive(Clone)]
struct Frontend {
    client: ClientWithMiddleware,
    backend: String,
}

/// Calls the backend twice from the handler and once from a task spawned
/// with a copy of the request's context; answers with this hop's span id.
async fn frontend_handler(State(app): State<Frontend>) -> String {
    TENANT.set("acme".to_owned());
    for _ in 0..2 {
        let response = app.client.get(&app.backend).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "recorded");
    }
    let spawned = contextvars_tokio::spawn({
        let app = app.clone();
        async move { app.client.get(&app.backend).send().await.unwrap().status() }
    });
    assert!(spawned.await.unwrap().is_success());
    TRACE.get().span_id().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_inside_a_request_carry_its_context() {
    tokio::time::timeout(HANG_GUARD, async {
        let (backend, received) = recording_backend().await;
        let outbound: Log<TraceContext> = Arc::default();
        let frontend = Router::new()
            .route("/", get(frontend_handler))
            .with_state(Frontend {
                client: client(&outbound),
                backend,
            })
            .layer(RequestContextLayer::new());
        let frontend = format!("http://{}/", serve(frontend).await);

        // A plain reqwest client (no middleware) plays the caller.
        let response = reqwest::Client::new()
            .get(&frontend)
            .header("x-request-id", "req-123")
            .header("traceparent", TP)
            .header("tracestate", "congo=t61rcWkgMzE")
            .header("baggage", "user=ada,secret=s3cr3t")
            .send()
            .await
            .unwrap();
        assert_eq!(header(response.headers(), "x-request-id"), Some("req-123"));
        let hop_span = response.text().await.unwrap();

        let received = received.lock().unwrap().clone();
        let outbound = outbound.lock().unwrap().clone();
        assert_eq!(received.len(), 3);
        assert_eq!(outbound.len(), 3);
        let mut span_ids = Vec::new();
        for (headers, outbound) in received.iter().zip(&outbound) {
            // The request id, the trace, and only the allowed baggage.
            assert_eq!(header(headers, "x-request-id"), Some("req-123"));
            let tp = traceparent(headers);
            assert_eq!(tp.trace_id().to_string(), T);
            assert!(tp.flags().is_sampled());
            assert_eq!(header(headers, "tracestate"), Some("congo=t61rcWkgMzE"));
            assert_eq!(header(headers, "baggage"), Some("tenant=acme,user=ada"));
            // A span id of its own per call, a child of this hop's span.
            assert_eq!(tp.parent_id(), outbound.span_id());
            assert_eq!(outbound.parent_span_id().unwrap().to_string(), hop_span);
            assert_ne!(tp.parent_id().to_string(), hop_span);
            assert_ne!(tp.parent_id().to_string(), S);
            span_ids.push(tp.parent_id());
        }
        span_ids.sort();
        span_ids.dedup();
        assert_eq!(span_ids.len(), 3, "a new span id for every call");
    })
    .await
    .expect("test hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_outside_a_request_start_their_own_traces() {
    tokio::time::timeout(HANG_GUARD, async {
        let (backend, received) = recording_backend().await;
        let outbound: Log<TraceContext> = Arc::default();
        let client = client(&outbound);
        for _ in 0..2 {
            client.get(&backend).send().await.unwrap();
        }
        let received = received.lock().unwrap().clone();
        assert_eq!(received.len(), 2);
        for headers in &received {
            // No request id, no baggage (nothing set, nothing exported).
            assert_eq!(header(headers, "x-request-id"), None);
            assert_eq!(header(headers, "baggage"), None);
            assert_eq!(header(headers, "tracestate"), None);
            assert!(traceparent(headers).flags().is_sampled());
        }
        // Each call is a trace of its own.
        assert_ne!(
            traceparent(&received[0]).trace_id(),
            traceparent(&received[1]).trace_id()
        );
        assert!(outbound
            .lock()
            .unwrap()
            .iter()
            .all(|o| o.parent_span_id().is_none()));
    })
    .await
    .expect("test hung");
}

#[tokio::test]
async fn headers_set_by_the_caller_win() {
    tokio::time::timeout(HANG_GUARD, async {
        let (backend, received) = recording_backend().await;
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(PropagateMiddleware::new())
            .build();
        let mut ctx = contextvars::Context::new();
        ctx.run_mut(|| {
            contextvars_tower::REQUEST_ID.set("from-context".parse().unwrap());
        });
        contextvars::FutureExt::with_context(
            async {
                client
                    .get(&backend)
                    .header("x-request-id", "explicit")
                    .header("traceparent", TP)
                    .send()
                    .await
                    .unwrap();
                // And without explicit headers, the context's values.
                client.get(&backend).send().await.unwrap();
            },
            ctx,
        )
        .await;
        let received = received.lock().unwrap().clone();
        assert_eq!(header(&received[0], "x-request-id"), Some("explicit"));
        assert_eq!(header(&received[0], "traceparent"), Some(TP));
        assert_eq!(header(&received[1], "x-request-id"), Some("from-context"));
        assert_ne!(header(&received[1], "traceparent"), Some(TP));
    })
    .await
    .expect("test hung");
}

static SHARD: ContextVar<u32> = ContextVar::builder("shard").propagate().build();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_propagated_variable_reaches_the_server_typed() {
    let app = Router::new()
        .route("/", get(|| async { format!("{:?}", SHARD.get_opt()) }))
        .layer(RequestContextLayer::new().accept(&SHARD));
    let url = format!("http://{}/", serve(app).await);
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PropagateMiddleware::new())
        .build();
    let mut tasks = tokio::task::JoinSet::new();
    for shard in 0..32u32 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(contextvars_tokio::root(async move {
            SHARD.set(shard);
            let body = client.get(&url).send().await.unwrap().text().await.unwrap();
            (shard, body)
        }));
    }
    let replies = tokio::time::timeout(HANG_GUARD, tasks.join_all())
        .await
        .unwrap();
    for (shard, body) in replies {
        assert_eq!(body, format!("Some({shard})"));
    }
}
