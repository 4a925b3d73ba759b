//! An axum service whose every log line, spawned task, blocking job and
//! downstream call carries the values of the request it serves.
//!
//! `cargo run -p contextvars-quickstart` serves on 127.0.0.1:3000
//! (`curl -H 'x-user: ada' localhost:3000`); with `--self-test` it serves on
//! a free port, sends itself concurrent requests and checks every response
//! and log line.

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{http::StatusCode, routing::get, Json, Router};
use contextvars::ContextVar;
use contextvars_tower::reqwest::PropagateMiddleware;
use contextvars_tower::reqwest_middleware::{reqwest, ClientBuilder, ClientWithMiddleware};
use contextvars_tower::REQUEST_ID;
use contextvars_tracing::{ContextFields, ContextJson};
use serde_json::{json, Value};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The user making the request, set by the `auth` middleware.
static USER: ContextVar<String> = ContextVar::new("user");

#[derive(Clone)]
struct App {
    client: ClientWithMiddleware,
    backend_url: String,
}

async fn auth(request: Request, next: Next) -> Response {
    // A real service checks a token here.
    if let Some(user) = request
        .headers()
        .get("x-user")
        .and_then(|v| v.to_str().ok())
    {
        USER.set(user.to_string());
    }
    next.run(request).await
}

/// What this code sees of the request it serves.
fn seen() -> Value {
    json!({ "request_id": REQUEST_ID.get().as_str(), "user": USER.get_opt() })
}

async fn handler(State(app): State<App>) -> Result<Json<Value>, StatusCode> {
    tracing::info!("handling the request");
    let task = contextvars_tokio::spawn(async {
        tracing::info!("in a spawned task");
        seen()
    });
    let blocking = contextvars_tokio::spawn_blocking(|| {
        tracing::info!("in a blocking job");
        seen()
    });
    let backend = call_backend(&app)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    let task = task.await.map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let blocking = blocking
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(
        json!({ "handler": seen(), "task": task, "blocking": blocking, "backend": backend }),
    ))
}

/// A downstream call: the client's middleware sends this request's id and
/// trace context.
async fn call_backend(app: &App) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let response = app.client.get(&app.backend_url).send().await?;
    Ok(serde_json::from_slice(&response.bytes().await?)?)
}

/// A downstream service (here, a route of this one): its request id is the
/// caller's, received in `x-request-id`.
async fn backend() -> Json<Value> {
    tracing::info!("in the backend");
    Json(seen())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    let logs = self_test::Logs::default();
    let writer = if self_test {
        let logs = logs.clone();
        BoxMakeWriter::new(move || logs.clone())
    } else {
        BoxMakeWriter::new(std::io::stdout)
    };
    // JSON lines with `request_id` and `user` at the root of each object.
    tracing_subscriber::fmt()
        .json()
        .event_format(ContextJson::new(
            ContextFields::new().var(&REQUEST_ID).var(&USER),
            tracing_subscriber::fmt::format().json().flatten_event(true),
        ))
        .with_writer(writer)
        .init();

    let port = if self_test { 0 } else { 3000 };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(PropagateMiddleware::new())
        .build();
    let app = Router::new()
        .route("/", get(handler))
        .route("/backend", get(backend))
        .layer(middleware::from_fn(auth))
        .with_state(App {
            client,
            backend_url: format!("http://{addr}/backend"),
        });

    // Every request in a context of its own, outside every layer of `app`.
    let server = contextvars_tower::serve(listener, app);
    if !self_test {
        tracing::info!("listening on http://{addr}");
        return Ok(server.await?);
    }
    contextvars_tokio::spawn(async move { server.await });
    if let Err(error) = self_test::run(addr, &logs).await {
        eprintln!("self-test failed: {error}");
        std::process::exit(1);
    }
    Ok(())
}

/// Sends concurrent requests, with and without `x-request-id` and as
/// different users, and checks that every response and every log line
/// carries its own request's id and user.
mod self_test {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::{error::Error, io, net::SocketAddr};

    use contextvars_tower::reqwest_middleware::reqwest;
    use serde_json::{json, Value};

    const REQUESTS: usize = 100;

    /// The log lines, kept in memory to be checked.
    #[derive(Clone, Default)]
    pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Logs {
        fn write(&mut self, line: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(line)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub(crate) async fn run(addr: SocketAddr, logs: &Logs) -> Result<(), Box<dyn Error>> {
        let client = reqwest::Client::new();
        let mut requests = contextvars_tokio::JoinSet::new();
        for i in 0..REQUESTS {
            let mut request = client
                .get(format!("http://{addr}/"))
                .header("x-user", format!("user-{i}"));
            if i % 2 == 0 {
                request = request.header("x-request-id", format!("req-{i}"));
            }
            requests.spawn(async move {
                let response = request
                    .send()
                    .await
                    .map_err(|e| format!("request {i}: {e}"))?;
                let status = response.status();
                let header = response.headers().get("x-request-id").cloned();
                let id = header
                    .and_then(|v| v.to_str().ok().map(str::to_string))
                    .unwrap_or_default();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| format!("request {i}: {e}"))?;
                let body = serde_json::from_slice::<Value>(&body).map_err(|_| {
                    format!("request {i}: {status} {}", String::from_utf8_lossy(&body))
                })?;
                Ok::<_, String>((i, id, body))
            });
        }

        let mut problems = Vec::new();
        let mut users = HashMap::new(); // request id -> (user, log lines seen)
        while let Some(joined) = requests.join_next().await {
            let (i, id, body) = joined??;
            let user = format!("user-{i}");
            if i % 2 == 0 && id != format!("req-{i}") {
                problems.push(format!("request {i}: sent req-{i}, got {id} back"));
            }
            let expected = json!({ "request_id": id, "user": user });
            for part in ["handler", "task", "blocking"] {
                if body[part] != expected {
                    problems.push(format!("request {i}: {part} saw {}", body[part]));
                }
            }
            if body["backend"] != json!({ "request_id": id, "user": null }) {
                problems.push(format!("request {i}: the backend saw {}", body["backend"]));
            }
            users.insert(id, (user, 0));
        }

        let logs = String::from_utf8(logs.0.lock().unwrap().clone())?;
        for line in logs.lines() {
            let fields: Value = serde_json::from_str(line)?;
            let Some((user, seen)) = fields["request_id"]
                .as_str()
                .and_then(|id| users.get_mut(id))
            else {
                problems.push(format!("a line of no request sent: {line}"));
                continue;
            };
            *seen += 1;
            let expected = if fields["message"] == "in the backend" {
                Value::Null // `user` is not sent downstream
            } else {
                Value::from(user.as_str())
            };
            if fields.get("user").unwrap_or(&Value::Null) != &expected {
                problems.push(format!("expected user {expected}: {line}"));
            }
        }
        for (id, (_, seen)) in &users {
            if *seen != 4 {
                problems.push(format!("request {id}: {seen} log lines, expected 4"));
            }
        }

        if !problems.is_empty() {
            return Err(format!("{} problems:\n{}", problems.len(), problems.join("\n")).into());
        }
        println!(
            "self-test passed: {REQUESTS} concurrent requests ({} with x-request-id), {} log lines; \
             every response and log line carries its own request's id and user",
            REQUESTS / 2,
            logs.lines().count()
        );
        Ok(())
    }
}
