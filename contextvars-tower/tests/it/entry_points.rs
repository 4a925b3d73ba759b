//! The entry points that put the request context outside a whole
//! application: `RequestContextExt` and, with the feature `axum`, `serve`,
//! `serve_with` and `serve_with_connect_info`, over real HTTP.

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use contextvars::ContextVar;
use contextvars_tower::{RequestContextExt, RequestContextLayer, REQUEST_ID};
use http::{HeaderName, StatusCode};

use crate::common::*;

static SEEN_BY: ContextVar<&'static str> = ContextVar::new("seen_by");

/// Sets a variable; added as the router's last, outermost, layer.
async fn outermost(request: Request, next: Next) -> Response {
    SEEN_BY.set("outermost middleware");
    next.run(request).await
}

async fn report() -> String {
    format!("{} {}", REQUEST_ID.get(), SEEN_BY.get())
}

/// A route, a fallback, and a middleware added after both.
fn app() -> Router {
    Router::new()
        .route("/route", get(report))
        .fallback(report)
        .layer(middleware::from_fn(outermost))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_request_context_covers_routes_fallbacks_and_the_outermost_layer() {
    let addr = serve_app(app().with_request_context()).await;
    for (path, id) in [("/route", "r-1"), ("/no-such-route", "r-2")] {
        let reply = send(
            http_client(),
            get_request(&format!("http://{addr}{path}"), &[("x-request-id", id)]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, format!("{id} outermost middleware"), "{path}");
        assert_eq!(reply.header("x-request-id"), id, "{path}: echoed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_request_context_layer_uses_the_layers_settings() {
    let layer = RequestContextLayer::new()
        .request_id_header(HeaderName::from_static("x-correlation-id"))
        .echo_request_id(false);
    let addr = serve_app(app().with_request_context_layer(layer)).await;
    let reply = send(
        http_client(),
        get_request(
            &format!("http://{addr}/route"),
            &[("x-correlation-id", "c-1")],
        ),
    )
    .await;
    assert_eq!(reply.body, "c-1 outermost middleware");
    assert_eq!(reply.header("x-correlation-id"), "-", "not echoed");
}

#[cfg(feature = "axum")]
mod serve {
    use std::future::IntoFuture;
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use axum::Router;
    use contextvars_tower::{RequestContextLayer, REQUEST_ID};
    use http::{HeaderName, StatusCode};
    use tokio::net::TcpListener;

    use super::app;
    use crate::common::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_covers_routes_fallbacks_and_the_outermost_layer() {
        let addr = spawn_server(|l| contextvars_tower::serve(l, app()).into_future()).await;
        for transport in Transport::ALL {
            let mut conn = Conn::new(addr, transport);
            for path in ["/route", "/no-such-route"] {
                let reply = conn
                    .send(get_request(
                        &format!("http://{addr}{path}"),
                        &[("x-request-id", "r-1")],
                    ))
                    .await
                    .unwrap();
                assert_eq!(reply.status, StatusCode::OK, "{transport:?} {path}");
                assert_eq!(reply.body, "r-1 outermost middleware", "{transport:?}");
                assert_eq!(reply.header("x-request-id"), "r-1");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_with_uses_the_layers_settings() {
        let layer = RequestContextLayer::new()
            .request_id_header(HeaderName::from_static("x-correlation-id"));
        let addr =
            spawn_server(|l| contextvars_tower::serve_with(l, app(), layer).into_future()).await;
        let reply = send(
            http_client(),
            get_request(
                &format!("http://{addr}/route"),
                &[("x-correlation-id", "c-1")],
            ),
        )
        .await;
        assert_eq!(reply.body, "c-1 outermost middleware");
        assert_eq!(reply.header("x-correlation-id"), "c-1", "echoed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_with_connect_info_gives_the_client_address() {
        async fn handler(ConnectInfo(client): ConnectInfo<SocketAddr>) -> String {
            format!("{} {}", REQUEST_ID.get(), client.ip())
        }
        let app = Router::new().route("/", get(handler));
        let addr =
            spawn_server(|l| contextvars_tower::serve_with_connect_info(l, app).into_future())
                .await;
        let reply = send(
            http_client(),
            get_request(&format!("http://{addr}/"), &[("x-request-id", "r-1")]),
        )
        .await;
        assert_eq!(reply.body, "r-1 127.0.0.1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_stops_on_graceful_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = contextvars_tower::serve(listener, app());
        assert_eq!(server.local_addr().unwrap(), addr);
        let server = tokio::spawn(
            server
                .with_graceful_shutdown(async { stopped.await.unwrap() })
                .into_future(),
        );
        let reply = send(
            http_client(),
            get_request(&format!("http://{addr}/route"), &[("x-request-id", "r-1")]),
        )
        .await;
        assert_eq!(reply.body, "r-1 outermost middleware");
        stop.send(()).unwrap();
        tokio::time::timeout(HANG_GUARD, server)
            .await
            .expect("the server did not stop")
            .unwrap()
            .unwrap();
    }
}
