//! A handler that panics after a `set`: the value goes with the request's
//! context, so later requests — on the same connection or others — never
//! see it, and the server keeps serving. With no setup call, with the panic
//! dropping the connection (or resetting the HTTP/2 stream), and with
//! tower-http's catch-panic layer inside or outside the request context.
//! Over HTTP/1.1 (fresh and kept-alive connections) and HTTP/2.

use axum::routing::get;
use axum::Router;
use contextvars::ContextVar;
use contextvars_tower::RequestContextExt;
use http::{HeaderMap, StatusCode};
use tower_http::catch_panic::CatchPanicLayer;

use crate::common::*;

static LEFT_BEHIND: ContextVar<String> = ContextVar::new("left_behind");

const REQUESTS: usize = 120;
const CLIENTS: usize = 4;

fn panics(i: usize) -> bool {
    i % 4 == 1
}

async fn handler(headers: HeaderMap) -> String {
    let before = LEFT_BEHIND.get_opt();
    let tag = headers["x-tag"].to_str().unwrap().to_owned();
    LEFT_BEHIND.set(tag.clone());
    tokio::task::yield_now().await;
    if headers.contains_key("x-panic") {
        panic!("handler panics after setting {tag}");
    }
    let mut out = Report::default();
    out.add(
        "before",
        before.map_or_else(|| "-".to_owned(), |v| v.to_string()),
    );
    out.add("after", LEFT_BEHIND.get());
    out.finish()
}

fn routes() -> Router {
    Router::new().route("/", get(handler))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CatchPanic {
    /// The panic ends the connection task (HTTP/1.1) or the stream's task
    /// (HTTP/2).
    None,
    /// Caught inside the request context: a 500.
    Inside,
    /// Caught outside the request context: a 500.
    Outside,
}

async fn start(catch: CatchPanic) -> std::net::SocketAddr {
    match catch {
        CatchPanic::None => serve_app(routes().with_request_context()).await,
        CatchPanic::Inside => {
            serve_app(
                routes()
                    .layer(CatchPanicLayer::new())
                    .with_request_context(),
            )
            .await
        }
        CatchPanic::Outside => {
            let app = Router::new()
                .fallback_service(routes().with_request_context())
                .layer(CatchPanicLayer::new());
            serve(app).await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handlers_set_is_never_seen_by_later_requests() {
    for catch in [CatchPanic::None, CatchPanic::Inside, CatchPanic::Outside] {
        let addr = start(catch).await;
        for transport in Transport::ALL {
            let sent = send_all(addr, transport, REQUESTS, CLIENTS, |i| {
                let tag = format!("{transport:?}-{i}");
                let url = format!("http://{addr}/");
                if panics(i) {
                    get_request(&url, &[("x-tag", &tag), ("x-panic", "1")])
                } else {
                    get_request(&url, &[("x-tag", &tag)])
                }
            })
            .await;
            let context = format!("{catch:?} {transport:?}");
            for (i, reply) in sent.replies.into_iter().enumerate() {
                match (panics(i), reply) {
                    (false, Ok(reply)) => {
                        assert_eq!(reply.status, StatusCode::OK, "{context} {i}");
                        let f = reply.fields();
                        assert_eq!(f["before"], "-", "{context} {i}: a value left behind");
                        assert_eq!(f["after"], format!("{transport:?}-{i}"), "{context} {i}");
                    }
                    (false, Err(error)) => panic!("{context} {i}: not served: {error}"),
                    (true, Ok(reply)) => {
                        assert_ne!(catch, CatchPanic::None, "{context} {i}: {reply:?}");
                        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    (true, Err(_)) => assert_eq!(catch, CatchPanic::None, "{context} {i}"),
                }
            }
            if catch != CatchPanic::None {
                // The connections survived the panics.
                let expected = match transport {
                    Transport::Http1Fresh => REQUESTS,
                    Transport::Http1KeepAlive => CLIENTS,
                    Transport::Http2 => 1,
                };
                assert_eq!(sent.opened, expected, "{context}");
            }
        }
        let reply = send(
            http_client(),
            get_request(&format!("http://{addr}/"), &[("x-tag", "last")]),
        )
        .await;
        assert_eq!(reply.fields()["before"], "-", "{catch:?}");
        assert_eq!(reply.fields()["after"], "last", "{catch:?}");
    }
}
