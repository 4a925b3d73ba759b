//! Differential tests of the `opentelemetry` feature: `ContextVarsPropagator`
//! against `opentelemetry_sdk`'s `TraceContextPropagator` and
//! `BaggagePropagator` on the same header inputs, inject round trips in both
//! directions, and the conversions between context variables and
//! `opentelemetry::Context`.
//!
//! Every table row states what each side extracts. Where they differ, the
//! row says why; the same differences are listed in the `otel` module
//! documentation.

#![cfg(feature = "opentelemetry")]

use std::collections::HashMap;

use contextvars::{Context, FutureExt};
use contextvars_tower::otel::{
    copy_context_from_otel, current_otel_context, with_otel_context, ContextVarsPropagator,
};
use contextvars_tower::w3c::{self, TraceFlags, TraceParent};
use contextvars_tower::{PropagateLayer, RequestId, TraceContext, BAGGAGE, REQUEST_ID, TRACE};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::baggage::{Baggage as OtelBaggage, BaggageExt};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags as OtelTraceFlags, TraceId,
    TraceState as OtelTraceState, Tracer, TracerProvider,
};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const S: &str = "00f067aa0ba902b7";
const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn carrier(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What a propagator made of a `traceparent`: `None` if it kept no span.
fn span_of(cx: &opentelemetry::Context) -> Option<SpanContext> {
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

fn ours_extract(extractor: &dyn Extractor) -> opentelemetry::Context {
    ContextVarsPropagator::new().extract(extractor)
}

fn sdk_extract(extractor: &dyn Extractor) -> opentelemetry::Context {
    let cx = TraceContextPropagator::new().extract(extractor);
    BaggagePropagator::new().extract_with_context(&cx, extractor)
}

/// Baggage entries `(key, value, metadata)`, sorted by key.
fn entries(baggage: &OtelBaggage) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = baggage
        .iter()
        .map(|(k, (v, m))| (k.to_string(), v.to_string(), m.as_str().to_owned()))
        .collect();
    out.sort();
    out
}

fn owned(entries: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = entries
        .iter()
        .map(|(k, v, m)| ((*k).to_owned(), (*v).to_owned(), (*m).to_owned()))
        .collect();
    out.sort();
    out
}

/// Asserts that a row explains a difference exactly when there is one.
fn check_explained<V: PartialEq + std::fmt::Debug>(input: &str, ours: &V, sdk: &V, why: &str) {
    if ours == sdk {
        assert!(
            why.is_empty(),
            "{input:?}: same result, but explained: {why}"
        );
    } else {
        assert!(
            !why.is_empty(),
            "{input:?}: unexplained difference: ours {ours:?}, SDK {sdk:?}"
        );
    }
}

// === traceparent ===

/// Flags of the extracted span, or `None` if the `traceparent` was not used.
type Tp = Option<u8>;

const INVALID: Tp = None;

const fn valid(flags: u8) -> Tp {
    Some(flags)
}

#[test]
fn traceparent_table() {
    let lenient_length = "the SDK reads fields with `from_str_radix`: any length, a `+` sign";
    let random_flag = "we keep Level 2's `random` flag; the SDK keeps only `sampled`";
    let cases: Vec<(String, Tp, Tp, &str)> = vec![
        // W3C Trace Context, "Examples of HTTP traceparent Headers".
        (TP.into(), valid(1), valid(1), ""),
        (format!("00-{T}-{S}-00"), valid(0), valid(0), ""),
        (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            valid(1),
            valid(1),
            "",
        ),
        // Flags.
        (format!("00-{T}-{S}-03"), valid(3), valid(1), random_flag),
        (format!("00-{T}-{S}-ff"), valid(3), valid(1), random_flag),
        (format!("00-{T}-{S}-09"), valid(1), valid(1), ""),
        (format!("00-{T}-{S}-0A"), INVALID, INVALID, ""),
        // Future versions: parsed as version 00, only `sampled` kept.
        (
            format!("cc-{T}-{S}-01-what-the-future-will-be-like"),
            valid(1),
            valid(1),
            "",
        ),
        (format!("01-{T}-{S}-09-"), valid(1), valid(1), ""),
        (format!("02-{T}-{S}-03"), valid(1), valid(1), ""),
        (format!("fe-{T}-{S}-01"), valid(1), valid(1), ""),
        (format!("cc-{T}-{S}-01.what"), INVALID, INVALID, ""),
        (
            format!("cc-{T}-{S}-0"),
            INVALID,
            valid(0),
            "a higher version still needs 55 characters; the SDK takes a 1-digit flags field",
        ),
        // Whitespace.
        (format!(" 00-{T}-{S}-01\t"), valid(1), valid(1), ""),
        (
            format!("00-{T}-{S}-01\r\n"),
            INVALID,
            valid(1),
            "we trim only HTTP optional whitespace; the SDK trims any",
        ),
        // Invalid for both.
        (
            format!("00-{}-{S}-01", "0".repeat(32)),
            INVALID,
            INVALID,
            "",
        ),
        (
            format!("00-{T}-{}-01", "0".repeat(16)),
            INVALID,
            INVALID,
            "",
        ),
        (format!("ff-{T}-{S}-01"), INVALID, INVALID, ""),
        (
            format!("00-{}-{S}-01", T.to_uppercase()),
            INVALID,
            INVALID,
            "",
        ),
        (
            format!("00-{T}-{}-01", S.to_uppercase()),
            INVALID,
            INVALID,
            "",
        ),
        (format!("00-{T}-{S}-01-extra"), INVALID, INVALID, ""),
        (format!("00-{T}-{S}"), INVALID, INVALID, ""),
        (format!("00-{T}-{S}-"), INVALID, INVALID, ""),
        (format!("00-{}g-{S}-01", &T[..31]), INVALID, INVALID, ""),
        (format!("00_{T}_{S}_01"), INVALID, INVALID, ""),
        (String::new(), INVALID, INVALID, ""),
        // The SDK is more lenient.
        (
            format!("00-{}-{S}-01", &T[..31]),
            INVALID,
            valid(1),
            lenient_length,
        ),
        ("00-abc-def-01".into(), INVALID, valid(1), lenient_length),
        (format!("00-0{T}-{S}-01"), INVALID, valid(1), lenient_length),
        (
            format!("00-+{}-{S}-01", &T[1..]),
            INVALID,
            valid(1),
            lenient_length,
        ),
        (format!("0-{T}-{S}-01"), INVALID, valid(1), lenient_length),
        (format!("00-{T}-{S}-1"), INVALID, valid(1), lenient_length),
        (
            format!("0A-{T}-{S}-01"),
            INVALID,
            valid(1),
            "the SDK does not check the case of the version",
        ),
        (
            format!("00-{T}-{S}-01-"),
            INVALID,
            valid(1),
            "version 00 has exactly 55 characters; the SDK ignores a trailing empty field",
        ),
    ];
    for (input, ours_expected, sdk_expected, why) in &cases {
        let headers = carrier(&[("traceparent", input), ("tracestate", "congo=t61rcWkgMzE")]);
        let ours = span_of(&ours_extract(&headers));
        let sdk = span_of(&sdk_extract(&headers));
        let ours_flags = ours.as_ref().map(|s| s.trace_flags().to_u8());
        let sdk_flags = sdk.as_ref().map(|s| s.trace_flags().to_u8());
        assert_eq!(ours_flags, *ours_expected, "ours, {input:?}");
        assert_eq!(sdk_flags, *sdk_expected, "SDK, {input:?}");
        check_explained(input, &ours_flags, &sdk_flags, why);
        if let (Some(ours), Some(sdk)) = (&ours, &sdk) {
            // Both read the same ids, both mark the span remote, both kept
            // the same tracestate.
            assert_eq!(ours.trace_id(), sdk.trace_id(), "{input:?}");
            assert_eq!(ours.span_id(), sdk.span_id(), "{input:?}");
            assert!(ours.is_remote() && sdk.is_remote(), "{input:?}");
            assert_eq!(ours.trace_state(), sdk.trace_state(), "{input:?}");
            assert_eq!(ours.trace_state().header(), "congo=t61rcWkgMzE");
        }
        if let Some(ours) = &ours {
            // Ours agrees with this crate's own parser.
            let parsed: TraceParent = input.trim_matches([' ', '\t']).parse().unwrap();
            assert_eq!(ours.trace_id().to_bytes(), parsed.trace_id().to_bytes());
            assert_eq!(ours.span_id().to_bytes(), parsed.parent_id().to_bytes());
        }
    }
}

// === tracestate ===

#[test]
fn tracestate_table() {
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let values = "we discard the whole tracestate for an invalid value; \
                  the SDK's value checks are looser";
    // Our propagator parses the header, then leaves out of the span context
    // the members OpenTelemetry's `TraceState` cannot hold.
    let level2_keys = "valid Level 2 key: we leave the member out, as OpenTelemetry's \
                       TraceState cannot hold it; the SDK checks keys as Level 1's multi-tenant \
                       keys (one `@`, then at most 13 characters starting with a letter or digit) \
                       and discards the whole tracestate";
    let tenant_242 = format!("{}@s=1", "t".repeat(242));
    let at_256 = format!("{}@v=1", "t".repeat(254));
    let cases: Vec<(String, String, String, &str)> = vec![
        // (input, ours, SDK, why) — the expected values are the re-serialized
        // tracestate, "" when discarded or empty.
        (
            "congo=t61rcWkgMzE".into(),
            "congo=t61rcWkgMzE".into(),
            "congo=t61rcWkgMzE".into(),
            "",
        ),
        (
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
            "",
        ),
        (
            " rojo=1 ,\tcongo=2 ".into(),
            "rojo=1,congo=2".into(),
            "rojo=1,congo=2".into(),
            "",
        ),
        (
            "foo=1,,bar=2".into(),
            "foo=1,bar=2".into(),
            "foo=1,bar=2".into(),
            "",
        ),
        (String::new(), String::new(), String::new(), ""),
        (
            "tenant@system=1".into(),
            "tenant@system=1".into(),
            "tenant@system=1".into(),
            "",
        ),
        // Level 2 keys that the SDK accepts too.
        ("1foo=bar".into(), "1foo=bar".into(), "1foo=bar".into(), ""),
        ("foo@=1".into(), "foo@=1".into(), "foo@=1".into(), ""),
        (
            tenant_242.clone(),
            tenant_242.clone(),
            tenant_242.clone(),
            "",
        ),
        (at_256.clone(), at_256.clone(), at_256, ""),
        ("foo=a b".into(), "foo=a b".into(), "foo=a b".into(), ""),
        ("foo=bar ".into(), "foo=bar".into(), "foo=bar".into(), ""),
        (members(32), members(32), members(32), ""),
        // Invalid for both: the whole tracestate is discarded.
        ("FOO=1".into(), String::new(), String::new(), ""),
        ("foo".into(), String::new(), String::new(), ""),
        ("foo=1=2".into(), String::new(), String::new(), ""),
        (
            format!("foo={}", "x".repeat(257)),
            String::new(),
            String::new(),
            "",
        ),
        (
            "t@abcdefghijklmno=1".into(),
            String::new(),
            String::new(),
            "",
        ),
        // Differences.
        (
            "foo=1,foo=2".into(),
            "foo=1".into(),
            "foo=1,foo=2".into(),
            "we keep the first member with a key; the SDK does not check",
        ),
        (
            "foo=1,bar=2,foo=3".into(),
            "foo=1,bar=2".into(),
            "foo=1,bar=2,foo=3".into(),
            "we keep the first member with a key; the SDK does not check",
        ),
        ("foo=".into(), String::new(), "foo=".into(), values),
        ("foo=é".into(), String::new(), "foo=é".into(), values),
        (
            "foo@@bar=1,bar=2".into(),
            "bar=2".into(),
            String::new(),
            level2_keys,
        ),
        (
            "foo@bar@baz=1,bar=2".into(),
            "bar=2".into(),
            String::new(),
            level2_keys,
        ),
        (
            "rojo=1,a@-b=1".into(),
            "rojo=1".into(),
            String::new(),
            level2_keys,
        ),
        (
            "foo==1".into(),
            String::new(),
            "foo=1".into(),
            "`=` in a value is invalid; the SDK strips the `=`s after the key",
        ),
        (
            members(33),
            String::new(),
            members(32),
            "more than 32 members is invalid; the SDK keeps the first 32",
        ),
        (
            // Valid W3C, but OpenTelemetry's `TraceState` cannot hold a
            // 14-character system id (it allows 13): our propagator parses
            // the header, then leaves that member out of the span context;
            // the SDK discards the whole tracestate.
            "rojo=1,t@abcdefghijklmn=1".into(),
            "rojo=1".into(),
            String::new(),
            "OpenTelemetry refuses a 14-character system id: we leave the member out, \
             the SDK the whole tracestate",
        ),
    ];
    for (input, ours_expected, sdk_expected, why) in &cases {
        let headers = carrier(&[("traceparent", TP), ("tracestate", input)]);
        let ours = span_of(&ours_extract(&headers)).unwrap();
        let sdk = span_of(&sdk_extract(&headers)).unwrap();
        let ours = ours.trace_state().header();
        let sdk = sdk.trace_state().header();
        assert_eq!(&ours, ours_expected, "ours, {input:?}");
        assert_eq!(&sdk, sdk_expected, "SDK, {input:?}");
        check_explained(input, &ours, &sdk, why);
        // Ours agrees with this crate's own parser (as far as OpenTelemetry's
        // `TraceState` can hold the result).
        let parsed = input.parse::<w3c::TraceState>().unwrap_or_default();
        assert_eq!(OtelTraceState::from(&parsed).header(), ours, "{input:?}");
    }
    // Without a valid traceparent, neither reads tracestate.
    let headers = carrier(&[("tracestate", "congo=t61rcWkgMzE")]);
    assert!(span_of(&ours_extract(&headers)).is_none());
    assert!(span_of(&sdk_extract(&headers)).is_none());
}

// === baggage ===

type Entries<'a> = &'a [(&'a str, &'a str, &'a str)];
type Owned = Vec<(String, String, String)>;

#[test]
fn baggage_table() {
    let members = |from: usize, to: usize| {
        (from..to)
            .map(|i| format!("k{i:02}=v"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let entries_of = |from: usize, to: usize| -> Owned {
        (from..to)
            .map(|i| (format!("k{i:02}"), "v".to_owned(), String::new()))
            .collect()
    };
    let exactly_8192 = format!("a={}", "0123456789".repeat(819));
    let over_8192 = format!("a=1,b={}", "x".repeat(8190));
    let bad_value =
        "we drop a value outside `baggage-octet` or with a bad escape; the SDK keeps it";
    let simple: Vec<(String, Entries<'_>, Entries<'_>, &str)> = vec![
        // W3C Baggage, "Examples of HTTP headers".
        (
            "userId=alice,serverNode=DF%2028,isProduction=false".into(),
            &[("userId", "alice", ""), ("serverNode", "DF 28", ""), ("isProduction", "false", "")],
            &[("userId", "alice", ""), ("serverNode", "DF 28", ""), ("isProduction", "false", "")],
            "",
        ),
        (
            "userId =   alice, serverNode = DF%2028, isProduction = false".into(),
            &[("userId", "alice", ""), ("serverNode", "DF 28", ""), ("isProduction", "false", "")],
            &[("userId", "alice", ""), ("serverNode", "DF 28", ""), ("isProduction", "false", "")],
            "",
        ),
        // "Definition" example, with properties.
        (
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue"
                .into(),
            &[
                ("key1", "value1", "property1;property2"),
                ("key2", "value2", ""),
                ("key3", "value3", "propertyKey=propertyValue"),
            ],
            &[
                ("key1", "value1", "property1;property2"),
                ("key2", "value2", ""),
                ("key3", "value3", "propertyKey=propertyValue"),
            ],
            "",
        ),
        ("a=1,,b=2".into(), &[("a", "1", ""), ("b", "2", "")], &[("a", "1", ""), ("b", "2", "")], ""),
        ("bad key=1,ok=2".into(), &[("ok", "2", "")], &[("ok", "2", "")], ""),
        ("novalue,b=1".into(), &[("b", "1", "")], &[("b", "1", "")], ""),
        ("k=,j= ".into(), &[("k", "", ""), ("j", "", "")], &[("k", "", ""), ("j", "", "")], ""),
        (String::new(), &[], &[], ""),
        // Differences.
        (
            "k=v=w".into(),
            &[("k", "v=w", "")],
            &[("k", "v", "")],
            "`=` is a baggage-octet; the SDK cuts the value at the second `=`",
        ),
        ("a=x y,b=1".into(), &[("b", "1", "")], &[("a", "x y", ""), ("b", "1", "")], bad_value),
        ("a=é,b=1".into(), &[("b", "1", "")], &[("a", "é", ""), ("b", "1", "")], bad_value),
        ("a=%zz,b=1".into(), &[("b", "1", "")], &[("a", "%zz", ""), ("b", "1", "")], bad_value),
        (
            "a=%FF,b=1".into(),
            &[("a", "\u{FFFD}", ""), ("b", "1", "")],
            &[("b", "1", "")],
            "W3C replaces invalid UTF-8 with U+FFFD; the SDK drops the member",
        ),
        (
            "k=%20v%20".into(),
            &[("k", " v ", "")],
            &[("k", "v", "")],
            "the SDK trims values after decoding",
        ),
        // Keys are percent-decoded on both sides; `a b` is not a token, which
        // OpenTelemetry cannot hold.
        ("a%20b=1,k%41=2".into(), &[("kA", "2", "")], &[("kA", "2", "")], ""),
        ("100%=1,%FF=2,b=3".into(), &[("100%", "1", ""), ("b", "3", "")], &[("100%", "1", ""), ("b", "3", "")], ""),
        // What OpenTelemetry's Python SDK sends for {"tok!en#key": "1+1=2"}.
        ("tok%21en%23key=1%2B1%3D2".into(), &[("tok!en#key", "1+1=2", "")], &[("tok!en#key", "1+1=2", "")], ""),
        // A bare `+` is a `+` on both sides (Python's SDK would read a space).
        ("region=DF+28+eu+west".into(), &[("region", "DF+28+eu+west", "")], &[("region", "DF+28+eu+west", "")], ""),
        (
            "k=v;p=%41".into(),
            &[("k", "v", "p=%41")],
            &[("k", "v", "p=A")],
            "properties are opaque to W3C, kept as received; the SDK percent-decodes them",
        ),
        (
            "k=v;p q,b=1".into(),
            &[("b", "1", "")],
            &[("k", "v", "p q"), ("b", "1", "")],
            "a property must be a token; the SDK does not check",
        ),
        (
            "a=1,a=2".into(),
            &[("a", "1", "")],
            &[("a", "2", "")],
            "OpenTelemetry has no duplicate keys: we keep the first, as `Baggage::get` does; the SDK the last",
        ),
    ];
    let mut cases: Vec<(String, Owned, Owned, &str)> = simple
        .into_iter()
        .map(|(input, ours, sdk, why)| (input, owned(ours), owned(sdk), why))
        .collect();
    // Limits.
    cases.push((members(0, 65), entries_of(0, 64), entries_of(0, 64), ""));
    cases.push((
        format!("bad key=1,{}", members(0, 64)),
        entries_of(0, 64),
        entries_of(0, 63),
        "we skip invalid members before counting to 64; the SDK counts every list member",
    ));
    cases.push((
        exactly_8192.clone(),
        owned(&[("a", &exactly_8192[2..], "")]),
        owned(&[("a", &exactly_8192[2..], "")]),
        "",
    ));
    cases.push((
        over_8192,
        owned(&[("a", "1", "")]),
        Vec::new(),
        "we keep the members that fit in 8192 bytes; the SDK drops a longer header whole",
    ));

    for (input, ours_expected, sdk_expected, why) in &cases {
        let headers = carrier(&[("baggage", input)]);
        let ours = entries(ours_extract(&headers).baggage());
        let sdk = entries(sdk_extract(&headers).baggage());
        assert_eq!(&ours, ours_expected, "ours, {input:?}");
        assert_eq!(&sdk, sdk_expected, "SDK, {input:?}");
        check_explained(input, &ours, &sdk, why);
        // Ours agrees with this crate's own (lossy) parser.
        let parsed = w3c::Baggage::parse_lossy(input);
        assert_eq!(entries(&OtelBaggage::from(&parsed)), ours, "{input:?}");
    }

    // Without a `baggage` header, both leave the context's baggage alone.
    let mut before = OtelBaggage::new();
    before.insert("kept", "yes");
    let cx = opentelemetry::Context::new().with_baggage(before);
    let empty = carrier(&[]);
    let ours = ContextVarsPropagator::new().extract_with_context(&cx, &empty);
    let sdk = BaggagePropagator::new().extract_with_context(&cx, &empty);
    assert_eq!(entries(ours.baggage()), owned(&[("kept", "yes", "")]));
    assert_eq!(entries(ours.baggage()), entries(sdk.baggage()));
    // With one, both replace it.
    let one = carrier(&[("baggage", "new=1")]);
    let ours = ContextVarsPropagator::new().extract_with_context(&cx, &one);
    let sdk = BaggagePropagator::new().extract_with_context(&cx, &one);
    assert_eq!(entries(ours.baggage()), owned(&[("new", "1", "")]));
    assert_eq!(entries(ours.baggage()), entries(sdk.baggage()));
}

// === several header fields ===

/// An extractor over an `http::HeaderMap` that, like opentelemetry-http's,
/// returns the first field from `get` and every field from `get_all`.
struct Headers(HeaderMap);

impl Extractor for Headers {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

fn header_map(pairs: &[(&str, &str)]) -> Headers {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Headers(map)
}

#[test]
fn several_header_fields() {
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    // Two traceparent fields: we start a new trace, as the W3C test suite
    // expects; the SDK reads only the first (`Extractor::get`).
    let two = header_map(&[("traceparent", TP), ("traceparent", other)]);
    assert!(span_of(&ours_extract(&two)).is_none());
    assert_eq!(
        span_of(&sdk_extract(&two)).unwrap().trace_id(),
        TraceId::from_hex(T).unwrap()
    );

    // tracestate and baggage fields combine (RFC 9110) for us; the SDK reads
    // the first field only.
    let split = header_map(&[
        ("traceparent", TP),
        ("tracestate", "rojo=1"),
        ("tracestate", "congo=2"),
        ("baggage", "a=1"),
        ("baggage", "b=2"),
    ]);
    let ours = ours_extract(&split);
    let sdk = sdk_extract(&split);
    assert_eq!(
        span_of(&ours).unwrap().trace_state().header(),
        "rojo=1,congo=2"
    );
    assert_eq!(span_of(&sdk).unwrap().trace_state().header(), "rojo=1");
    assert_eq!(
        entries(ours.baggage()),
        owned(&[("a", "1", ""), ("b", "2", "")])
    );
    assert_eq!(entries(sdk.baggage()), owned(&[("a", "1", "")]));

    // The same single fields give the same result through both extractors.
    let single = [
        ("traceparent", TP),
        ("tracestate", "rojo=1"),
        ("baggage", "a=1"),
    ];
    let from_map = ours_extract(&header_map(&single));
    let from_hash = ours_extract(&carrier(&single));
    assert_eq!(span_of(&from_map), span_of(&from_hash));
    assert_eq!(entries(from_map.baggage()), entries(from_hash.baggage()));
}

// === inject round trips ===

/// Span contexts to inject: flags 00, 01, 03; empty and non-empty tracestate.
fn span_contexts() -> Vec<SpanContext> {
    let mut out = Vec::new();
    for (i, (flags, state)) in [
        (0x00, ""),
        (0x01, "congo=t61rcWkgMzE"),
        (
            0x03,
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant@system=x y",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let root = TraceContext::new_root();
        out.push(SpanContext::new(
            TraceId::from_bytes(root.trace_id().to_bytes()),
            SpanId::from_bytes(root.span_id().to_bytes()),
            OtelTraceFlags::new(flags),
            i % 2 == 0,
            state.parse::<OtelTraceState>().unwrap(),
        ));
    }
    out
}

/// Baggage values that both sides write and read back unchanged.
fn portable_baggage() -> OtelBaggage {
    let mut baggage = OtelBaggage::new();
    baggage.insert("user-id", "42");
    baggage.insert("name", "Ada Lovelace");
    baggage.insert("text", "é✓, \"quoted\"; x");
    baggage.insert_with_metadata("region", "eu-west", "pii;ttl=60");
    baggage.insert("empty", "");
    baggage.insert("sum", "1+1=2");
    baggage.insert("tok!en#key", "a/b?c");
    baggage
}

fn expected_flags_after_sdk(span: &SpanContext) -> u8 {
    // The SDK keeps `sampled` only, on both inject and extract.
    span.trace_flags().to_u8() & 0x01
}

#[test]
fn ours_inject_then_sdk_extract() {
    for span in span_contexts() {
        let cx = opentelemetry::Context::new()
            .with_remote_span_context(span.clone())
            .with_baggage(portable_baggage());
        let mut headers = HashMap::new();
        ContextVarsPropagator::new().inject_context(&cx, &mut headers);

        let extracted = sdk_extract(&headers);
        let got = span_of(&extracted).unwrap();
        assert_eq!(got.trace_id(), span.trace_id());
        assert_eq!(got.span_id(), span.span_id());
        assert_eq!(got.trace_flags().to_u8(), expected_flags_after_sdk(&span));
        assert_eq!(got.trace_state(), span.trace_state());
        assert_eq!(entries(extracted.baggage()), entries(&portable_baggage()));

        // We write the `random` flag (0x02); the SDK would not.
        let flags = &headers["traceparent"][53..];
        assert_eq!(flags, format!("{:02x}", span.trace_flags().to_u8() & 0x03));
        // No `tracestate` header for an empty tracestate.
        assert_eq!(
            headers.contains_key("tracestate"),
            !span.trace_state().header().is_empty()
        );
    }
}

#[test]
fn sdk_inject_then_ours_extract() {
    for span in span_contexts() {
        let cx = opentelemetry::Context::new()
            .with_remote_span_context(span.clone())
            .with_baggage(portable_baggage());
        let mut headers = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut headers);
        BaggagePropagator::new().inject_context(&cx, &mut headers);
        // The SDK writes `tracestate` even when empty.
        assert!(headers.contains_key("tracestate"));

        let extracted = ours_extract(&headers);
        let got = span_of(&extracted).unwrap();
        assert_eq!(got.trace_id(), span.trace_id());
        assert_eq!(got.span_id(), span.span_id());
        assert!(got.is_remote());
        assert_eq!(got.trace_flags().to_u8(), expected_flags_after_sdk(&span));
        assert_eq!(got.trace_state(), span.trace_state());
        assert_eq!(entries(extracted.baggage()), entries(&portable_baggage()));
    }
}

#[test]
fn injected_baggage_differs_in_encoding_only() {
    // The same baggage, injected by both: the SDK leaves `+` (and `%`) as
    // they are, this crate encodes them; both extractors read both headers
    // as the same decoded entries.
    let baggage = || {
        let mut baggage = OtelBaggage::new();
        baggage.insert("sum", "1+1=2");
        baggage.insert("region", "DF 28 eu west");
        baggage.insert("tok!en#key", "x");
        baggage
    };
    let cx = opentelemetry::Context::new().with_baggage(baggage());
    let mut ours = HashMap::new();
    ContextVarsPropagator::new().inject_context(&cx, &mut ours);
    let mut sdk = HashMap::new();
    BaggagePropagator::new().inject_context(&cx, &mut sdk);
    assert_eq!(
        ours["baggage"],
        "region=DF%2028%20eu%20west,sum=1%2B1%3D2,tok!en#key=x"
    );
    let mut sdk_members: Vec<&str> = sdk["baggage"].split(',').collect();
    sdk_members.sort_unstable();
    assert_eq!(
        sdk_members,
        ["region=DF%2028%20eu%20west", "sum=1+1%3D2", "tok!en#key=x"]
    );
    for headers in [&ours, &sdk] {
        assert_eq!(
            entries(ours_extract(headers).baggage()),
            entries(&baggage())
        );
        assert_eq!(entries(sdk_extract(headers).baggage()), entries(&baggage()));
    }
}

#[test]
fn baggage_values_that_do_not_survive_the_other_side() {
    // Ours → SDK: encoded outer spaces are valid W3C, but the SDK's
    // extractor trims them. `=` and `+` are written encoded (`%3D`, `%2B`),
    // so the SDK, which cuts a value at a second `=`, reads them right.
    let mut ours = OtelBaggage::new();
    ours.insert("eq", "a=b");
    ours.insert("plus", "1+1=2");
    ours.insert("spaces", " x ");
    ours.insert("plain", "ok");
    let mut headers = HashMap::new();
    let cx = opentelemetry::Context::new().with_baggage(ours);
    ContextVarsPropagator::new().inject_context(&cx, &mut headers);
    assert_eq!(
        headers["baggage"],
        "eq=a%3Db,plain=ok,plus=1%2B1%3D2,spaces=%20x%20"
    );
    assert_eq!(
        entries(sdk_extract(&headers).baggage()),
        owned(&[
            ("eq", "a=b", ""),
            ("plus", "1+1=2", ""),
            ("spaces", "x", ""),
            ("plain", "ok", "")
        ])
    );
    assert_eq!(
        entries(ours_extract(&headers).baggage()),
        owned(&[
            ("eq", "a=b", ""),
            ("plus", "1+1=2", ""),
            ("spaces", " x ", ""),
            ("plain", "ok", "")
        ])
    );

    // SDK → ours: the SDK's injector does not encode `%` or `\`, and trims.
    // `100%` and `a\b` are then not valid W3C values (we drop them), `%41`
    // reads back as `A` (on both sides).
    let mut sdk = OtelBaggage::new();
    sdk.insert("pct", "100%");
    sdk.insert("backslash", "a\\b");
    sdk.insert("escape", "%41");
    sdk.insert("spaces", " x ");
    sdk.insert("plain", "ok");
    let cx = opentelemetry::Context::new().with_baggage(sdk);
    let mut headers = HashMap::new();
    BaggagePropagator::new().inject_context(&cx, &mut headers);
    assert_eq!(
        entries(ours_extract(&headers).baggage()),
        owned(&[
            ("escape", "A", ""),
            ("spaces", "x", ""),
            ("plain", "ok", "")
        ])
    );
    assert_eq!(
        entries(sdk_extract(&headers).baggage()),
        owned(&[
            ("pct", "100%", ""),
            ("backslash", "a\\b", ""),
            ("escape", "A", ""),
            ("spaces", "x", ""),
            ("plain", "ok", "")
        ])
    );
}

#[test]
fn propagate_layer_inject_then_sdk_extract() {
    // The HTTP path: what `PropagateLayer` (and `PropagateService`, and the
    // reqwest middleware) send is what the SDK reads.
    let layer = PropagateLayer::new().forward_baggage(["user-id", "name"]);
    let mut ctx = Context::new();
    let hop = TraceContext::new_root()
        .with_flags(TraceFlags::from_bits(0x03))
        .with_trace_state("congo=t61rcWkgMzE".parse().unwrap());
    let mut headers = HeaderMap::new();
    let outbound = ctx.run_mut(|| {
        TRACE.set(hop.clone());
        REQUEST_ID.set(RequestId::new("req-1").unwrap());
        BAGGAGE.set("user-id=42,secret=x,name=Ada%20Lovelace".parse().unwrap());
        layer.inject(&mut headers)
    });
    let extracted = sdk_extract(&Headers(headers));
    let span = span_of(&extracted).unwrap();
    assert_eq!(span.trace_id().to_bytes(), hop.trace_id().to_bytes());
    assert_eq!(span.span_id().to_bytes(), outbound.span_id().to_bytes());
    assert_eq!(outbound.parent_span_id(), Some(hop.span_id()));
    assert_eq!(span.trace_flags(), OtelTraceFlags::SAMPLED);
    assert_eq!(span.trace_state().header(), "congo=t61rcWkgMzE");
    assert_eq!(
        entries(extracted.baggage()),
        owned(&[("user-id", "42", ""), ("name", "Ada Lovelace", "")])
    );
}

#[test]
fn global_propagator_injects_the_current_values() {
    opentelemetry::global::set_text_map_propagator(ContextVarsPropagator::new());
    let hop = TraceContext::new_root();
    let headers = Context::new().run(|| {
        TRACE.set(hop.clone());
        BAGGAGE.set("user-id=42".parse().unwrap());
        let mut headers = HashMap::new();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&current_otel_context(), &mut headers)
        });
        headers
    });
    assert_eq!(headers["traceparent"], hop.traceparent().to_string());
    assert_eq!(headers["baggage"], "user-id=42");
    let fields: Vec<String> =
        opentelemetry::global::get_text_map_propagator(|p| p.fields().map(String::from).collect());
    assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
}

// === conversions ===

#[test]
fn trace_context_to_span_context_is_exact() {
    let hop = TraceContext::new_root()
        .with_flags(TraceFlags::from_bits(0x03))
        .with_trace_state("rojo=1,congo=2".parse().unwrap())
        .child();
    for is_remote in [true, false] {
        let span = hop.to_span_context(is_remote);
        assert_eq!(span.trace_id().to_bytes(), hop.trace_id().to_bytes());
        assert_eq!(span.span_id().to_bytes(), hop.span_id().to_bytes());
        assert_eq!(span.trace_flags().to_u8(), 0x03);
        assert_eq!(span.is_remote(), is_remote);
        assert_eq!(span.trace_state().header(), "rojo=1,congo=2");
    }
}

#[test]
fn span_context_to_trace_context_is_a_child_hop() {
    let span = SpanContext::new(
        TraceId::from_hex(T).unwrap(),
        SpanId::from_hex(S).unwrap(),
        OtelTraceFlags::new(0xff),
        false,
        "rojo=1,9lives=x,congo=2".parse().unwrap(),
    );
    let hop = TraceContext::from_span_context(&span).unwrap();
    assert_eq!(hop.trace_id().to_string(), T);
    assert_eq!(hop.parent_span_id().unwrap().to_string(), S);
    assert_ne!(hop.span_id().to_string(), S);
    assert_eq!(hop.flags(), TraceContext::PROPAGATED_FLAGS);
    // Every member is valid W3C: kept in order.
    assert_eq!(hop.trace_state().to_string(), "rojo=1,9lives=x,congo=2");

    // There and back: a child of the original.
    let original = TraceContext::new_root();
    let back = TraceContext::from_span_context(&original.to_span_context(true)).unwrap();
    assert_eq!(back.trace_id(), original.trace_id());
    assert_eq!(back.parent_span_id(), Some(original.span_id()));
    assert_eq!(back.flags(), original.flags());

    for invalid in [
        SpanContext::NONE,
        SpanContext::new(
            TraceId::INVALID,
            SpanId::from_hex(S).unwrap(),
            OtelTraceFlags::SAMPLED,
            true,
            OtelTraceState::NONE,
        ),
        SpanContext::new(
            TraceId::from_hex(T).unwrap(),
            SpanId::INVALID,
            OtelTraceFlags::SAMPLED,
            true,
            OtelTraceState::NONE,
        ),
    ] {
        assert!(TraceContext::from_span_context(&invalid).is_none());
    }
}

#[test]
fn baggage_conversions() {
    let ours: w3c::Baggage = "b=2;p1;p2=x,a=%20one,b=dup,c=".parse().unwrap();
    let otel = OtelBaggage::from(&ours);
    assert_eq!(
        entries(&otel),
        owned(&[("a", " one", ""), ("b", "2", "p1;p2=x"), ("c", "", "")])
    );
    // Back: sorted by key, properties restored, the duplicate gone.
    let back = w3c::Baggage::from(&otel);
    assert_eq!(back.to_string(), "a=%20one,b=2;p1;p2=x,c=");

    // Any value converts; metadata that is not a property list is dropped.
    let mut otel = OtelBaggage::new();
    otel.insert_with_metadata("k", "a,b;c\\d%", "not a property");
    otel.insert_with_metadata("m", "v", "p=1;q");
    let ours = w3c::Baggage::from(&otel);
    assert_eq!(ours.get("k"), Some("a,b;c\\d%"));
    assert_eq!(ours.to_string(), "k=a%2Cb%3Bc%5Cd%25,m=v;p=1;q");
    assert_eq!(ours.to_string().parse::<w3c::Baggage>().unwrap(), ours);

    // The W3C limits: 64 members of ours always fit OpenTelemetry's.
    let full: w3c::Baggage = (0..64)
        .map(|i| format!("key{i}={}", "v".repeat(100)))
        .collect::<Vec<_>>()
        .join(",")
        .parse()
        .unwrap();
    assert_eq!(full.len(), 64);
    assert_eq!(OtelBaggage::from(&full).len(), 64);
}

// === contexts ===

#[test]
fn current_otel_context_carries_trace_and_baggage() {
    // Outside of any context variables: the OpenTelemetry context as is.
    let cx = current_otel_context();
    assert!(!cx.has_active_span() && cx.baggage().is_empty());

    let hop = TraceContext::new_root().with_trace_state("rojo=1".parse().unwrap());
    Context::new().run(|| {
        TRACE.set(hop.clone());
        BAGGAGE.set("user-id=42;pii".parse().unwrap());
        let cx = current_otel_context();
        let span = cx.span().span_context().clone();
        assert_eq!(span, hop.to_span_context(true));
        assert_eq!(entries(cx.baggage()), owned(&[("user-id", "42", "pii")]));

        // It replaces the span of OpenTelemetry's current context, and keeps
        // its other values.
        #[derive(Debug, PartialEq)]
        struct Marker(u8);
        let other = SpanContext::new(
            TraceId::from_hex(T).unwrap(),
            SpanId::from_hex(S).unwrap(),
            OtelTraceFlags::SAMPLED,
            false,
            OtelTraceState::NONE,
        );
        let _guard = opentelemetry::Context::new()
            .with_remote_span_context(other)
            .with_value(Marker(7))
            .attach();
        let cx = current_otel_context();
        assert_eq!(cx.span().span_context(), &span);
        assert_eq!(cx.get::<Marker>(), Some(&Marker(7)));
    });
}

#[test]
fn otel_spans_started_in_current_otel_context_continue_the_trace() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let tracer = provider.tracer("test");
    for sampled in [true, false] {
        let hop = TraceContext::new_root().with_flags(TraceFlags::NONE.with_sampled(sampled));
        let span = Context::new().run(|| {
            TRACE.set(hop.clone());
            tracer.start_with_context("work", &current_otel_context())
        });
        let span_context = opentelemetry::trace::Span::span_context(&span).clone();
        assert_eq!(
            span_context.trace_id().to_bytes(),
            hop.trace_id().to_bytes()
        );
        assert_ne!(span_context.span_id().to_bytes(), hop.span_id().to_bytes());
        // The default sampler follows the (remote) parent's decision.
        assert_eq!(span_context.is_sampled(), sampled);
    }
}

#[test]
fn with_otel_context_sets_trace_and_baggage_in_a_copy() {
    let headers = carrier(&[("traceparent", TP), ("baggage", "user-id=42")]);
    let cx = ContextVarsPropagator::new().extract(&headers);
    let (trace, baggage, request_id) = Context::new().run(|| {
        REQUEST_ID.set(RequestId::new("r-1").unwrap());
        BAGGAGE.set("before=1".parse().unwrap());
        let inside = with_otel_context(&cx, || {
            TRACE.set(TRACE.get().child()); // sets stay in the copy
            (TRACE.get(), BAGGAGE.get(), REQUEST_ID.get())
        });
        // Unchanged outside.
        assert!(TRACE.get_opt().is_none());
        assert_eq!(BAGGAGE.get().get("before"), Some("1"));
        inside
    });
    assert_eq!(trace.trace_id().to_string(), T);
    assert_ne!(trace.parent_span_id().unwrap().to_string(), S); // the child's
    assert_eq!(baggage.to_string(), "user-id=42");
    assert_eq!(request_id.as_str(), "r-1"); // other variables: from the copy

    // A context without span or baggage leaves both variables as they are.
    let hop = TraceContext::new_root();
    Context::new().run(|| {
        TRACE.set(hop.clone());
        BAGGAGE.set("kept=1".parse().unwrap());
        let (trace, baggage) = with_otel_context(&opentelemetry::Context::new(), || {
            (TRACE.get(), BAGGAGE.get())
        });
        assert_eq!(trace, hop);
        assert_eq!(baggage.get("kept"), Some("1"));
    });
}

#[tokio::test]
async fn copy_context_from_otel_runs_futures() {
    let headers = carrier(&[("traceparent", TP), ("baggage", "tenant=acme")]);
    let cx = ContextVarsPropagator::new().extract(&headers);
    let ctx = copy_context_from_otel(&cx);
    let (trace_id, parent, tenant) = async {
        tokio::task::yield_now().await;
        let trace = TRACE.get();
        (
            trace.trace_id().to_string(),
            trace.parent_span_id().map(|s| s.to_string()),
            BAGGAGE.get().get("tenant").map(String::from),
        )
    }
    .with_context(ctx)
    .await;
    assert_eq!(trace_id, T);
    assert_eq!(parent.as_deref(), Some(S));
    assert_eq!(tenant.as_deref(), Some("acme"));
    assert!(TRACE.get_opt().is_none());
}

// === Typed variables that travel, against OpenTelemetry's baggage ===

static TENANT: contextvars::ContextVar<String> = contextvars::ContextVar::builder("tenant")
    .propagate()
    .build();

#[test]
fn a_propagated_variable_reads_back_as_a_plain_string_in_the_sdk() {
    let value = "acme corp/eu=1,x;y%\"é+";
    let mut headers: HashMap<String, String> = HashMap::new();
    Context::new().run(|| {
        TENANT.set(value.to_owned());
        PropagateLayer::new().inject_into(&mut headers);
    });
    let cx = BaggagePropagator::new().extract(&headers);
    assert_eq!(
        cx.baggage().get("tenant").map(|v| v.as_str().to_owned()),
        Some(value.to_owned())
    );
}

#[test]
fn sdk_baggage_sets_the_accepted_variable() {
    let otel_baggage = OtelBaggage::from_iter([
        opentelemetry::KeyValue::new("tenant", "acme corp/eu=1,x;y"),
        opentelemetry::KeyValue::new("other", "z"),
    ]);
    let cx = opentelemetry::Context::new().with_baggage(otel_baggage);
    let mut fields: HashMap<String, String> = HashMap::new();
    BaggagePropagator::new().inject_context(&cx, &mut fields);
    let layer = contextvars_tower::RequestContextLayer::new().accept(&TENANT);
    layer.extract(&fields).run(|| {
        assert_eq!(TENANT.get(), "acme corp/eu=1,x;y");
        assert_eq!(BAGGAGE.get().get("other"), Some("z"));
    });
}
