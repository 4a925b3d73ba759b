//! Baggage from and to peers that run OpenTelemetry SDKs of other
//! languages, over real HTTP on 127.0.0.1: what OpenTelemetry's Python SDK
//! sends (`quote_plus`-encoded keys and values) is read per the W3C
//! specification, allow-listed by decoded key, and forwarded in an encoding
//! that every SDK's decoder reads as the same value.

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use contextvars_tower::w3c::Baggage;
use contextvars_tower::{PropagateLayer, RequestContextLayer, BAGGAGE};
use tower::ServiceBuilder;

use crate::common::*;

#[derive(Clone)]
struct Forwarder {
    client: PropagatingClient,
    backend: SocketAddr,
}

/// Reports the baggage as read here, then what the backend received.
async fn forward(State(app): State<Forwarder>) -> String {
    let mut out = Report::default();
    let baggage = BAGGAGE.get();
    for member in &baggage {
        out.add(format!("read.{}", member.key()), member.value());
    }
    let reply = send(
        app.client.clone(),
        get_request(&format!("http://{}/echo", app.backend), &[]),
    )
    .await;
    out.add("sent", reply.fields()["received.baggage"].clone());
    out.finish()
}

async fn start_forwarder(layer: PropagateLayer) -> SocketAddr {
    let backend = start_backend().await;
    let state = Forwarder {
        client: ServiceBuilder::new().layer(layer).service(http_client()),
        backend,
    };
    serve(
        Router::new()
            .route("/forward", get(forward))
            .with_state(state)
            .layer(RequestContextLayer::new()),
    )
    .await
}

/// Python's `urllib.parse.unquote_plus`, which OpenTelemetry's Python SDK
/// decodes keys and values with: `+` is a space, then `%XX` is decoded.
fn python_unquote_plus(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JavaScript's `decodeURIComponent` and Go's `url.PathUnescape`, which
/// OpenTelemetry's JavaScript and Go SDKs decode values with: `%XX` only;
/// `None` for a malformed escape (both fail on one).
fn percent_decode_strict(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_baggage_is_read_per_spec_allow_listed_by_decoded_key_and_forwarded_encoded() {
    let layer = PropagateLayer::new().forward_baggage(["tok!en#key", "region", "note"]);
    let addr = start_forwarder(layer).await;
    // What OpenTelemetry's Python SDK sends for
    // {"tok!en#key": "1+1=2", "region": "DF 28 eu west", "note": "a \"b\", c; d\\e é", "secret": "s"}.
    let python = "tok%21en%23key=1%2B1%3D2,region=DF+28+eu+west,\
                  note=a+%22b%22%2C+c%3B+d%5Ce+%C3%A9,secret=s";
    let reply = send(
        http_client(),
        get_request(&format!("http://{addr}/forward"), &[("baggage", python)]),
    )
    .await;
    let f = reply.fields();
    // Read per the specification: keys decoded, `+` is a `+`.
    assert_eq!(f["read.tok!en#key"], "1+1=2");
    assert_eq!(f["read.region"], "DF+28+eu+west");
    assert_eq!(f["read.note"], "a+\"b\",+c;+d\\e+é");
    assert_eq!(f["read.secret"], "s");
    // Allow-listed by decoded key; `secret` stays in.
    let sent = &f["sent"];
    assert_eq!(
        sent,
        "tok!en#key=1%2B1%3D2,region=DF%2B28%2Beu%2Bwest,\
         note=a%2B%22b%22%2C%2Bc%3B%2Bd%5Ce%2B%C3%A9"
    );
    // Every SDK's decoder reads what this service read.
    for member in sent.split(',') {
        let (key, value) = member.split_once('=').unwrap();
        let ours = &f[&format!("read.{key}")];
        assert_eq!(&python_unquote_plus(value), ours, "Python, {member}");
        assert_eq!(
            percent_decode_strict(value).as_ref(),
            Some(ours),
            "Go and JavaScript, {member}"
        );
        assert_eq!(python_unquote_plus(key), key, "a key Python reads as is");
    }
    let reparsed: Baggage = sent.parse().unwrap();
    assert_eq!(reparsed.get("region"), Some("DF+28+eu+west"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_matches_decoded_keys_only() {
    // The wire spelling of a key is not a key: `tok%21en%23key` is
    // `tok!en#key`.
    let layer = PropagateLayer::new().forward_baggage(["tok%21en%23key", "k%41"]);
    let addr = start_forwarder(layer).await;
    let reply = send(
        http_client(),
        get_request(
            &format!("http://{addr}/forward"),
            &[("baggage", "tok%21en%23key=1,kA=2,k%2541=3")],
        ),
    )
    .await;
    let f = reply.fields();
    assert_eq!(f["read.tok!en#key"], "1");
    assert_eq!(f["read.k%41"], "3");
    // Only the member whose decoded key is `k%41` goes out, its `%` encoded.
    assert_eq!(f["sent"], "k%2541=3");
}

#[tokio::test]
async fn values_set_here_reach_every_sdk_unchanged() {
    // Values as an application sets them, through an exported variable.
    let layer = PropagateLayer::new().export_var("v", &TENANT);
    for (value, wire) in [
        ("1+1=2", "1%2B1%3D2"),
        ("DF 28 eu west", "DF%2028%20eu%20west"),
        ("100%", "100%25"),
        ("a,b;c", "a%2Cb%3Bc"),
        ("\"q\"\\", "%22q%22%5C"),
        ("é✓", "%C3%A9%E2%9C%93"),
        ("user@example.com/x?y", "user@example.com/x?y"),
    ] {
        let headers = contextvars_tokio::root({
            let layer = layer.clone();
            async move {
                TENANT.set(value.to_owned());
                let mut headers = http::HeaderMap::new();
                layer.inject(&mut headers);
                headers
            }
        })
        .await;
        assert_eq!(headers["baggage"], format!("v={wire}"), "{value:?}");
        assert_eq!(python_unquote_plus(wire), value, "Python");
        assert_eq!(
            percent_decode_strict(wire).as_deref(),
            Some(value),
            "Go, JS"
        );
        let back: Baggage = headers["baggage"].to_str().unwrap().parse().unwrap();
        assert_eq!(back.get("v"), Some(value));
    }
}
