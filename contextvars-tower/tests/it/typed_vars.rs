//! Typed context variables that travel: set in a client's context, read,
//! typed, by the server over real HTTP; hostile and foreign baggage.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use contextvars::propagation::{DropReason, Dropped};
use contextvars::{Context, ContextVar, FutureExt};
use contextvars_tower::w3c::Baggage;
use contextvars_tower::{
    carrier, IncomingField, PropagateLayer, RejectReason, Rejection, RequestContextLayer, BAGGAGE,
    REQUEST_ID,
};
use http::{HeaderMap, Request};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

use crate::common::*;

/// A tenant: 1 to 64 characters, none of them a control character.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tenant(String);

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Tenant {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
            return Err("not a tenant");
        }
        Ok(Tenant(s.to_owned()))
    }
}

static TENANT: ContextVar<Tenant> = ContextVar::builder("tenant").propagate().build();
static PRIORITY: ContextVar<u8> = ContextVar::builder("priority").propagate().build();
/// Propagated, but no server here accepts it.
static ADMIN: ContextVar<bool> = ContextVar::builder("admin").propagate().build();

/// Reports of dropped values, by the server that saw them.
type Drops = Arc<Mutex<Vec<Dropped>>>;

/// Keeps the rejections of variables' values, as the `Dropped` they are.
fn record(drops: &Drops, rejection: &Rejection) {
    if let (IncomingField::Variable(name), RejectReason::Variable(reason)) =
        (rejection.field(), rejection.reason())
    {
        drops.lock().unwrap().push(Dropped::new(name, reason));
    }
}

/// A server that accepts `tenant` and `priority` and answers with what its
/// handler reads.
async fn start_server(drops: Drops) -> std::net::SocketAddr {
    async fn handler() -> String {
        let mut out = Report::default();
        out.add("request_id", REQUEST_ID.get());
        out.add("tenant", TENANT.get_opt().map_or("-".into(), |t| t.0));
        out.add(
            "priority",
            PRIORITY.get_opt().map_or("-".into(), |p| p.to_string()),
        );
        out.add(
            "admin",
            ADMIN.get_opt().map_or("-".into(), |a| a.to_string()),
        );
        out.add("baggage", BAGGAGE.get());
        out.finish()
    }
    let layer = RequestContextLayer::new()
        .accept(&TENANT)
        .accept(&PRIORITY)
        .max_accepted_value_bytes(64)
        .on_reject(move |r| record(&drops, r));
    serve(Router::new().route("/", get(handler)).layer(layer)).await
}

