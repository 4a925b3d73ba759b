//! An authentication middleware placed outside `RequestContextLayer` (the
//! mistake axum's `Router::layer` order invites), with no setup call: its
//! `set` is refused with a message naming the fix, and no response ever
//! shows another request's user. Served with the layer outermost by
//! construction, or with the middleware binding the user by `scope_async`,
//! every request sees its own user. Over HTTP/1.1 (fresh and kept-alive
//! connections) and HTTP/2.

use std::panic::AssertUnwindSafe;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use contextvars::{ContextVar, SetError};
use contextvars_tower::{RequestContextExt, RequestContextLayer};
use http::StatusCode;
use http_body_util::Full;
use tower_http::catch_panic::CatchPanicLayer;

use crate::common::*;

static CURRENT_USER: ContextVar<String> = ContextVar::new("user");

const REQUESTS: usize = 300;
const CLIENTS: usize = 4;

/// The user of request `i`: alice, bob, none, alice, ...
fn user_of(i: usize) -> Option<&'static str> {
    [Some("alice"), Some("bob"), None][i % 3]
}

fn request(addr: std::net::SocketAddr, i: usize) -> http::Request<Full<Bytes>> {
    let url = format!("http://{addr}/whoami");
    match user_of(i) {
        Some(user) => get_request(&url, &[("authorization", user)]),
        None => get_request(&url, &[]),
    }
}

fn authorization(request: &Request) -> Option<String> {
    let value = request.headers().get("authorization")?;
    Some(value.to_str().unwrap().to_owned())
}

/// Sets the user for the rest of the request.
async fn auth_set(request: Request, next: Next) -> Response {
    if let Some(user) = authorization(&request) {
        CURRENT_USER.set(user);
    }
    next.run(request).await
}

/// Binds the user for the inner service only.
async fn auth_scoped(request: Request, next: Next) -> Response {
    match authorization(&request) {
        Some(user) => CURRENT_USER.scope_async(user, next.run(request)).await,
        None => next.run(request).await,
    }
}

async fn whoami() -> String {
    tokio::task::yield_now().await;
    CURRENT_USER
        .get_opt()
        .map_or_else(|| "anonymous".to_owned(), |user| user.to_string())
}

fn routes() -> Router {
    Router::new().route("/whoami", get(whoami))
}

/// The misordered app: the last `.layer(..)` is the outermost, so `auth`
/// runs before the request has a context.
fn misordered(set: bool) -> Router {
    let routes = routes().layer(RequestContextLayer::new());
    if set {
        routes.layer(middleware::from_fn(auth_set))
    } else {
        routes.layer(middleware::from_fn(auth_scoped))
    }
}

/// How the responses to the `REQUESTS` requests went.
#[derive(Debug, Default)]
struct Tally {
    /// 200, with the request's own user.
    correct: usize,
    /// Not served: connection dropped, stream reset or 500.
    refused: usize,
    /// Authenticated requests that were refused.
    refused_authenticated: usize,
    /// Responses showing a user other than the request's own.
    cross_talk: Vec<String>,
    opened: usize,
}

fn tally(sent: Sent) -> Tally {
    let mut tally = Tally {
        opened: sent.opened,
        ..Tally::default()
    };
    for (i, reply) in sent.replies.into_iter().enumerate() {
        let expected = user_of(i).unwrap_or("anonymous");
        match reply {
            Ok(reply) if reply.status == StatusCode::OK => {
                if reply.body == expected {
                    tally.correct += 1;
                } else {
                    tally
                        .cross_talk
                        .push(format!("request {i} ({expected}) saw {:?}", reply.body));
                }
            }
            Ok(reply) if reply.status == StatusCode::INTERNAL_SERVER_ERROR => {
                tally.refused += 1;
                tally.refused_authenticated += usize::from(user_of(i).is_some());
            }
            Ok(reply) => panic!("request {i}: unexpected {} {:?}", reply.status, reply.body),
            Err(_) => {
                tally.refused += 1;
                tally.refused_authenticated += usize::from(user_of(i).is_some());
            }
        }
    }
    tally
}

async fn run(addr: std::net::SocketAddr, transport: Transport) -> Tally {
    let sent = send_all(addr, transport, REQUESTS, CLIENTS, |i| request(addr, i)).await;
    let tally = tally(sent);
    assert_eq!(
        tally.cross_talk,
        Vec::<String>::new(),
        "{transport:?}: {tally:?}"
    );
    assert_eq!(tally.correct + tally.refused, REQUESTS, "{transport:?}");
    tally
}

/// After everything: a request on a new connection is still served
/// correctly.
async fn still_serves(addr: std::net::SocketAddr, transport: Transport) {
    let mut conn = Conn::new(addr, transport);
    let reply = conn.send(request(addr, 2)).await.unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "anonymous"),
        "{transport:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misordered_set_is_refused_and_no_response_shows_another_users_value() {
    for transport in Transport::ALL {
        let addr = serve(misordered(true)).await;
        let tally = run(addr, transport).await;
        // Every `set` outside the request context is refused (the task
        // serving the request panics: connection dropped or stream reset);
        // the anonymous requests, which set nothing, are served.
        assert_eq!(tally.refused_authenticated, 200, "{transport:?}: {tally:?}");
        assert_eq!(tally.refused, 200, "{transport:?}: {tally:?}");
        assert_eq!(tally.correct, 100, "{transport:?}: {tally:?}");
        still_serves(addr, transport).await;
    }
}

