//! Reading the incoming context from request headers, or from the fields
//! of any [`Extractor`].

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::carrier::Extractor;
use crate::layer::ServerConfig;
use crate::policy::{IncomingField, RejectReason, Rejections};
use crate::request_id::{InvalidRequestId, RequestId};
use crate::trace::TraceContext;
use crate::w3c::{Baggage, BaggageError, TraceParent, TraceState};

pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
pub(crate) const BAGGAGE: HeaderName = HeaderName::from_static("baggage");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The overhead HTTP/2 counts for every header field of a header list
/// (RFC 9113, section 6.5.2; RFC 7541, section 4.1).
const FIELD_OVERHEAD: usize = 32;

/// The values a request runs with.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) request_id: RequestId,
    /// Whether `request_id` is the request's own request-id header, as is.
    pub(crate) request_id_from_header: bool,
    pub(crate) trace: TraceContext,
    pub(crate) baggage: Baggage,
    /// Whether the header fields add up to more than the limit, so that none
    /// was read.
    pub(crate) too_large: bool,
}

/// Where [`extract`] reads fields from: an HTTP header map as it is (the
/// request layer's path: request ids share the header's buffer), or any
/// [`Extractor`] (through [`Fields`]).
pub(crate) trait Source<'a>: Copy {
    /// A field's value.
    type Value: Copy + AsRef<[u8]>;
    /// Whether field names are lowercase already, as `HeaderMap`'s are.
    const LOWERCASE: bool;
    /// Every field, in order.
    fn fields(self) -> impl Iterator<Item = (&'a str, Self::Value)>;
    /// A value as text, if it is visible ASCII (spaces and tabs allowed).
    fn to_str(value: Self::Value) -> Option<&'a str>;
    /// A value as a request id, if valid.
    fn request_id(value: Self::Value) -> Result<RequestId, InvalidRequestId>;
}

impl<'a> Source<'a> for &'a HeaderMap {
    type Value = &'a HeaderValue;
    const LOWERCASE: bool = true;

    #[inline]
    fn fields(self) -> impl Iterator<Item = (&'a str, &'a HeaderValue)> {
        self.iter().map(|(name, value)| (name.as_str(), value))
    }

    fn to_str(value: &'a HeaderValue) -> Option<&'a str> {
        value.to_str().ok()
    }

    fn request_id(value: &'a HeaderValue) -> Result<RequestId, InvalidRequestId> {
        RequestId::from_header_value(value)
    }
}

/// Any [`Extractor`] as a [`Source`].
pub(crate) struct Fields<'a, E: ?Sized>(pub(crate) &'a E);

impl<E: ?Sized> Clone for Fields<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: ?Sized> Copy for Fields<'_, E> {}

impl<'a, E: Extractor + ?Sized> Source<'a> for Fields<'a, E> {
    type Value = &'a [u8];
    const LOWERCASE: bool = false;

    fn fields(self) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.0.fields()
    }

    fn to_str(value: &'a [u8]) -> Option<&'a str> {
        // What `HeaderValue::to_str` accepts.
        if value
            .iter()
            .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            std::str::from_utf8(value).ok()
        } else {
            None
        }
    }

    fn request_id(value: &'a [u8]) -> Result<RequestId, InvalidRequestId> {
        RequestId::from_bytes(value)
    }
}

/// The fields of one name seen in a pass over a request's headers.
#[derive(Clone, Copy, Debug, Default)]
enum Seen<V> {
    #[default]
    Absent,
    One(V),
    /// More than one field: read again, in the rare requests that have
    /// them.
    Many,
}

impl<V: Copy> Seen<V> {
    #[inline]
    fn push(&mut self, value: V) {
        *self = match self {
            Seen::Absent => Seen::One(value),
            _ => Seen::Many,
        };
    }
}

