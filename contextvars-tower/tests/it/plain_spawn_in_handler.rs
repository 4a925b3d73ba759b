//! A middleware inside the request context sets a variable; the handler
//! then spawns work with plain `tokio::spawn` and
//! `tokio::task::spawn_blocking`, which has no context of its own. With no
//! setup call, that work reads nothing of any request and its `set`s are
//! refused with a message naming the fixes; responses never carry another
//! request's value, and the server keeps serving. Over HTTP/1.1 (fresh and
//! kept-alive connections) and HTTP/2.

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use contextvars::{ContextVar, SetError};
use contextvars_tower::{RequestContextExt, RequestContextService};
use http::StatusCode;

use crate::common::*;

static TAG: ContextVar<String> = ContextVar::new("tag");

const REQUESTS: usize = 150;
const CLIENTS: usize = 4;

const FIXES: [&str; 3] = [
    "RequestContextLayer",
    "contextvars_tokio::spawn",
    "contextvars_tokio::spawn_blocking",
];

/// Inside the request context: sets the request's tag.
async fn tag(request: Request, next: Next) -> Response {
    let tag = request.headers()["x-tag"].to_str().unwrap().to_owned();
    TAG.set(tag);
    next.run(request).await
}

fn shown(value: Option<String>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

async fn handler() -> String {
    let mut out = Report::default();
    out.add("own", TAG.get());

    let (read, lookup, set) = tokio::spawn(async {
        tokio::task::yield_now().await;
        let read = shown(TAG.get_opt());
        let lookup = TAG.try_get().unwrap_err();
        let set = TAG.try_set("from a plain task".to_owned());
        (read, lookup, set.map(drop))
    })
    .await
    .unwrap();
    out.add("task_read", read);
    out.add(
        "task_lookup_without_context",
        lookup.in_task_without_context(),
    );
    out.add("task_lookup", lookup);
    match set {
        Ok(()) => out.add("task_set", "accepted"),
        Err(error) => {
            assert_eq!(error, SetError::NoTaskContext);
            out.add("task_set", error);
        }
    }

    // `set` itself panics; the panic ends the spawned task only.
    let panicked = tokio::spawn(async {
        TAG.set("from a plain task".to_owned());
    })
    .await
    .unwrap_err();
    out.add(
        "task_set_panic",
        panicked.into_panic().downcast::<String>().unwrap(),
    );

    let (read, set) = tokio::task::spawn_blocking(|| {
        let read = shown(TAG.get_opt());
        (
            read,
            TAG.try_set("from a plain thread".to_owned()).map(drop),
        )
    })
    .await
    .unwrap();
    out.add("blocking_read", read);
    out.add(
        "blocking_set",
        set.map_or_else(|e| e.to_string(), |()| "accepted".to_owned()),
    );

    tokio::task::yield_now().await;
    out.add("own_after", TAG.get());
    out.finish()
}

fn app() -> RequestContextService<Router> {
    Router::new()
        .route("/", get(handler))
        .layer(middleware::from_fn(tag))
        .with_request_context()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_spawns_in_a_handler_see_no_request_and_cannot_set() {
    let addr = serve_app(app()).await;
    for transport in Transport::ALL {
        let sent = send_all(addr, transport, REQUESTS, CLIENTS, |i| {
            get_request(
                &format!("http://{addr}/"),
                &[("x-tag", &format!("{transport:?}-{i}"))],
            )
        })
        .await;
        for (i, reply) in sent.replies.into_iter().enumerate() {
            let reply = reply.unwrap_or_else(|e| panic!("{transport:?} {i}: {e}"));
            assert_eq!(reply.status, StatusCode::OK, "{transport:?} {i}");
            let own = format!("{transport:?}-{i}");
            let f = reply.fields();
            assert_eq!(f["own"], own);
            assert_eq!(
                f["own_after"], own,
                "{transport:?} {i}: changed by a plain task"
            );
            assert_eq!(f["task_read"], "-", "{transport:?} {i}: a request's value");
            assert_eq!(
                f["blocking_read"], "-",
                "{transport:?} {i}: a request's value"
            );
            assert_eq!(f["task_lookup_without_context"], "true");
            for key in ["task_lookup", "task_set", "task_set_panic", "blocking_set"] {
                for fix in FIXES {
                    assert!(f[key].contains(fix), "{transport:?} {i} {key}: {}", f[key]);
                }
            }
            assert!(f["task_set"].starts_with("cannot set a ContextVar here"));
            assert!(f["blocking_set"].starts_with("cannot set a ContextVar here"));
            assert!(f["task_set_panic"]
                .starts_with("<ContextVar name='tag'>: cannot set a ContextVar here"));
            assert!(f["task_lookup"].starts_with("<ContextVar name='tag'> has no value"));
        }
    }
    let reply = send(
        http_client(),
        get_request(&format!("http://{addr}/"), &[("x-tag", "last")]),
    )
    .await;
    assert_eq!(reply.fields()["own_after"], "last");
}