/// The same, with the panic of the refused `set` turned into a 500 by a
/// catch-panic layer outside everything: connections survive the refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misordered_set_under_catch_panic_is_a_500_and_connections_stay_open() {
    for transport in Transport::ALL {
        let addr = serve(misordered(true).layer(CatchPanicLayer::new())).await;
        let tally = run(addr, transport).await;
        assert_eq!(tally.refused_authenticated, 200, "{transport:?}: {tally:?}");
        assert_eq!(tally.correct, 100, "{transport:?}: {tally:?}");
        match transport {
            Transport::Http1Fresh => assert_eq!(tally.opened, REQUESTS),
            // One connection per client, kept alive through the refusals.
            Transport::Http1KeepAlive => assert_eq!(tally.opened, CLIENTS, "{tally:?}"),
            Transport::Http2 => assert_eq!(tally.opened, 1, "{tally:?}"),
        }
        still_serves(addr, transport).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misordered_middleware_binding_with_scope_async_serves_every_user() {
    for transport in Transport::ALL {
        let addr = serve(misordered(false)).await;
        let tally = run(addr, transport).await;
        assert_eq!(tally.correct, REQUESTS, "{transport:?}: {tally:?}");
        if transport == Transport::Http1KeepAlive {
            assert_eq!(tally.opened, CLIENTS, "{tally:?}");
        }
        still_serves(addr, transport).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_request_context_puts_the_context_outside_a_set_in_middleware() {
    for transport in Transport::ALL {
        // The same layers in the same order, then the request context
        // around all of them.
        let app = routes()
            .layer(middleware::from_fn(auth_set))
            .with_request_context();
        let addr = serve_app(app).await;
        let tally = run(addr, transport).await;
        assert_eq!(tally.correct, REQUESTS, "{transport:?}: {tally:?}");
        still_serves(addr, transport).await;
    }
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_puts_the_context_outside_a_set_in_middleware() {
    use std::future::IntoFuture;

    for transport in Transport::ALL {
        let app = routes().layer(middleware::from_fn(auth_set));
        let addr =
            spawn_server(|listener| contextvars_tower::serve(listener, app).into_future()).await;
        let tally = run(addr, transport).await;
        assert_eq!(tally.correct, REQUESTS, "{transport:?}: {tally:?}");
        if transport == Transport::Http1KeepAlive {
            assert_eq!(tally.opened, CLIENTS, "{tally:?}");
        }
        still_serves(addr, transport).await;
    }
}

/// What a middleware outside the request context is told: `try_set`'s
/// error, the panic of `set`, and the lookup error of a read.
async fn probe(request: Request, _next: Next) -> Response {
    let mut out = Report::default();
    match CURRENT_USER.try_set("alice".to_owned()) {
        Ok(_) => out.add("try_set", "accepted"),
        Err(error) => {
            assert_eq!(error, SetError::NoTaskContext);
            out.add("try_set", error);
        }
    }
    let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
        CURRENT_USER.set("alice".to_owned());
    }));
    match panicked {
        Ok(()) => out.add("set", "accepted"),
        Err(payload) => out.add("set", payload.downcast::<String>().unwrap()),
    }
    match CURRENT_USER.try_get() {
        Ok(user) => out.add("get", user),
        Err(error) => {
            out.add(
                "get_in_task_without_context",
                error.in_task_without_context(),
            );
            out.add("get", error);
        }
    }
    drop(request);
    out.finish().into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refusal_names_the_variable_and_the_fixes() {
    let app = routes()
        .layer(RequestContextLayer::new())
        .layer(middleware::from_fn(probe));
    let addr = serve(app).await;
    for transport in Transport::ALL {
        let mut conn = Conn::new(addr, transport);
        for i in 0..3 {
            let reply = conn.send(request(addr, i)).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{transport:?}");
            let f = reply.fields();
            let fixes = [
                "RequestContextLayer",
                "contextvars_tower::serve",
                "scope_async",
                "contextvars_tokio::spawn",
                "contextvars_tokio::spawn_blocking",
            ];
            for key in ["try_set", "set", "get"] {
                for fix in fixes {
                    assert!(f[key].contains(fix), "{transport:?} {key}: {}", f[key]);
                }
            }
            assert!(
                f["try_set"].starts_with("cannot set a ContextVar here"),
                "{}",
                f["try_set"]
            );
            assert!(
                f["set"].starts_with("<ContextVar name='user'>: cannot set a ContextVar here"),
                "{}",
                f["set"]
            );
            assert!(
                f["get"].starts_with("<ContextVar name='user'> has no value"),
                "{}",
                f["get"]
            );
            assert_eq!(f["get_in_task_without_context"], "true");
        }
    }
}