/// The header fields the layer reads, found in one pass.
#[derive(Debug)]
struct Found<V> {
    request_id: Seen<V>,
    traceparent: Seen<V>,
    tracestate: Seen<V>,
    baggage: Seen<V>,
}

impl<V> Default for Found<V> {
    fn default() -> Self {
        Found {
            request_id: Seen::Absent,
            traceparent: Seen::Absent,
            tracestate: Seen::Absent,
            baggage: Seen::Absent,
        }
    }
}

/// The trace fields a name stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    TraceParent,
    TraceState,
    Baggage,
}

/// Whether `name` is `lower` (a lowercase name), in a source whose names
/// are lowercase or not.
#[inline]
fn name_is<'a, S: Source<'a>>(name: &str, lower: &str) -> bool {
    if S::LOWERCASE {
        name == lower
    } else {
        name.eq_ignore_ascii_case(lower)
    }
}

#[inline]
fn known<'a, S: Source<'a>>(name: &str) -> Option<Known> {
    if S::LOWERCASE {
        match name {
            "traceparent" => Some(Known::TraceParent),
            "tracestate" => Some(Known::TraceState),
            "baggage" => Some(Known::Baggage),
            _ => None,
        }
    } else {
        [
            ("traceparent", Known::TraceParent),
            ("tracestate", Known::TraceState),
            ("baggage", Known::Baggage),
        ]
        .into_iter()
        .find(|(lower, _)| name.eq_ignore_ascii_case(lower))
        .map(|(_, known)| known)
    }
}

/// One pass over the fields of a request: the fields the layer reads, and
/// their size, counted as the length of each field's name and value plus 32
/// per field. `None` as soon as the size is over `limit`. No allocation, no
/// hashing of names.
#[inline(always)]
fn scan<'a, S: Source<'a>>(
    source: S,
    request_id_name: &str,
    limit: usize,
) -> Option<Found<S::Value>> {
    let mut found = Found::default();
    let mut size = 0usize;
    for (name, value) in source.fields() {
        size = size.saturating_add(name.len() + value.as_ref().len() + FIELD_OVERHEAD);
        if size > limit {
            return None;
        }
        if name_is::<S>(name, request_id_name) {
            found.request_id.push(value);
        }
        match known::<S>(name) {
            Some(Known::TraceParent) => found.traceparent.push(value),
            Some(Known::TraceState) => found.tracestate.push(value),
            Some(Known::Baggage) => found.baggage.push(value),
            None => {}
        }
    }
    Some(found)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The `traceparent` of a request: exactly one field, optional whitespace
/// stripped, valid.
fn traceparent<'a, S: Source<'a>>(seen: Seen<S::Value>) -> Result<TraceParent, RejectReason> {
    let value = match seen {
        Seen::One(value) => value,
        Seen::Many => return Err(RejectReason::Repeated),
        // Not reported: there is nothing to reject.
        Seen::Absent => return Err(RejectReason::NoTraceParent),
    };
    let text = S::to_str(value).ok_or(RejectReason::NotText)?;
    trim_ows(text)
        .parse()
        .map_err(RejectReason::InvalidTraceParent)
}

/// A list-valued field's values as one list (RFC 9110, section 5.3): the
/// field itself when there is only one, as in most requests, else the fields
/// joined with `,`.
///
/// A field that is not visible ASCII cannot hold a valid member: it is
/// skipped if `skip_invalid`, else the whole list is invalid (`None`).
fn combined<'a, S: Source<'a>>(
    source: S,
    name: &str,
    seen: Seen<S::Value>,
    skip_invalid: bool,
) -> Option<Cow<'a, str>> {
    match seen {
        Seen::Absent => return Some(Cow::Borrowed("")),
        Seen::One(value) => {
            return match S::to_str(value) {
                Some(value) => Some(Cow::Borrowed(value)),
                None if skip_invalid => Some(Cow::Borrowed("")),
                None => None,
            }
        }
        Seen::Many => {}
    }
    let mut combined = Cow::Borrowed("");
    let values = source
        .fields()
        .filter(|&(field, _)| name_is::<S>(field, name));
    for (i, (_, value)) in values.enumerate() {
        let Some(value) = S::to_str(value) else {
            if skip_invalid {
                continue;
            }
            return None;
        };
        if i == 0 {
            combined = Cow::Borrowed(value);
        } else {
            // Empty list members are ignored: a `,` too many is harmless.
            let joined = combined.to_mut();
            joined.push(',');
            joined.push_str(value);
        }
    }
    Some(combined)
}