fn client() -> PropagatingClient {
    ServiceBuilder::new()
        .layer(PropagateLayer::new())
        .service(http_client())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_value_set_by_the_client_is_read_typed_by_the_server() {
    let drops = Drops::default();
    let server = start_server(drops.clone()).await;
    let url = format!("http://{server}/");
    let reply = async {
        TENANT.set(Tenant("acme corp/eu=1,x;y%".into()));
        PRIORITY.set(3);
        send(client(), get_request(&url, &[])).await
    }
    .with_context(Context::new())
    .await;
    let f = reply.fields();
    assert_eq!(f["tenant"], "acme corp/eu=1,x;y%");
    assert_eq!(f["priority"], "3");
    assert_eq!(
        f["baggage"],
        "tenant=acme%20corp/eu%3D1%2Cx%3By%25,priority=3"
    );
    assert!(drops.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_each_read_their_own_value() {
    let server = start_server(Drops::default()).await;
    let url = format!("http://{server}/");
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(
            async move {
                TENANT.set(Tenant(format!("tenant {i}")));
                PRIORITY.set((i % 200) as u8);
                tokio::task::yield_now().await;
                let reply = send(client, get_request(&url, &[])).await;
                (i, reply.fields())
            }
            .with_context(Context::new()),
        );
    }
    let mut seen = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, f) = joined.unwrap();
        assert_eq!(f["tenant"], format!("tenant {i}"), "cross-talk");
        assert_eq!(f["priority"], (i % 200).to_string(), "cross-talk");
        seen += 1;
    }
    assert_eq!(seen, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_baggage_sets_nothing_and_is_reported_by_name() {
    let drops = Drops::default();
    let server = start_server(drops.clone()).await;
    let url = format!("http://{server}/");
    let long = "x".repeat(65);
    let exact = format!("tenant={}", &long[..64]);
    let cases: [(String, &str, &str, &str, Vec<DropReason>); 7] = [
        // Invalid for `FromStr`: a control character, a number out of range.
        (
            "tenant=a%0Ab,priority=300".into(),
            "-",
            "-",
            "",
            vec![DropReason::Invalid, DropReason::Invalid],
        ),
        // Over the 64 bytes of `max_accepted_value_bytes` (decoded).
        (
            format!("tenant={long}"),
            "-",
            "-",
            "",
            vec![DropReason::TooLong],
        ),
        // Exactly at the limit.
        (exact.clone(), &long[..64], "-", &exact, vec![]),
        // The same name twice: neither value is trusted.
        (
            "tenant=acme,tenant=evil,priority=1".into(),
            "-",
            "1",
            "priority=1",
            vec![DropReason::Duplicate],
        ),
        // A name not accepted here stays plain baggage, and sets nothing.
        (
            "admin=true,user=ada".into(),
            "-",
            "-",
            "admin=true,user=ada",
            vec![],
        ),
        // Invalid W3C members are skipped by the baggage parser first.
        (
            "tenant=a b,priority=2".into(),
            "-",
            "2",
            "priority=2",
            vec![],
        ),
        // Empty values do not parse as a tenant.
        (
            "tenant=,priority=".into(),
            "-",
            "-",
            "",
            vec![DropReason::Invalid, DropReason::Invalid],
        ),
    ];
    for (header, tenant, priority, baggage, reasons) in cases {
        drops.lock().unwrap().clear();
        let reply = send(http_client(), get_request(&url, &[("baggage", &header)])).await;
        let f = reply.fields();
        assert_eq!(f["tenant"], tenant, "{header}");
        assert_eq!(f["priority"], priority, "{header}");
        assert_eq!(f["admin"], "-", "{header}");
        let kept = f["baggage"].clone();
        assert_eq!(kept, baggage, "{header}: rejected members are not kept");
        let got: Vec<DropReason> = drops.lock().unwrap().iter().map(|d| d.reason()).collect();
        assert_eq!(got, reasons, "{header}");
        for d in drops.lock().unwrap().iter() {
            assert!(["tenant", "priority"].contains(&d.name()));
            assert!(!d.to_string().contains("evil") && !d.to_string().contains("xxx"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baggage_from_python_opentelemetry_sets_the_typed_variable() {
    // What OpenTelemetry's Python SDK (`W3CBaggagePropagator`, keys and
    // values through `urllib.parse.quote_plus`) sends for
    // `{"tenant": "acme/eu=1", "priority": "7", "user": "ada lovelace"}`,
    // after an upstream SDK added a property to one member.
    let header = "tenant=acme%2Feu%3D1;ttl=60,priority=7,user=ada+lovelace";
    let server = start_server(Drops::default()).await;
    let reply = send(
        http_client(),
        get_request(&format!("http://{server}/"), &[("baggage", header)]),
    )
    .await;
    let f = reply.fields();
    assert_eq!(f["tenant"], "acme/eu=1");
    assert_eq!(f["priority"], "7");
    // Every member stays in the plain baggage, `user` (not accepted) too;
    // a `+` is a `+`, as the W3C specification reads it (see
    // `Baggage::parse_lossy_plus_as_space` for peers that mean a space).
    assert_eq!(
        f["baggage"],
        "tenant=acme/eu%3D1;ttl=60,priority=7,user=ada%2Blovelace"
    );
}

#[test]
fn what_is_sent_parses_back_as_the_plain_string() {
    let mut headers = HeaderMap::new();
    let value = "acme corp/eu=1,x;y%\"é";
    Context::new().run(|| {
        TENANT.set(Tenant(value.into()));
        PropagateLayer::new().inject(&mut headers);
    });
    let header = headers["baggage"].to_str().unwrap();
    // A strict W3C parser reads the member back as the string `Display` wrote.
    let baggage: Baggage = header.parse().unwrap();
    assert_eq!(baggage.get("tenant"), Some(value));
}

#[test]
fn a_variable_wins_over_plain_baggage_of_its_name() {
    let layer = PropagateLayer::new().forward_all_baggage();
    let mut headers = HeaderMap::new();
    Context::new().run(|| {
        BAGGAGE.set("tenant=stale,user=ada".parse().unwrap());
        TENANT.set(Tenant("fresh".into()));
        layer.inject(&mut headers);
    });
    assert_eq!(headers["baggage"], "tenant=fresh,user=ada");
}

#[test]
fn values_that_do_not_fit_are_left_out_and_reported() {
    let drops = Drops::default();
    let log = drops.clone();
    let layer = PropagateLayer::new()
        .forward_all_baggage()
        .on_dropped(move |d| log.lock().unwrap().push(*d));
    let mut headers = HeaderMap::new();
    Context::new().run(|| {
        // 63 plain members, forwarded after the variables.
        let plain: Vec<String> = (0..63).map(|i| format!("k{i}=v")).collect();
        BAGGAGE.set(plain.join(",").parse().unwrap());
        TENANT.set(Tenant("t".repeat(8190))); // too large with its key
        PRIORITY.set(1);
        layer.inject(&mut headers);
    });
    let sent: Baggage = headers["baggage"].to_str().unwrap().parse().unwrap();
    assert_eq!(sent.get("tenant"), None);
    assert_eq!(sent.get("priority"), Some("1"));
    assert_eq!(sent.len(), 64);
    assert_eq!(
        *drops.lock().unwrap(),
        [Dropped::new("tenant", DropReason::NoRoom)]
    );
}

#[test]
fn carriers_carry_typed_values_both_ways() {
    // A message-queue record's headers.
    let mut record: std::collections::HashMap<String, String> = Default::default();
    Context::new().run(|| {
        TENANT.set(Tenant("acme".into()));
        ADMIN.set(true);
        carrier::inject(&mut record);
    });
    assert_eq!(record["baggage"], "tenant=acme,admin=true");
    let consumer = RequestContextLayer::new().accept(&TENANT);
    consumer.extract(&record).run(|| {
        assert_eq!(TENANT.get(), Tenant("acme".into()));
        assert_eq!(ADMIN.get_opt(), None); // not accepted by this consumer
    });
    // The default settings accept nothing.
    carrier::extract(&record).run(|| assert_eq!(TENANT.get_opt(), None));
}

#[tokio::test]
async fn the_drop_report_runs_in_the_request_context() {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let log = ids.clone();
    let svc = RequestContextLayer::new()
        .accept(&PRIORITY)
        .on_reject(move |r| {
            assert_eq!(
                r.to_string(),
                "incoming context variable `priority` rejected: the value does not parse"
            );
            log.lock().unwrap().push(REQUEST_ID.get().to_string())
        })
        .layer(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(http::Response::new(()))
        }));
    let req = Request::builder()
        .header("x-request-id", "req-42")
        .header("baggage", "priority=x")
        .body(())
        .unwrap();
    svc.oneshot(req).await.unwrap();
    assert_eq!(*ids.lock().unwrap(), ["req-42"]);
}

#[tokio::test]
async fn the_baggage_extension_is_the_baggage_bound() {
    let svc = RequestContextLayer::new()
        .accept(&PRIORITY)
        .trace_extensions(true)
        .layer(service_fn(|req: Request<()>| async move {
            let extension = req.extensions().get::<Baggage>().map(|b| b.to_string());
            Ok::<_, Infallible>(http::Response::new((extension, BAGGAGE.get().to_string())))
        }));
    let req = Request::builder()
        .header("baggage", "priority=high,user=ada")
        .body(())
        .unwrap();
    let (extension, bound) = svc.oneshot(req).await.unwrap().into_body();
    assert_eq!(bound, "user=ada");
    assert_eq!(extension.as_deref(), Some("user=ada"));
}
