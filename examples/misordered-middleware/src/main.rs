//! An axum app whose authentication middleware runs **outside**
//! `RequestContextLayer` — `Router::layer(a).layer(b)` makes `b` the
//! outermost layer, so this is an easy mistake — served with no setup call,
//! then the same app served with `contextvars_tower::serve`, which puts the
//! request context outside everything by construction.
//!
//! Each run sends 300 requests over real HTTP on 127.0.0.1 (users alice,
//! bob and none in turn; HTTP/1.1 on fresh connections, HTTP/1.1 on
//! kept-alive connections and HTTP/2 in turn, a dozen at a time) and prints
//! one line:
//!
//! ```text
//! misordered: requests=300 correct=100 refused=200 cross_talk=0 serving=yes
//! serve: requests=300 correct=300 refused=0 cross_talk=0 serving=yes
//! ```
//!
//! In the misordered app the middleware's `CURRENT_USER.set(..)` runs in
//! the connection's task, which has no context of its own: the set is
//! refused (it panics, naming the fixes), so those requests are not served
//! (connection dropped or stream reset); the anonymous ones are. What must
//! never happen is `cross_talk`: a response showing another request's user.
//! The program exits with a failure if it does, if the server stops serving,
//! or if `serve` does not serve every request correctly.
//!
//! ```text
//! cargo run --release -p contextvars-misordered-middleware
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use contextvars::ContextVar;
use contextvars_tower::RequestContextLayer;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

static CURRENT_USER: ContextVar<String> = ContextVar::new("user");

const REQUESTS: usize = 300;
/// Requests in flight at once.
const IN_FLIGHT: usize = 12;

/// Sets the user from the `authorization` header for the rest of the request.
async fn auth(request: Request, next: Next) -> Response {
    if let Some(user) = request.headers().get("authorization") {
        CURRENT_USER.set(user.to_str().unwrap_or("?").to_owned());
    }
    next.run(request).await
}

/// The user this request sees.
async fn whoami() -> String {
    tokio::task::yield_now().await;
    CURRENT_USER
        .get_opt()
        .map_or_else(|| "anonymous".to_owned(), |user| user.to_string())
}

fn routes() -> Router {
    Router::new().route("/whoami", get(whoami))
}

/// The user of request `i`: alice, bob, none, alice, ...
fn user_of(i: usize) -> Option<&'static str> {
    [Some("alice"), Some("bob"), None][i % 3]
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// HTTP/1.1 on a new connection per request, HTTP/1.1 on kept-alive
/// connections, and HTTP/2.
fn clients() -> [HttpClient; 3] {
    let builder = || Client::builder(TokioExecutor::new());
    [
        builder().pool_max_idle_per_host(0).build_http(),
        builder().build_http(),
        builder().http2_only(true).build_http(),
    ]
}

/// What came back for one request.
enum Outcome {
    Correct,
    /// Not served: connection dropped, stream reset, or an error status.
    Refused,
    /// A response showing another request's user.
    CrossTalk,
}

async fn send(client: HttpClient, addr: SocketAddr, user: Option<&str>) -> Outcome {
    let mut request = http::Request::get(format!("http://{addr}/whoami"));
    if let Some(user) = user {
        request = request.header("authorization", user);
    }
    let request = request.body(Full::default()).expect("a valid request");
    let Ok(response) = client.request(request).await else {
        return Outcome::Refused;
    };
    if response.status() != StatusCode::OK {
        return Outcome::Refused;
    }
    let Ok(body) = response.into_body().collect().await else {
        return Outcome::Refused;
    };
    if body.to_bytes() == user.unwrap_or("anonymous").as_bytes() {
        Outcome::Correct
    } else {
        Outcome::CrossTalk
    }
}

#[derive(Debug, Default)]
struct Summary {
    correct: usize,
    refused: usize,
    cross_talk: usize,
    serving: bool,
}

/// Sends the `REQUESTS` requests to `addr`, then one more on a new
/// connection to check that the server still serves.
async fn exercise(addr: SocketAddr) -> Summary {
    let clients = clients();
    let mut summary = Summary::default();
    for wave in (0..REQUESTS).collect::<Vec<_>>().chunks(IN_FLIGHT) {
        let mut in_flight = JoinSet::new();
        for &i in wave {
            let client = clients[(i / 3) % 3].clone();
            in_flight.spawn(send(client, addr, user_of(i)));
        }
        for outcome in in_flight.join_all().await {
            match outcome {
                Outcome::Correct => summary.correct += 1,
                Outcome::Refused => summary.refused += 1,
                Outcome::CrossTalk => summary.cross_talk += 1,
            }
        }
    }
    let fresh = clients[0].clone();
    summary.serving = matches!(send(fresh, addr, None).await, Outcome::Correct);
    summary
}

fn report(name: &str, summary: &Summary) {
    println!(
        "{name}: requests={REQUESTS} correct={} refused={} cross_talk={} serving={}",
        summary.correct,
        summary.refused,
        summary.cross_talk,
        if summary.serving { "yes" } else { "no" },
    );
}

/// Keeps the messages of refused `set`s (the panics of the tasks serving the
/// refused requests) off the terminal, and the first of them for the report.
/// Other panics are reported as usual.
fn quiet_refusals() -> Arc<Mutex<(usize, Option<String>)>> {
    let refusals = Arc::new(Mutex::new((0, None)));
    let seen = Arc::clone(&refusals);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("cannot set a ContextVar here") {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.0 += 1;
            seen.1.get_or_insert_with(|| message.to_owned());
        } else {
            default_hook(info);
        }
    }));
    refusals
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1")
}

#[tokio::main]
async fn main() -> ExitCode {
    let refusals = quiet_refusals();

    // The mistake: the last `.layer(..)` is the outermost, so `auth` runs
    // before the request has a context of its own. No setup call anywhere.
    let misordered_app = routes()
        .layer(RequestContextLayer::new())
        .layer(middleware::from_fn(auth));
    let listener = bind().await;
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move { axum::serve(listener, misordered_app).await });
    let misordered = exercise(addr).await;

    // The same layers in the same order, served with the request context
    // outside all of them.
    let app = routes().layer(middleware::from_fn(auth));
    let listener = bind().await;
    let addr = listener.local_addr().expect("a local address");
    tokio::spawn(async move { contextvars_tower::serve(listener, app).await });
    let by_construction = exercise(addr).await;

    let (refused_sets, first) = refusals.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!("refused sets: {refused_sets}");
    if let Some(first) = first {
        println!("first refusal: {first}");
    }
    report("misordered", &misordered);
    report("serve", &by_construction);

    let ok = misordered.cross_talk == 0
        && misordered.serving
        && by_construction.correct == REQUESTS
        && by_construction.serving;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