/// A valid `tracestate`, its fields combined in order; empty if any part is
/// invalid (with the reason).
fn tracestate<'a, S: Source<'a>>(
    source: S,
    seen: Seen<S::Value>,
) -> Result<TraceState, RejectReason> {
    if let Seen::Absent = seen {
        return Ok(TraceState::default());
    }
    combined(source, "tracestate", seen, false)
        .ok_or(RejectReason::NotText)?
        .parse()
        .map_err(RejectReason::InvalidTraceState)
}

/// The `baggage` fields, parsed leniently one by one, under one set of
/// limits.
fn baggage<'a, S: Source<'a>>(source: S, seen: Seen<S::Value>) -> Baggage {
    if let Seen::Absent = seen {
        return Baggage::new();
    }
    combined(source, "baggage", seen, true)
        .map_or_else(Baggage::new, |list| Baggage::parse_lossy(&list))
}

/// Why `baggage` (read from these fields) has fewer members than the
/// fields hold, if it has: the first field that is not text, else the first
/// malformed member, else the limits. Another pass over the fields, made
/// only for a reject hook.
fn baggage_dropped<'a, S: Source<'a>>(source: S, baggage: &Baggage) -> Option<RejectReason> {
    let mut valid = 0usize;
    let fields = source
        .fields()
        .filter(|&(field, _)| name_is::<S>(field, "baggage"));
    for (_, value) in fields {
        let text = S::to_str(value).ok_or(RejectReason::NotText);
        let text = match text {
            Ok(text) => text,
            Err(reason) => return Some(reason),
        };
        for member in text.split(',').filter(|m| !trim_ows(m).is_empty()) {
            if let Err(err) = member.parse::<Baggage>() {
                return Some(RejectReason::BaggageMembersDropped(err));
            }
            valid += 1;
        }
    }
    (valid > baggage.len()).then(|| {
        RejectReason::BaggageMembersDropped(if baggage.len() >= Baggage::MAX_MEMBERS {
            BaggageError::TooManyMembers
        } else {
            BaggageError::TooLarge
        })
    })
}

/// Where [`extract`] records the fields it rejects.
pub(crate) trait Report {
    /// Whether rejections are looked for: if not, [`push`](Report::push)
    /// does nothing, and what only a report needs is not done.
    const ON: bool;
    /// Records a rejection.
    fn push(&mut self, field: IncomingField, reason: RejectReason);
}

/// Rejections not looked for: the layer's path without a reject hook.
pub(crate) struct NoReport;

impl Report for NoReport {
    const ON: bool = false;

    #[inline(always)]
    fn push(&mut self, _: IncomingField, _: RejectReason) {}
}

impl Report for Rejections {
    const ON: bool = true;

    fn push(&mut self, field: IncomingField, reason: RejectReason) {
        Rejections::push(self, field, reason);
    }
}

