//! Property checks on untrusted header values, shared by the cargo-fuzz
//! targets in `fuzz/fuzz_targets/` (which include this file with `#[path]`)
//! and the corpus replay tests in `tests/fuzz_replay.rs`, so that the two
//! cannot drift apart.
//!
//! Each public function takes raw fuzz input and panics — a libFuzzer crash,
//! a test failure — when a property does not hold. The properties are more
//! than "no panic":
//!
//! * round trip: parse → `Display` → parse gives an equal value, and
//!   `Display` is idempotent;
//! * canonical output: every `Display` output is a valid header value of
//!   printable ASCII (never CR, LF or another control character); ids are
//!   lowercase hex, and only `tracestate` values may hold a space;
//! * differential: `traceparent`, the ids, request ids and `tracestate`
//!   (Trace Context Level 2 keys, the first member of each key kept) are
//!   checked against a plain transcription of their grammar, in both
//!   directions;
//! * limits: a `RequestId` is 1 to 128 visible ASCII bytes, a `TraceState`
//!   has at most 32 members, a `Baggage` at most 64 members and 8192 encoded
//!   bytes, whatever the input and whichever way it was built;
//! * the server layer: the values a handler sees are those the headers call
//!   for, and the request id header is replaced and echoed.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt::{Debug, Display};
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use contextvars_tower::w3c::{
    Baggage, BaggageError, SpanId, TraceFlags, TraceId, TraceParent, TraceState,
};
use contextvars_tower::{
    HeaderListTooLarge, InvalidRequestId, RequestContextLayer, RequestId, TraceContext, BAGGAGE,
    REQUEST_ID, TRACE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

// ---------------------------------------------------------------------------
// Helpers: independent transcriptions of the grammars.

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Every `Display` output: printable ASCII only (no CR, LF, NUL, DEL or
/// other control character, nothing non-ASCII), and a valid header value.
fn check_header_text(what: &str, shown: &str) {
    assert!(
        shown.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "{what}: Display output has a control or non-ASCII byte: {shown:?}"
    );
    assert!(
        HeaderValue::from_str(shown).is_ok(),
        "{what}: Display output is not a header value: {shown:?}"
    );
}

fn check_no_whitespace(what: &str, shown: &str) {
    assert!(
        !shown.contains([' ', '\t']),
        "{what}: Display output has whitespace: {shown:?}"
    );
}

// ---------------------------------------------------------------------------
// traceparent, trace ids, span ids, flags

/// The canonical form of a valid `traceparent`, straight from Trace Context
/// Level 1: `None` if the specification says to ignore it.
fn spec_traceparent(b: &[u8]) -> Option<String> {
    if b.len() < 55 {
        return None;
    }
    let version = &b[..2];
    if !is_lower_hex(version) || version == b"ff" {
        return None;
    }
    // Version 00: exactly four fields. Higher: more fields may follow a dash.
    if version == b"00" && b.len() != 55 {
        return None;
    }
    if b.len() > 55 && b[55] != b'-' {
        return None;
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let (trace, parent, flags) = (&b[3..35], &b[36..52], &b[53..55]);
    if !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags) {
        return None;
    }
    if trace.iter().all(|&c| c == b'0') || parent.iter().all(|&c| c == b'0') {
        return None;
    }
    let flags = std::str::from_utf8(flags).ok()?;
    let mut bits = u8::from_str_radix(flags, 16).ok()?;
    if version != b"00" {
        // Only the sampled bit of an unknown version is understood.
        bits &= 0x01;
    }
    let trace = std::str::from_utf8(trace).ok()?;
    let parent = std::str::from_utf8(parent).ok()?;
    Some(format!("00-{trace}-{parent}-{bits:02x}"))
}

/// A parsed `traceparent`: canonical, and it round-trips.
fn check_traceparent(tp: &TraceParent) {
    let shown = tp.to_string();
    check_header_text("traceparent", &shown);
    check_no_whitespace("traceparent", &shown);
    let b = shown.as_bytes();
    assert!(
        b.len() == 55
            && shown.starts_with("00-")
            && b[35] == b'-'
            && b[52] == b'-'
            && is_lower_hex(&b[3..35])
            && is_lower_hex(&b[36..52])
            && is_lower_hex(&b[53..55]),
        "traceparent Display is not canonical: {shown:?}"
    );
    assert_eq!(
        shown.parse::<TraceParent>(),
        Ok(*tp),
        "round trip {shown:?}"
    );
    assert_eq!(
        TraceParent::new(tp.trace_id(), tp.parent_id(), tp.flags()),
        *tp
    );
    assert_eq!(shown[3..35], tp.trace_id().to_string());
    assert_eq!(shown[36..52], tp.parent_id().to_string());
    assert_eq!(shown[53..55], tp.flags().to_string());
}

/// `TraceId`, `SpanId`, `TraceFlags`: exactly `hex_len` lowercase hex
/// characters (not all zero for the ids), displayed exactly as parsed.
fn check_id<T>(s: &str, hex_len: usize, zero_is_invalid: bool)
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Debug,
{
    let b = s.as_bytes();
    let valid =
        b.len() == hex_len && is_lower_hex(b) && !(zero_is_invalid && b.iter().all(|&c| c == b'0'));
    match s.parse::<T>() {
        Ok(id) => {
            assert!(valid, "{s:?} parsed as {id:?}, against the grammar");
            let shown = id.to_string();
            assert_eq!(shown, s, "id Display differs from its canonical input");
            assert_eq!(shown.parse::<T>().ok(), Some(id));
        }
        Err(err) => assert!(!valid, "{s:?} rejected ({err:?}), but is valid"),
    }
}

/// Fuzz target `traceparent`: the input, as text, is a `traceparent` value
/// (and a trace id, a span id and flags).
pub(crate) fn traceparent(data: &[u8]) {
    let s = text(data);
    let parsed = s.parse::<TraceParent>();
    let expected = spec_traceparent(s.as_bytes());
    match (&parsed, &expected) {
        (Ok(tp), Some(canonical)) => {
            assert_eq!(&tp.to_string(), canonical, "traceparent {s:?}");
            check_traceparent(tp);
        }
        (Err(_), None) => {}
        _ => panic!("traceparent {s:?}: parsed as {parsed:?}, the specification says {expected:?}"),
    }
    check_id::<TraceId>(&s, 32, true);
    check_id::<SpanId>(&s, 16, true);
    check_id::<TraceFlags>(&s, 2, false);
}

// ---------------------------------------------------------------------------
// tracestate

/// `key = ( lcalpha / DIGIT ) 0*255( keychar )` (Trace Context Level 2).
fn spec_tracestate_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.clone().count() <= 255
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-*/@".contains(c))
}

/// `simple-key / multi-tenant-key` (Trace Context Level 1), all of which
/// are Level 2 keys.
fn level_1_tracestate_key(key: &str) -> bool {
    let keychars = |s: &str| {
        s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    };
    match key.split_once('@') {
        None => {
            key.starts_with(|c: char| c.is_ascii_lowercase()) && key.len() <= 256 && keychars(key)
        }
        Some((tenant, system)) => {
            tenant.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && tenant.len() <= 241
                && keychars(tenant)
                && system.starts_with(|c: char| c.is_ascii_lowercase())
                && system.len() <= 14
                && keychars(system)
        }
    }
}

/// `value = 0*255(chr) nblk-chr`.
fn spec_tracestate_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

/// Any `TraceState`, however built: within the limit, valid members with
/// unique keys, canonical `Display` that round-trips.
fn check_tracestate(state: &TraceState) {
    assert!(
        state.len() <= TraceState::MAX_MEMBERS,
        "tracestate with {} members",
        state.len()
    );
    assert_eq!(state.iter().len(), state.len());
    assert_eq!(state.is_empty(), state.iter().next().is_none());
    for (i, (k, v)) in state.iter().enumerate() {
        assert!(spec_tracestate_key(k), "tracestate key {k:?}");
        assert!(spec_tracestate_value(v), "tracestate value {v:?}");
        assert!(
            state.iter().take(i).all(|(other, _)| other != k),
            "duplicate tracestate key {k:?}"
        );
        assert_eq!(state.get(k), Some(v));
    }
    let shown = state.to_string();
    check_header_text("tracestate", &shown);
    // Values may hold spaces, but there is no optional whitespace.
    assert!(
        !shown.contains('\t')
            && !shown.starts_with(' ')
            && !shown.ends_with(' ')
            && !shown.contains(", ")
            && !shown.contains(" ,")
            && !shown.contains(",,"),
        "tracestate Display is not canonical: {shown:?}"
    );
    assert_eq!(shown.is_empty(), state.is_empty());
    let reparsed = shown.parse::<TraceState>();
    assert_eq!(reparsed.as_ref(), Ok(state), "round trip {shown:?}");
    assert_eq!(reparsed.unwrap().to_string(), shown);
}

/// Fuzz target `tracestate`: the input, as text, is a `tracestate` value.
/// Text after a newline is also read as `key=value` and inserted into the
/// state parsed from the text before it.
pub(crate) fn tracestate(data: &[u8]) {
    let s = text(data);
    let parsed = s.parse::<TraceState>();
    let members: Vec<&str> = s
        .split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    for (key, _) in members.iter().filter_map(|m| m.split_once('=')) {
        assert!(
            level_1_tracestate_key(key) <= spec_tracestate_key(key),
            "a Level 1 key that is not a Level 2 key: {key:?}"
        );
    }
    if let Ok(state) = &parsed {
        check_tracestate(state);
        // Every non-empty member is valid, and the first member with each
        // key is kept, in order.
        assert!(members.len() <= TraceState::MAX_MEMBERS);
        let mut firsts: Vec<(&str, &str)> = Vec::new();
        for member in &members {
            let (key, value) = member.split_once('=').expect("a valid member");
            if firsts.iter().all(|&(k, _)| k != key) {
                firsts.push((key, value));
            }
        }
        assert!(state.iter().eq(firsts), "tracestate {s:?}");
        // Truncation to any length: whole members removed, the large ones
        // (over 128 characters) first, the rest kept in order.
        let max_len = data.len() / 2;
        let mut truncated = state.clone();
        let removed = truncated.truncate(max_len);
        check_tracestate(&truncated);
        assert!(truncated.to_string().len() <= max_len);
        assert_eq!(truncated.len() + removed, state.len());
        let mut rest = state.iter();
        assert!(
            truncated.iter().all(|member| rest.any(|m| m == member)),
            "truncating {state:?} to {max_len} reordered it: {truncated:?}"
        );
        // Members of up to 128 characters are removed only once no larger
        // one is left.
        let small = |&(k, v): &(&str, &str)| k.len() + 1 + v.len() <= TraceState::LARGE_MEMBER_LEN;
        let removed_small = state
            .iter()
            .filter(small)
            .any(|m| !truncated.iter().any(|t| t == m));
        if removed_small {
            assert!(
                truncated.iter().all(|m| small(&m)),
                "truncating {state:?} to {max_len} kept a large member: {truncated:?}"
            );
        }
    } else if members.len() <= TraceState::MAX_MEMBERS {
        // Refused only for a member the grammar refuses.
        assert!(
            members.iter().any(|member| match member.split_once('=') {
                Some((key, value)) => !spec_tracestate_key(key) || !spec_tracestate_value(value),
                None => true,
            }),
            "tracestate {s:?} refused: {parsed:?}"
        );
    }
    // Empty members and optional whitespace around the list change nothing,
    // not even which error is reported.
    assert_eq!(
        format!(" ,{s},\t").parse::<TraceState>(),
        parsed,
        "tracestate {s:?} with empty members around it"
    );

    if let Some((head, tail)) = s.split_once('\n') {
        let mut state: TraceState = head.parse().unwrap_or_default();
        let before = state.clone();
        let (key, value) = tail.split_once('=').unwrap_or((tail, ""));
        // `insert` accepts exactly the members that parse as themselves.
        let alone = format!("{key}={value}").parse::<TraceState>();
        let parses_as_itself = matches!(&alone, Ok(t) if t.iter().eq([(key, value)]));
        match state.insert(key, value) {
            Ok(()) => {
                assert!(
                    parses_as_itself,
                    "insert({key:?}, {value:?}) accepted, but it parses as {alone:?}"
                );
                check_tracestate(&state);
                assert_eq!(state.iter().next(), Some((key, value)));
                // The others keep their order; the 33rd is dropped.
                assert!(state.iter().skip(1).eq(before
                    .iter()
                    .filter(|&(k, _)| k != key)
                    .take(TraceState::MAX_MEMBERS - 1)));
                assert_eq!(state.remove(key).as_deref(), Some(value));
                assert_eq!(state.get(key), None);
                check_tracestate(&state);
            }
            Err(err) => {
                assert!(
                    !parses_as_itself,
                    "insert({key:?}, {value:?}) refused: {err:?}"
                );
                assert_eq!(state, before, "a refused insert changed the tracestate");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// baggage

/// Any `Baggage`, however built: within the limits, its size the length of
/// its canonical `Display`, which round-trips through both parsers.
fn check_baggage(baggage: &Baggage) {
    let shown = baggage.to_string();
    assert!(
        baggage.len() <= Baggage::MAX_MEMBERS,
        "baggage with {} members",
        baggage.len()
    );
    assert!(
        baggage.encoded_len() <= Baggage::MAX_BYTES,
        "baggage of {} bytes",
        baggage.encoded_len()
    );
    assert_eq!(baggage.encoded_len(), shown.len(), "size of {shown:?}");
    check_header_text("baggage", &shown);
    check_no_whitespace("baggage", &shown);
    assert_eq!(baggage.iter().len(), baggage.len());
    assert_eq!(baggage.is_empty(), shown.is_empty());
    for (i, member) in baggage.iter().enumerate() {
        let key = member.key();
        assert!(!key.is_empty(), "empty baggage key");
        if baggage.iter().take(i).all(|m| m.key() != key) {
            assert_eq!(baggage.get(key), Some(member.value()));
        }
        for (k, v) in member.properties() {
            assert!(is_token(k), "baggage property key {k:?}");
            if let Some(v) = v {
                assert!(
                    v.bytes()
                        .all(|b| b != b';' && b != b',' && b != b'\\' && b != b'"'),
                    "baggage property value {v:?}"
                );
            }
        }
        // Key and value are percent-encoded canonically: `%` and two
        // uppercase hex digits, for exactly the bytes outside the safe set:
        // token characters except `%` in keys; `baggage-octet`s except `%`,
        // `+` and `=` in values.
        let member_text = member.to_string();
        let (wire_key, rest) = member_text.split_once('=').unwrap();
        assert!(is_token(wire_key), "written baggage key {wire_key:?}");
        let wire_value = rest.split(';').next().unwrap_or_default();
        let key_safe = |b: u8| is_tchar(b) && b != b'%';
        let value_safe = |b: u8| {
            matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
                && !b"%+=".contains(&b)
        };
        assert_eq!(
            decode_canonical(wire_key, key_safe, &member_text),
            key.as_bytes(),
            "key of {member_text:?}"
        );
        assert_eq!(
            decode_canonical(wire_value, value_safe, &member_text),
            member.value().as_bytes(),
            "value of {member_text:?}"
        );
    }
    let strict = shown.parse::<Baggage>();
    assert_eq!(strict.as_ref(), Ok(baggage), "strict round trip {shown:?}");
    assert_eq!(
        &Baggage::parse_lossy(&shown),
        baggage,
        "lossy round trip {shown:?}"
    );
    assert_eq!(strict.unwrap().to_string(), shown);
}

/// Decodes `encoded`, checking that it escapes exactly the bytes that are
/// not `safe`, with upper-case hex digits.
fn decode_canonical(encoded: &str, safe: impl Fn(u8) -> bool, member_text: &str) -> Vec<u8> {
    let mut bytes = encoded.bytes();
    let mut decoded = Vec::new();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: Vec<u8> = bytes.by_ref().take(2).collect();
            assert!(
                hex.len() == 2 && hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'A'..=b'F')),
                "baggage escape in {member_text:?}"
            );
            let byte = u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap();
            assert!(!safe(byte), "needless escape in {member_text:?}");
            decoded.push(byte);
        } else {
            assert!(safe(b), "unescaped {b:#04x} in {member_text:?}");
            decoded.push(b);
        }
    }
    decoded
}

/// Fuzz target `baggage`: the input, as text, is a `baggage` value, parsed
/// strictly and leniently. Text after a newline is also read as
/// `key=value` and inserted into the baggage parsed from the text before it.
pub(crate) fn baggage(data: &[u8]) {
    let s = text(data);
    let lossy = Baggage::parse_lossy(&s);
    check_baggage(&lossy);
    // The form reading: the same, except where a `+` was read.
    let form = Baggage::parse_lossy_plus_as_space(&s);
    check_baggage(&form);
    if !s.contains('+') {
        assert_eq!(form, lossy, "form and lossy parses of {s:?} differ");
    }
    match s.parse::<Baggage>() {
        Ok(strict) => {
            check_baggage(&strict);
            // Nothing malformed was read: the lenient parser agrees.
            assert_eq!(strict, lossy, "strict and lossy parses of {s:?} differ");
        }
        Err(err) => assert!(
            !matches!(err, BaggageError::TooManyMembers | BaggageError::TooLarge),
            "strict parse of {s:?} failed with {err:?}"
        ),
    }

    if let Some((head, tail)) = s.split_once('\n') {
        let mut baggage = Baggage::parse_lossy(head);
        let before = baggage.clone();
        let (key, value) = tail.split_once('=').unwrap_or((tail, ""));
        match baggage.insert(key, value) {
            Ok(()) => {
                assert!(!key.is_empty(), "insert accepted an empty key");
                check_baggage(&baggage);
                assert_eq!(baggage.get(key), Some(value));
                assert_eq!(baggage.iter().filter(|m| m.key() == key).count(), 1);
                let reparsed: Baggage = baggage.to_string().parse().unwrap();
                assert_eq!(reparsed.get(key), Some(value));
                assert!(baggage.remove(key));
                assert_eq!(baggage.get(key), None);
                check_baggage(&baggage);
            }
            Err(err) => {
                match err {
                    BaggageError::InvalidKey => assert!(key.is_empty(), "key {key:?} refused"),
                    BaggageError::TooManyMembers => {
                        assert_eq!(before.len(), Baggage::MAX_MEMBERS);
                        assert_eq!(before.get(key), None);
                    }
                    BaggageError::TooLarge => {}
                    other => panic!("insert({key:?}, {value:?}) failed with {other:?}"),
                }
                assert_eq!(baggage, before, "a refused insert changed the baggage");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// request ids

/// Any `RequestId`: 1 to 128 visible ASCII bytes, displayed as is.
fn check_request_id(id: &RequestId) {
    let s = id.as_str();
    assert!(
        (1..=RequestId::MAX_LEN).contains(&s.len())
            && s.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "invalid request id {s:?}"
    );
    assert_eq!(id.to_string(), s);
    assert_eq!(id.to_header_value().as_bytes(), s.as_bytes());
    check_header_text("request id", s);
    assert_eq!(s.parse::<RequestId>().as_ref(), Ok(id));
}

/// Fuzz target `request_id`: the input is a request id header value.
pub(crate) fn request_id(data: &[u8]) {
    let expected = if data.is_empty() {
        Err(InvalidRequestId::Empty)
    } else if data.len() > RequestId::MAX_LEN {
        Err(InvalidRequestId::TooLong)
    } else if let Some(index) = data.iter().position(|b| !(0x21..=0x7e).contains(b)) {
        Err(InvalidRequestId::InvalidByte { index })
    } else {
        Ok(data)
    };
    let from_bytes = RequestId::from_bytes(data);
    assert_eq!(
        from_bytes
            .as_ref()
            .map(|id| id.as_str().as_bytes())
            .map_err(|e| *e),
        expected,
        "request id {:?}",
        text(data)
    );
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(RequestId::new(s), from_bytes);
        assert_eq!(s.parse::<RequestId>(), from_bytes);
    }
    if let Ok(id) = &from_bytes {
        check_request_id(id);
    }
}

// ---------------------------------------------------------------------------
// the server layer

/// What the inner service saw.
#[derive(Debug)]
struct Seen {
    request_id: Arc<RequestId>,
    trace: Arc<TraceContext>,
    baggage: Arc<Baggage>,
    headers: HeaderMap,
    extensions: (Option<RequestId>, Option<TraceContext>, Option<Baggage>),
    too_large: bool,
}

/// An inner service that records what it saw.
#[derive(Clone, Copy, Debug)]
struct Probe;

impl Service<Request<()>> for Probe {
    type Response = Response<Seen>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Seen>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        let extensions = req.extensions();
        ready(Ok(Response::new(Seen {
            request_id: REQUEST_ID.get_arc(),
            trace: TRACE.get_arc(),
            baggage: BAGGAGE.get_arc(),
            headers: req.headers().clone(),
            extensions: (
                extensions.get().cloned(),
                extensions.get().cloned(),
                extensions.get().cloned(),
            ),
            too_large: extensions.get::<HeaderListTooLarge>().is_some(),
        })))
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The headers of a fuzz input: one `name:value` per line. Names `i`, `p`,
/// `s` and `b` stand for `x-request-id`, `traceparent`, `tracestate` and
/// `baggage` (which are also accepted in full); any other name is
/// `x-other`, a header the layer must pass through unchanged. (Mapping
/// names, rather than parsing them with `HeaderName::from_bytes`, keeps the
/// fuzzer on this crate's code instead of `http`'s header-name parser.)
/// Lines without a `:`, and values that are not valid header values, are
/// skipped. Without a leading `!` the layer inserts every extension it can
/// (trace context and baggage in the request, request id in the response);
/// a leading `!` selects the other settings: new traces not sampled, no
/// echo, the default extensions (the request id in the request only).
fn parse_header_lines(data: &[u8]) -> (bool, HeaderMap) {
    let (quiet, data) = match data.split_first() {
        Some((b'!', rest)) => (true, rest),
        _ => (false, data),
    };
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n').take(1000) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = match &line[..colon] {
            b"i" | b"x-request-id" => X_REQUEST_ID,
            b"p" | b"traceparent" => HeaderName::from_static("traceparent"),
            b"s" | b"tracestate" => HeaderName::from_static("tracestate"),
            b"b" | b"baggage" => HeaderName::from_static("baggage"),
            _ => HeaderName::from_static("x-other"),
        };
        if let Ok(value) = HeaderValue::from_bytes(&line[colon + 1..]) {
            map.append(name, value);
        }
    }
    (quiet, map)
}

/// A new request id: a lowercase UUIDv7.
fn is_uuid_v7(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        })
        && b[14] == b'7'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// Fuzz target `headers`: the whole extraction, through
/// `RequestContextService::call`, from a `HeaderMap` built from the input
/// (see [`parse_header_lines`]).
pub(crate) fn headers(data: &[u8]) {
    let (quiet, map) = parse_header_lines(data);
    let layer = if quiet {
        RequestContextLayer::new()
            .sample_new_traces(false)
            .echo_request_id(false)
    } else {
        RequestContextLayer::new()
            .trace_extensions(true)
            .response_extension(true)
    };
    let mut service = layer.layer(Probe);
    let mut request = Request::new(());
    *request.headers_mut() = map.clone();
    let mut future = pin!(service.call(request));
    let response = match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the response future of a ready service is pending"),
    };
    let seen = response.body();

    // Size: name + value + 32 bytes per field; over the limit, no header is
    // read (the values are those of a request without headers) and the
    // request is marked.
    let size: usize = map
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum();
    let too_large = size > RequestContextLayer::DEFAULT_MAX_HEADER_BYTES;
    assert_eq!(seen.too_large, too_large, "size {size}");
    let none = HeaderMap::new();
    let read = if too_large { &none } else { &map };
    let all = |name: &str| read.get_all(name).iter().collect::<Vec<_>>();

    // Request id: the only valid `x-request-id`, else the trace id of the
    // only valid `traceparent`, else a new UUIDv7.
    let parent: Option<TraceParent> = match all("traceparent")[..] {
        [one] => one
            .to_str()
            .ok()
            .and_then(|s| s.trim_matches([' ', '\t']).parse().ok()),
        _ => None,
    };
    let given_id = match all("x-request-id")[..] {
        [one] => RequestId::from_bytes(one.as_bytes()).ok(),
        _ => None,
    };
    let request_id = &*seen.request_id;
    check_request_id(request_id);
    match given_id.or_else(|| parent.map(|p| RequestId::from(p.trace_id()))) {
        Some(expected) => assert_eq!(request_id, &expected, "request id of {map:?}"),
        None => assert!(
            is_uuid_v7(request_id.as_str()),
            "new request id {request_id:?}"
        ),
    }

    // Trace: continued from a valid traceparent, with its tracestate fields
    // joined if they are all valid; else a new root.
    let trace = &*seen.trace;
    match parent {
        Some(parent) => {
            assert_eq!(trace.trace_id(), parent.trace_id());
            assert_eq!(trace.parent_span_id(), Some(parent.parent_id()));
            assert_eq!(
                trace.flags(),
                parent.flags().intersection(TraceContext::PROPAGATED_FLAGS)
            );
            let fields: Option<Vec<&str>> =
                all("tracestate").iter().map(|v| v.to_str().ok()).collect();
            let expected: TraceState = fields
                .and_then(|fields| fields.join(",").parse().ok())
                .unwrap_or_default();
            assert_eq!(trace.trace_state(), &expected, "tracestate of {map:?}");
        }
        None => {
            assert_eq!(trace.parent_span_id(), None);
            let flags = TraceFlags::NONE.with_sampled(!quiet);
            assert_eq!(trace.flags(), flags);
            assert!(trace.trace_state().is_empty());
        }
    }
    check_traceparent(&trace.traceparent());
    check_tracestate(trace.trace_state());

    // Baggage: the valid members of the readable fields, within the limits.
    let fields: Vec<&str> = all("baggage")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    check_baggage(&seen.baggage);
    assert_eq!(
        *seen.baggage,
        Baggage::parse_lossy(&fields.join(",")),
        "baggage of {map:?}"
    );

    // The inner service saw the validated id in place of the header, every
    // other header unchanged, and the values in the extensions.
    let seen_ids: Vec<_> = seen.headers.get_all(X_REQUEST_ID).iter().collect();
    assert_eq!(seen_ids, [&request_id.to_header_value()]);
    for name in map.keys().filter(|&name| name != X_REQUEST_ID) {
        assert!(
            map.get_all(name).iter().eq(seen.headers.get_all(name)),
            "header {name} changed"
        );
    }
    assert_eq!(
        seen.headers.len(),
        map.len() - map.get_all("x-request-id").iter().count() + 1
    );
    // The request id always; the trace context and baggage only if enabled
    // (not in the quiet configuration, which has the default extensions).
    assert_eq!(seen.extensions.0.as_ref(), Some(request_id));
    assert_eq!(seen.extensions.1.as_ref(), (!quiet).then_some(trace));
    assert_eq!(
        seen.extensions.2.as_ref(),
        (!quiet).then_some(&*seen.baggage)
    );

    // The response: the id in its extensions if enabled, and echoed unless
    // disabled.
    assert_eq!(
        response.extensions().get::<RequestId>(),
        (!quiet).then_some(request_id)
    );
    let echoed: Vec<_> = response.headers().get_all(X_REQUEST_ID).iter().collect();
    if quiet {
        assert!(echoed.is_empty());
    } else {
        assert_eq!(echoed, [&request_id.to_header_value()]);
    }
}