/// Reads the request id, trace context and baggage of a request (or of any
/// carrier), in one pass over its fields, with `config`'s settings.
///
/// * size: if the fields add up to more than `max_header_bytes` (name +
///   value + 32 per field), none is read: the values are those of a request
///   without headers, and `too_large` is set.
/// * request id: if `trusted`, the only request id field if it is a valid
///   [`RequestId`], else the trace id of a valid `traceparent`; else (or if
///   not trusted) a new id from the configured generator (UUIDv7 by
///   default).
/// * trace: continues a valid `traceparent` (with a valid `tracestate`, if
///   any), else starts a new trace with `new_trace_flags`.
/// * baggage: every valid member, up to the limits.
///
/// Every field rejected (or partly dropped) is pushed to `report`, with the
/// reason; with [`NoReport`] nothing is looked for, at no cost.
pub(crate) fn extract<'a, S: Source<'a>, R: Report>(
    source: S,
    config: &ServerConfig,
    trusted: bool,
    report: &mut R,
) -> Incoming {
    let found = scan(
        source,
        config.request_id_header.as_str(),
        config.max_header_bytes,
    );
    let too_large = found.is_none();
    if too_large {
        report.push(IncomingField::HeaderList, RejectReason::HeaderListTooLarge);
    }
    let found = found.unwrap_or_default();
    let parent = traceparent::<S>(found.traceparent);
    let trace = match &parent {
        // "If the vendor failed to parse traceparent, it MUST NOT attempt to
        // parse tracestate."
        Ok(parent) => {
            let state = tracestate(source, found.tracestate).unwrap_or_else(|reason| {
                report.push(IncomingField::TraceState, reason);
                TraceState::default()
            });
            TraceContext::from_parent(parent, state)
        }
        Err(reason) => {
            if !matches!(found.traceparent, Seen::Absent) {
                report.push(IncomingField::TraceParent, *reason);
            }
            if !matches!(found.tracestate, Seen::Absent) {
                report.push(IncomingField::TraceState, RejectReason::NoTraceParent);
            }
            TraceContext::new_root().with_flags(config.new_trace_flags)
        }
    };
    let from_header = if !trusted {
        if !matches!(found.request_id, Seen::Absent) {
            report.push(IncomingField::RequestId, RejectReason::Untrusted);
        }
        None
    } else {
        match found.request_id {
            Seen::One(value) => match S::request_id(value) {
                Ok(id) => Some(id),
                Err(err) => {
                    report.push(
                        IncomingField::RequestId,
                        RejectReason::InvalidRequestId(err),
                    );
                    None
                }
            },
            Seen::Many => {
                report.push(IncomingField::RequestId, RejectReason::Repeated);
                None
            }
            Seen::Absent => None,
        }
    };
    let request_id_from_header = from_header.is_some();
    let request_id = match from_header {
        Some(id) => id,
        None => match &parent {
            Ok(parent) if trusted => RequestId::from(parent.trace_id()),
            _ => match &config.make_id {
                Some(make_id) => make_id.make_request_id(),
                None => RequestId::new_v7(),
            },
        },
    };
    let baggage = baggage(source, found.baggage);
    if R::ON && !matches!(found.baggage, Seen::Absent) {
        if let Some(reason) = baggage_dropped(source, &baggage) {
            report.push(IncomingField::Baggage, reason);
        }
    }
    Incoming {
        request_id,
        request_id_from_header,
        trace,
        baggage,
        too_large,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn run(pairs: &[(&str, &[u8])]) -> Incoming {
        let config = ServerConfig {
            max_header_bytes: usize::MAX,
            ..ServerConfig::default()
        };
        extract(&headers(pairs), &config, true, &mut NoReport)
    }

    fn exceeds(map: &HeaderMap, limit: usize) -> bool {
        let config = ServerConfig {
            max_header_bytes: limit,
            ..ServerConfig::default()
        };
        extract(map, &config, true, &mut NoReport).too_large
    }

    #[test]
    fn request_id_precedence() {
        let both = run(&[("x-request-id", b"abc"), ("traceparent", TP.as_bytes())]);
        assert_eq!(both.request_id.as_str(), "abc");
        let invalid = run(&[("x-request-id", b"a b"), ("traceparent", TP.as_bytes())]);
        assert_eq!(
            invalid.request_id.as_str(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let repeated = run(&[("x-request-id", b"a"), ("x-request-id", b"b")]);
        assert_eq!(repeated.request_id.as_str().len(), 36);
        let none = run(&[]);
        assert_eq!(none.request_id.as_str().len(), 36);
    }

    #[test]
    fn traceparent_handling() {
        let ows = run(&[("traceparent", format!(" \t{TP}\t ").as_bytes())]);
        assert_eq!(
            ows.trace.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        // Two traceparent fields: a new trace, as in the W3C test suite.
        let two = run(&[
            ("traceparent", TP.as_bytes()),
            ("traceparent", TP.as_bytes()),
        ]);
        assert_ne!(
            two.trace.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(two.trace.parent_span_id(), None);
    }

    #[test]
    fn tracestate_fields_combine_and_need_a_traceparent() {
        let combined = run(&[
            ("traceparent", TP.as_bytes()),
            ("tracestate", b"foo=1,bar=2"),
            ("tracestate", b""),
            ("tracestate", b"rojo=1,congo=2"),
            ("tracestate", b"baz=3"),
        ]);
        assert_eq!(
            combined.trace.trace_state().to_string(),
            "foo=1,bar=2,rojo=1,congo=2,baz=3"
        );
        let duplicate_across_fields = run(&[
            ("traceparent", TP.as_bytes()),
            ("tracestate", b"foo=1"),
            ("tracestate", b"foo=2,bar=3"),
        ]);
        // The first member with a key is kept, across fields too.
        assert_eq!(
            duplicate_across_fields.trace.trace_state().to_string(),
            "foo=1,bar=3"
        );
        let non_ascii = run(&[
            ("traceparent", TP.as_bytes()),
            ("tracestate", b"foo=\xc3\xa9"),
        ]);
        assert!(non_ascii.trace.trace_state().is_empty());
        let without_parent = run(&[("tracestate", b"foo=1")]);
        assert!(without_parent.trace.trace_state().is_empty());
    }

    #[test]
    fn absent_and_empty_list_headers_give_empty_values() {
        for pairs in [
            &[("traceparent", TP.as_bytes())][..],
            &[
                ("traceparent", TP.as_bytes()),
                ("tracestate", b""),
                ("baggage", b""),
                ("baggage", b""),
            ],
        ] {
            let incoming = run(pairs);
            assert_eq!(
                incoming.trace.trace_id().to_string(),
                "0af7651916cd43dd8448eb211c80319c"
            );
            assert!(incoming.trace.trace_state().is_empty());
            assert!(incoming.baggage.is_empty());
        }
        let after_empty = run(&[("baggage", b""), ("baggage", b"a=1")]);
        assert_eq!(after_empty.baggage.get("a"), Some("1"));
    }

    #[test]
    fn header_list_size_counts_every_field_and_32_each() {
        let map = headers(&[("a", b"12345"), ("bb", b""), ("a", b"6")]);
        // (1 + 5 + 32) + (2 + 0 + 32) + (1 + 1 + 32) = 106.
        assert!(!exceeds(&map, 106));
        assert!(exceeds(&map, 105));
        assert!(!exceeds(&HeaderMap::new(), 0));
        assert!(!exceeds(&map, usize::MAX));
    }

    #[test]
    fn baggage_fields_share_the_limits() {
        let first: String = (0..40).map(|i| format!("a{i}=1,")).collect();
        let second: String = (0..40).map(|i| format!("b{i}=1,")).collect();
        let incoming = run(&[
            ("baggage", first.as_bytes()),
            ("baggage", b"bad=\xff"),
            ("baggage", second.as_bytes()),
        ]);
        assert_eq!(incoming.baggage.len(), 64);
        assert_eq!(incoming.baggage.get("b23"), Some("1"));
        assert_eq!(incoming.baggage.get("b24"), None);
        assert_eq!(incoming.baggage.get("bad"), None);
    }
}
