//! OpenTelemetry interop (feature `opentelemetry`): conversions between this
//! crate's values and [`opentelemetry`]'s, between the current context
//! variables and an [`opentelemetry::Context`], and a
//! [`TextMapPropagator`] that uses this crate's strict W3C parsers.
//!
//! Use it when a service built on [`RequestContextLayer`](crate::RequestContextLayer)
//! also uses the OpenTelemetry API: to start OpenTelemetry spans below the
//! request's trace ([`current_otel_context`]), to run code with the trace and
//! baggage of an OpenTelemetry context ([`with_otel_context`],
//! [`copy_context_from_otel`]), or to have OpenTelemetry instrumentation
//! read and write headers exactly as this crate does
//! ([`ContextVarsPropagator`]).
//!
//! ```
//! use contextvars::Context;
//! use contextvars_tower::otel::{current_otel_context, with_otel_context};
//! use contextvars_tower::{TraceContext, BAGGAGE, TRACE};
//! use opentelemetry::baggage::BaggageExt;
//! use opentelemetry::trace::TraceContextExt;
//!
//! Context::new().run(|| {
//!     TRACE.set(TraceContext::new_root());
//!     BAGGAGE.set("user-id=42".parse().unwrap());
//!
//!     // contextvars → OpenTelemetry: this hop's span, as a remote parent.
//!     let cx = current_otel_context();
//!     assert_eq!(cx.span().span_context().span_id().to_bytes(), TRACE.get().span_id().to_bytes());
//!     assert!(cx.span().span_context().is_remote());
//!     assert_eq!(cx.baggage().get("user-id").map(|v| v.as_str()), Some("42"));
//!
//!     // OpenTelemetry → contextvars: a new hop below the context's span.
//!     let hop = with_otel_context(&cx, || TRACE.get());
//!     assert_eq!(hop.trace_id(), TRACE.get().trace_id());
//!     assert_eq!(hop.parent_span_id(), Some(TRACE.get().span_id()));
//! });
//! ```
//!
//! # What maps to what
//!
//! | here | OpenTelemetry | conversion |
//! |---|---|---|
//! | [`TraceContext`] | [`SpanContext`] | [`TraceContext::to_span_context`], [`TraceContext::from_span_context`] |
//! | [`w3c::TraceState`](crate::w3c::TraceState) | [`opentelemetry::trace::TraceState`] | `From<&_>` both ways |
//! | [`w3c::Baggage`](crate::w3c::Baggage) | [`opentelemetry::baggage::Baggage`] | `From<&_>` both ways |
//! | [`TRACE`] + [`BAGGAGE`] of the current context | [`opentelemetry::Context`] | [`current_otel_context`], [`copy_context_from_otel`], [`with_otel_context`] |
//! | [`RequestContextLayer`](crate::RequestContextLayer) (extract), [`PropagateLayer`](crate::PropagateLayer) (inject) | `TraceContextPropagator` + `BaggagePropagator` | [`ContextVarsPropagator`] |
//!
//! [`REQUEST_ID`](crate::REQUEST_ID) has no OpenTelemetry counterpart and is
//! not converted.
//!
//! ## Spans: a `TraceContext` is a hop, a `SpanContext` is a span
//!
//! A [`TraceContext`] describes the current hop: its own span id and the
//! span id of its parent. A [`SpanContext`] describes one span, and says
//! whether it came from another process (`is_remote`). So:
//!
//! * [`to_span_context`](TraceContext::to_span_context) gives this hop's
//!   span: trace id, span id, all flag bits and the `tracestate`; the parent
//!   span id is dropped (a span context has none) and `is_remote` is the
//!   caller's choice. [`current_otel_context`] passes `true`: nothing in this
//!   process records that span, so to OpenTelemetry it is a parent that lives
//!   elsewhere, like an extracted `traceparent`.
//! * [`from_span_context`](TraceContext::from_span_context) continues a span
//!   context as a **new hop below it**, exactly as the server layer
//!   continues an incoming `traceparent`
//!   ([`TraceContext::from_parent`]): same trace id, a new span id, the span
//!   context's span id as parent, the `sampled` and `random` flags. It is
//!   not an inverse of `to_span_context`: converting there and back gives a
//!   [`child`](TraceContext::child). `is_remote` is not kept.
//!
//! ## `tracestate`
//!
//! This crate parses `tracestate` keys per the current grammar, Trace
//! Context Level 2 (`@` anywhere in a key, any number of times).
//! OpenTelemetry 0.33 still checks keys as Level 1's multi-tenant keys
//! did: at most one `@`, followed by 1 to 13 characters, the first a
//! lowercase letter or a digit (or by nothing: `foo@` is accepted); its
//! values are checked less (see the table below). A conversion keeps the
//! members valid on the receiving side and leaves the others out, member by
//! member (both types are in-process values here; the all-or-nothing rule
//! applies to received headers, and [`ContextVarsPropagator`] applies it
//! there):
//!
//! * to OpenTelemetry: keys valid in Level 2 that OpenTelemetry 0.33
//!   refuses are left out: two `@` or more (`foo@@bar`, `foo@bar@baz`),
//!   more than 13 characters after the `@` (`t@abcdefghijklmn`, valid in
//!   Level 1 too, which allows 14), or a character other than a letter or
//!   digit right after it (`a@-b`).
//! * from OpenTelemetry: members with an empty value or a value with a
//!   character outside printable ASCII, or a key seen before (the first
//!   wins, as when parsing a header) are left out.
//!
//! ## Baggage
//!
//! * **Order.** OpenTelemetry's baggage is a hash map: to OpenTelemetry the
//!   order is lost; from OpenTelemetry, members are sorted by key, so the
//!   result does not depend on hash order.
//! * **Duplicate keys**, which W3C allows, do not exist in OpenTelemetry:
//!   the first member with a key is kept, as [`Baggage::get`](crate::w3c::Baggage::get)
//!   returns it.
//! * **Properties** become OpenTelemetry's metadata string (`p1;p2=v`, the
//!   canonical properties without the leading `;`), and back. Metadata that
//!   is not a valid W3C property list (`key` or `key=value`, RFC 9110 token
//!   keys, `baggage-octet` values, separated by `;`), or that alone would
//!   exceed the limits, is dropped: the member is kept without properties.
//! * **Keys** are decoded on both sides, and convert unchanged: this
//!   crate holds and compares keys percent-decoded (see
//!   [Keys](crate::w3c::Baggage#keys)), as OpenTelemetry's propagators
//!   decode them. To OpenTelemetry, a member whose decoded key is not an
//!   RFC 9110 token (`a%20b` decodes to `a b`) is left out: OpenTelemetry's
//!   baggage refuses such keys, as the SDK's extractor then drops them too.
//! * **Values** are any string on both sides, and convert unchanged.
//! * **Limits.** Both sides allow 64 members and 8192 bytes, but measure
//!   differently: OpenTelemetry adds up key, decoded value and metadata
//!   lengths, this crate the length of the header value (values
//!   percent-encoded, plus separators). Everything of ours fits in
//!   OpenTelemetry; an OpenTelemetry baggage whose encoded form is longer than
//!   8192 bytes loses the members (in key order) that do not fit.
//!
//! # [`ContextVarsPropagator`] and the SDK's propagators
//!
//! [`ContextVarsPropagator`] reads and writes `traceparent`, `tracestate` and
//! `baggage` as [`RequestContextLayer`](crate::RequestContextLayer) and
//! [`PropagateLayer`](crate::PropagateLayer) do. `tests/otel.rs` extracts the
//! same headers with it and with `opentelemetry_sdk` 0.33's
//! `TraceContextPropagator` and `BaggagePropagator`, and asserts that the
//! results are equal except for these differences:
//!
//! | input | `ContextVarsPropagator` | SDK |
//! |---|---|---|
//! | `trace-id` or `parent-id` of the wrong length (`00-abc-def-01`), with a leading `+`, or a one-digit version or flags field | invalid | accepted: the fields are read with `u128::from_str_radix`, which takes any length up to the type's size and a `+` sign |
//! | upper-case hex in the version field (`0A-…`) | invalid | accepted (only the ids and flags are checked for case) |
//! | version `00` followed by `-` (`00-…-01-`) | invalid: version `00` has exactly 55 characters | accepted (a trailing empty field is ignored) |
//! | whitespace other than space and tab around `traceparent` (CR, LF, Unicode spaces) | invalid: only HTTP's optional whitespace is trimmed | trimmed |
//! | trace flags with the `random` bit (`-03`, Trace Context Level 2) | `sampled` and `random` kept (reserved bits cleared) | only `sampled` kept |
//! | `tracestate` with a repeated key (`foo=1,bar=2,foo=3`) | the first member with the key kept (`foo=1,bar=2`) | every member kept, the key twice |
//! | `tracestate` with an empty value (`foo=`) or a non-ASCII value | whole `tracestate` discarded, as the specification requires | accepted |
//! | `tracestate` key valid in Trace Context Level 2 with two `@` or more (`foo@@bar`, `foo@bar@baz`), or a character other than a letter or digit after the `@` (`a@-b`) | accepted | whole `tracestate` discarded: OpenTelemetry 0.33 checks keys as Level 1's multi-tenant keys |
//! | `tracestate` with more than 32 members | whole `tracestate` discarded | first 32 kept |
//! | `tracestate` member `foo==1` | discarded (`=` in the value) | accepted as `foo=1` |
//! | `tracestate` member with a 14-character system id (`rojo=1,t@abcdefghijklmn=1`) | parsed; that member is left out of the span context, since OpenTelemetry's `TraceState` cannot hold it (`rojo=1`) | whole `tracestate` discarded (the SDK allows 13 characters) |
//! | several `traceparent` header fields (an extractor whose `get_all` returns them, such as opentelemetry-http's) | none used, as the W3C test suite expects | the first used |
//! | several `tracestate` or `baggage` header fields | combined, in order (RFC 9110) | the first used |
//! | baggage value with `=` (`k=v=w`) | `v=w` | `v`: cut at the second `=` |
//! | baggage value with a character outside `baggage-octet` (`a=x y`) or a bad escape (`a=%zz`) | member dropped | kept as is (`x y`, `%zz`) |
//! | baggage value that decodes to invalid UTF-8 (`a=%FF`) | kept, with U+FFFD, as W3C requires | member dropped |
//! | baggage value with encoded leading or trailing spaces (`k=%20v%20`) | kept (` v `) | trimmed after decoding (`v`) |
//! | baggage property with `%` (`k=v;p=%41`) | kept as received (`p=%41`) | percent-decoded (`p=A`) |
//! | baggage property that is not a token (`k=v;p q`) | member dropped | kept |
//! | duplicate baggage keys (`a=1,a=2`) | the first (`a=1`) | the last (`a=2`) |
//! | invalid baggage members among the first 64 | skipped; 64 valid members are kept | count towards the 64, so valid members after the 64th list member are lost |
//! | `baggage` longer than 8192 bytes | the members that fit, in order | all of it dropped |
//!
//! Injection: both write the same `traceparent` (except the `random` flag),
//! the same `tracestate`, and a `baggage` that the other side reads back
//! unchanged, with these exceptions: the SDK writes an empty `tracestate`
//! header where this propagator writes none; values with leading or
//! trailing spaces written here are trimmed by the SDK's extractor (see
//! above); and values written by the SDK's injector that hold `%` or `\`
//! are not valid W3C (the SDK does not encode them), so this propagator
//! drops those members.
//!
//! The `baggage` text itself differs where the encodings do (see
//! [Encoding](crate::w3c::Baggage#encoding)): this crate writes `+` as
//! `%2B` (the SDK leaves it, which OpenTelemetry's Python SDK then reads as
//! a space) and `%` as `%25`, and writes keys decoded when they are tokens
//! (`tok!en#key`, where the SDK also writes them as is). `tests/otel.rs`
//! therefore compares decoded entries, not header text, and checks that
//! each side reads the other's header as the same entries.
//!
//! # Python → Rust
//!
//! In opentelemetry-python the current OpenTelemetry context *is* a
//! `contextvars.ContextVar`, so there is nothing to convert: `attach(ctx)` is
//! `ContextVar.set`. In Rust, OpenTelemetry keeps its own thread-local stack
//! of contexts, and these functions move values between the two.
//!
//! | Python | here |
//! |---|---|
//! | `TraceContextTextMapPropagator()` and `W3CBaggagePropagator()` (in a `CompositePropagator`) | [`ContextVarsPropagator`], both at once |
//! | `opentelemetry.propagate.set_global_textmap(propagator)` | `opentelemetry::global::set_text_map_propagator(ContextVarsPropagator::new())` |
//! | `opentelemetry.propagate.extract(headers)` | `ContextVarsPropagator::new().extract(&headers)` |
//! | `opentelemetry.context.get_current()` | [`current_otel_context()`] (with [`TRACE`] and [`BAGGAGE`]) |
//! | `token = context.attach(ctx)`; `f()`; `context.detach(token)` | [`with_otel_context(&cx, f)`](with_otel_context) |
//! | `trace.set_span_in_context(NonRecordingSpan(span_context))` | `cx.with_remote_span_context(TRACE.get().to_span_context(true))` |
//! | `baggage.get_all(ctx)` | `w3c::Baggage::from(cx.baggage())` |
//!
//! [`TRACE`]: crate::TRACE
//! [`BAGGAGE`]: crate::BAGGAGE

use std::sync::OnceLock;

use contextvars::copy_context;
use opentelemetry::baggage::{Baggage as OtelBaggage, BaggageExt};
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, TraceContextExt, TraceFlags as OtelTraceFlags, TraceState as OtelTraceState,
};
use opentelemetry::{Context as OtelContext, SpanId as OtelSpanId, TraceId as OtelTraceId};

use crate::trace::TraceContext;
use crate::w3c::{Baggage, BaggageMember, SpanId, TraceFlags, TraceId, TraceParent, TraceState};
use crate::{BAGGAGE, TRACE};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const BAGGAGE_HEADER: &str = "baggage";

// === impl TraceContext ===

#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
impl TraceContext {
    /// This hop's span as an OpenTelemetry [`SpanContext`]: the trace id, the
    /// span id, every flag bit, the `tracestate`, and `is_remote` as given.
    ///
    /// The parent span id is not part of it (a span context has none).
    /// `tracestate` members that OpenTelemetry refuses are left out (see
    /// [`tracestate`](crate::otel#tracestate)).
    ///
    /// Pass `is_remote = true` to make the span a parent for OpenTelemetry
    /// spans (it is not recorded in this process), as
    /// [`current_otel_context`](crate::otel::current_otel_context) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let hop = TraceContext::new_root();
    /// let span = hop.to_span_context(true);
    /// assert_eq!(span.trace_id().to_string(), hop.trace_id().to_string());
    /// assert_eq!(span.span_id().to_string(), hop.span_id().to_string());
    /// assert!(span.is_sampled() && span.is_remote() && span.is_valid());
    /// ```
    pub fn to_span_context(&self, is_remote: bool) -> SpanContext {
        SpanContext::new(
            OtelTraceId::from_bytes(self.trace_id().to_bytes()),
            OtelSpanId::from_bytes(self.span_id().to_bytes()),
            OtelTraceFlags::new(self.flags().bits()),
            is_remote,
            OtelTraceState::from(self.trace_state()),
        )
    }

    /// Continues `parent` as a new hop below it, as
    /// [`from_parent`](TraceContext::from_parent) continues an incoming
    /// `traceparent`: same trace id, a new random span id, `parent`'s span id
    /// as [`parent_span_id`](TraceContext::parent_span_id), `parent`'s
    /// `sampled` and `random` flags, and its `tracestate` (the members valid
    /// in W3C Trace Context; see
    /// [`tracestate`](crate::otel#tracestate)).
    ///
    /// Returns `None` if `parent` is not valid (an all-zero trace or span
    /// id, such as [`SpanContext::NONE`]). Whether `parent` is remote makes
    /// no difference.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    /// use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};
    ///
    /// let parent = SpanContext::new(
    ///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
    ///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
    ///     TraceFlags::SAMPLED,
    ///     true,
    ///     "congo=t61rcWkgMzE".parse().unwrap(),
    /// );
    /// let hop = TraceContext::from_span_context(&parent).unwrap();
    /// assert_eq!(hop.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(hop.parent_span_id().unwrap().to_string(), "00f067aa0ba902b7");
    /// assert!(hop.is_sampled());
    /// assert_eq!(hop.trace_state().get("congo"), Some("t61rcWkgMzE"));
    ///
    /// assert!(TraceContext::from_span_context(&SpanContext::NONE).is_none());
    /// ```
    pub fn from_span_context(parent: &SpanContext) -> Option<TraceContext> {
        let parent_tp = traceparent_of(parent)?;
        Some(TraceContext::from_parent(
            &parent_tp,
            TraceState::from(parent.trace_state()),
        ))
    }
}

/// The `traceparent` naming `span` as parent, with every flag bit; `None` if
/// `span` is not valid.
fn traceparent_of(span: &SpanContext) -> Option<TraceParent> {
    let trace_id = TraceId::from_bytes(span.trace_id().to_bytes())?;
    let span_id = SpanId::from_bytes(span.span_id().to_bytes())?;
    let flags = TraceFlags::from_bits(span.trace_flags().to_u8());
    Some(TraceParent::new(trace_id, span_id, flags))
}

// === tracestate ===

#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
impl From<&TraceState> for OtelTraceState {
    /// The same members in the same order, except those whose key
    /// OpenTelemetry 0.33 refuses: keys valid in Trace Context Level 2 that
    /// are not Level 1 multi-tenant keys with a system id of at most 13
    /// characters (see [`tracestate`](crate::otel#tracestate)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let ours: TraceState = "rojo=00f067aa0ba902b7,t@abcdefghijklmn=1,foo@@bar=2,congo=t61rcWkgMzE"
    ///     .parse()
    ///     .unwrap();
    /// let otel = opentelemetry::trace::TraceState::from(&ours);
    /// assert_eq!(otel.header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// ```
    fn from(state: &TraceState) -> OtelTraceState {
        if let Ok(otel) = OtelTraceState::from_key_value(state.iter()) {
            return otel;
        }
        let accepted = state
            .iter()
            .filter(|member| OtelTraceState::from_key_value([*member]).is_ok());
        OtelTraceState::from_key_value(accepted).unwrap_or_default()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
impl From<&OtelTraceState> for TraceState {
    /// The members valid in W3C Trace Context, in the same order; for a key
    /// that appears more than once, the first (see
    /// [`tracestate`](crate::otel#tracestate)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// // OpenTelemetry accepts an empty value.
    /// let otel: opentelemetry::trace::TraceState = "rojo=1,empty=,9lives=x,congo=2".parse().unwrap();
    /// assert_eq!(TraceState::from(&otel).to_string(), "rojo=1,9lives=x,congo=2");
    /// ```
    fn from(state: &OtelTraceState) -> TraceState {
        let members: Vec<(&str, &str)> = state.into_iter().collect();
        let mut out = TraceState::new();
        // `insert` puts a member first: insert from the right to keep the
        // order, so that the leftmost of duplicate keys ends up in place.
        for (key, value) in members.into_iter().rev() {
            // Invalid members are left out.
            let _ = out.insert(key, value);
        }
        out
    }
}

// === baggage ===

#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
impl From<&Baggage> for OtelBaggage {
    /// Every member, under its decoded key, with its properties as metadata
    /// (`p1;p2=v`); of duplicate keys, the first. Members whose decoded key
    /// is not a token are left out: OpenTelemetry cannot hold them. The
    /// order is lost: OpenTelemetry's baggage is a hash map. See
    /// [Baggage](crate::otel#baggage).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let ours: Baggage = "user=ada;pii,region=eu%20west,user=bob,tok%21en=1,a%20b=2".parse().unwrap();
    /// let otel = opentelemetry::baggage::Baggage::from(&ours);
    /// assert_eq!(otel.len(), 3);
    /// let (value, metadata) = otel.get_with_metadata("user").unwrap();
    /// assert_eq!((value.as_str(), metadata.as_str()), ("ada", "pii"));
    /// assert_eq!(otel.get("region").unwrap().as_str(), "eu west");
    /// assert_eq!(otel.get("tok!en").unwrap().as_str(), "1"); // the decoded key
    /// assert!(otel.get("a b").is_none()); // not a token
    /// ```
    fn from(baggage: &Baggage) -> OtelBaggage {
        let mut otel = OtelBaggage::new();
        for member in baggage {
            if otel.get(member.key()).is_some() {
                continue;
            }
            let metadata = member
                .properties()
                .map(|(key, value)| match value {
                    Some(value) => format!("{key}={value}"),
                    None => key.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(";");
            // Refused only for a key that is not a token (OpenTelemetry
            // cannot hold it): our limits are tighter.
            otel.insert_with_metadata(member.key().to_owned(), member.value().to_owned(), metadata);
        }
        otel
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
impl From<&OtelBaggage> for Baggage {
    /// Every entry, sorted by key, with its metadata as properties if the
    /// metadata is a valid W3C property list (else without); entries that
    /// would exceed this crate's [limits](Baggage#limits) are left out. See
    /// [Baggage](crate::otel#baggage).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let mut otel = opentelemetry::baggage::Baggage::new();
    /// otel.insert_with_metadata("user", "ada lovelace", "pii");
    /// otel.insert_with_metadata("region", "eu", "not a property");
    /// let ours = Baggage::from(&otel);
    /// assert_eq!(ours.to_string(), "region=eu,user=ada%20lovelace;pii");
    /// ```
    fn from(otel: &OtelBaggage) -> Baggage {
        let mut entries: Vec<_> = otel.iter().collect();
        entries.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let mut out = Baggage::new();
        for (key, (value, metadata)) in entries {
            let Some(member) = member_of(key.as_str(), value.as_str(), metadata.as_str()) else {
                continue;
            };
            // A member that does not fit is left out; a smaller one after it
            // may still fit.
            let _ = out.push(member);
        }
        out
    }
}

/// A baggage member with `metadata` as its properties when it is a valid
/// property list, else without properties; `None` if `key` is empty.
fn member_of(key: &str, value: &str, metadata: &str) -> Option<BaggageMember> {
    if key.is_empty() {
        return None;
    }
    let plain = BaggageMember::new(key, value);
    if metadata.is_empty() || metadata.contains(',') {
        return Some(plain);
    }
    // Properties are only reachable through the parser: write the member
    // with them and read it back.
    let with_properties = format!("{plain};{metadata}").parse::<Baggage>();
    match with_properties {
        Ok(parsed) if parsed.len() == 1 => parsed.iter().next().cloned(),
        _ => Some(plain),
    }
}

// === contexts ===

/// The current OpenTelemetry context ([`opentelemetry::Context::current`])
/// with the values of the current context variables: [`TRACE`]
/// as a remote span context (see [`TraceContext::to_span_context`]), which
/// replaces any span the OpenTelemetry context has, and
/// [`BAGGAGE`] as its baggage. A variable without a value (outside of a
/// request; for `BAGGAGE`, also a request without baggage, where it is left
/// unbound) leaves the OpenTelemetry context's value as it is.
///
/// Use it to start OpenTelemetry spans as children of the request's hop, to
/// inject with an OpenTelemetry propagator, or to
/// [`attach`](opentelemetry::Context::attach) for OpenTelemetry
/// instrumentation that reads `Context::current()`.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::otel::current_otel_context;
/// use contextvars_tower::{TraceContext, TRACE};
/// use opentelemetry::trace::TraceContextExt;
///
/// // Outside of a request: no span.
/// assert!(!current_otel_context().span().span_context().is_valid());
///
/// Context::new().run(|| {
///     TRACE.set(TraceContext::new_root());
///     let _guard = current_otel_context().attach();
///     // OpenTelemetry code sees the request's trace.
///     let cx = opentelemetry::Context::current();
///     assert_eq!(cx.span().span_context().trace_id().to_bytes(), TRACE.get().trace_id().to_bytes());
/// });
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub fn current_otel_context() -> OtelContext {
    let mut cx = OtelContext::current();
    if let Some(trace) = TRACE.get_opt_arc() {
        cx = cx.with_remote_span_context(trace.to_span_context(true));
    }
    if let Some(baggage) = BAGGAGE.get_opt_arc() {
        cx = cx.with_baggage(OtelBaggage::from(&*baggage));
    }
    cx
}

/// A copy of the current context ([`contextvars::copy_context`]) with
/// [`TRACE`] and [`BAGGAGE`] set from `cx`:
///
/// * `TRACE`: a new hop below `cx`'s span
///   ([`TraceContext::from_span_context`]), if `cx` has a valid one;
///   otherwise the current value stays.
/// * `BAGGAGE`: `cx`'s baggage, converted as described under
///   [Baggage](crate::otel#baggage), if it is not empty; otherwise the
///   current value stays.
///
/// Run code in it with [`Context::run`](contextvars::Context::run), or a
/// future with [`FutureExt::with_context`](contextvars::FutureExt::with_context).
/// The current context is not changed.
///
/// # Panics
///
/// Panics if the thread is shutting down (its thread-local storage is gone).
///
/// # Examples
///
/// ```
/// use contextvars::FutureExt;
/// use contextvars_tower::otel::{copy_context_from_otel, ContextVarsPropagator};
/// use contextvars_tower::{BAGGAGE, TRACE};
/// use opentelemetry::propagation::TextMapPropagator;
/// use std::collections::HashMap;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A message from a queue, with its trace headers.
/// let headers = HashMap::from([
///     ("traceparent".to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string()),
///     ("baggage".to_string(), "tenant=acme".to_string()),
/// ]);
/// let cx = ContextVarsPropagator::new().extract(&headers);
/// let handled = async { (TRACE.get().trace_id().to_string(), BAGGAGE.get().get("tenant").map(String::from)) }
///     .with_context(copy_context_from_otel(&cx))
///     .await;
/// assert_eq!(handled, ("4bf92f3577b34da6a3ce929d0e0e4736".to_string(), Some("acme".to_string())));
/// assert!(TRACE.get_opt().is_none()); // unchanged here
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub fn copy_context_from_otel(cx: &OtelContext) -> contextvars::Context {
    let trace = TraceContext::from_span_context(cx.span().span_context());
    let baggage = cx.baggage();
    let baggage = (!baggage.is_empty()).then(|| Baggage::from(baggage));
    let mut ctx = copy_context();
    ctx.run_mut(|| {
        if let Some(trace) = trace {
            TRACE.set(trace);
        }
        if let Some(baggage) = baggage {
            BAGGAGE.set(baggage);
        }
    });
    ctx
}

/// Runs `f` in a copy of the current context with [`TRACE`]
/// and [`BAGGAGE`] set from `cx`, as described on
/// [`copy_context_from_otel`], and returns its result. Variables `f` sets
/// stay in that copy.
///
/// This is opentelemetry-python's `token = attach(cx); try: f() finally:
/// detach(token)`, for the context variables of this crate. It does not
/// [`attach`](opentelemetry::Context::attach) `cx` for OpenTelemetry's own
/// `Context::current()`; do both if `f` also uses OpenTelemetry directly.
///
/// # Panics
///
/// Panics if the thread is shutting down. Panics from `f` propagate, after
/// the caller's context is restored.
///
/// # Examples
///
/// ```
/// use contextvars_tower::otel::{with_otel_context, ContextVarsPropagator};
/// use contextvars_tower::TRACE;
/// use opentelemetry::propagation::TextMapPropagator;
/// use std::collections::HashMap;
///
/// let headers = HashMap::from([(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
/// )]);
/// let cx = ContextVarsPropagator::new().extract(&headers);
/// let parent = with_otel_context(&cx, || TRACE.get().parent_span_id());
/// assert_eq!(parent.unwrap().to_string(), "00f067aa0ba902b7");
/// assert!(TRACE.get_opt().is_none());
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub fn with_otel_context<R>(cx: &OtelContext, f: impl FnOnce() -> R) -> R {
    copy_context_from_otel(cx).run_mut(f)
}

// === propagator ===

/// An OpenTelemetry [`TextMapPropagator`] for `traceparent`, `tracestate` and
/// `baggage`, with this crate's strict W3C parsers: it reads and writes
/// headers as [`RequestContextLayer`](crate::RequestContextLayer) and
/// [`PropagateLayer`](crate::PropagateLayer) do. It replaces
/// `opentelemetry_sdk`'s `TraceContextPropagator` and `BaggagePropagator`
/// together; the differences are listed in the
/// [module documentation](crate::otel#contextvarspropagator-and-the-sdks-propagators).
///
/// Like every propagator, it works on the [`opentelemetry::Context`] it is
/// given, not on the context variables; pass [`current_otel_context()`] to
/// inject the values of [`TRACE`] and
/// [`BAGGAGE`], and run code with extracted values with
/// [`with_otel_context`].
///
/// **Extract**:
///
/// * `traceparent`: exactly one value (of [`Extractor::get_all`]), space and
///   tab trimmed, parsed by [`TraceParent`]'s parser. If valid, the context
///   gets a remote span context with its trace id, its `parent-id` as span
///   id, and its `sampled` and `random` flags; otherwise the span of the
///   given context stays.
/// * `tracestate` (only with a valid `traceparent`): every value, joined
///   with commas, parsed by [`TraceState`]'s parser; if invalid, the span
///   context gets an empty `tracestate` (the W3C rule).
/// * `baggage`: if present, every value, joined, parsed by
///   [`Baggage::parse_lossy`] (malformed members skipped, then the W3C
///   limits), replaces the context's baggage. Otherwise the baggage stays.
///
/// **Inject**: if the context's span context is valid, `traceparent`
/// (version `00`, the `sampled` and `random` flags) and, when not empty,
/// `tracestate`; then `baggage`, when not empty, with **every** member of
/// the context's baggage, as OpenTelemetry's baggage propagator does (unlike
/// [`PropagateLayer`](crate::PropagateLayer), which sends only allowed keys).
///
/// # Examples
///
/// ```
/// use contextvars_tower::otel::ContextVarsPropagator;
/// use opentelemetry::baggage::BaggageExt;
/// use opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// opentelemetry::global::set_text_map_propagator(ContextVarsPropagator::new());
///
/// let incoming = HashMap::from([
///     ("traceparent".to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string()),
///     ("tracestate".to_string(), "congo=t61rcWkgMzE,rojo=1,congo=again".to_string()), // the first congo wins
///     ("baggage".to_string(), "user=ada,bad value=1".to_string()),
/// ]);
/// let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&incoming));
/// let span = cx.span().span_context().clone();
/// assert_eq!(span.span_id().to_string(), "b7ad6b7169203331");
/// assert!(span.is_remote());
/// assert_eq!(span.trace_state().header(), "congo=t61rcWkgMzE,rojo=1");
/// assert_eq!(cx.baggage().len(), 1);
///
/// let mut outgoing = HashMap::new();
/// opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut outgoing));
/// assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
/// assert_eq!(outgoing["baggage"], "user=ada");
/// assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE,rojo=1");
/// ```
#[derive(Clone, Debug, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub struct ContextVarsPropagator {
    _private: (),
}

impl ContextVarsPropagator {
    /// A propagator for `traceparent`, `tracestate` and `baggage`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::otel::ContextVarsPropagator;
    /// use opentelemetry::propagation::TextMapPropagator;
    ///
    /// let propagator = ContextVarsPropagator::new();
    /// let fields: Vec<_> = propagator.fields().collect();
    /// assert_eq!(fields, ["traceparent", "tracestate", "baggage"]);
    /// ```
    pub fn new() -> ContextVarsPropagator {
        ContextVarsPropagator::default()
    }
}

fn fields() -> &'static [String; 3] {
    static FIELDS: OnceLock<[String; 3]> = OnceLock::new();
    FIELDS.get_or_init(|| {
        [
            TRACEPARENT.to_owned(),
            TRACESTATE.to_owned(),
            BAGGAGE_HEADER.to_owned(),
        ]
    })
}

/// The remote span context of a valid, single `traceparent` and its
/// `tracestate`.
fn extract_span_context(extractor: &dyn Extractor) -> Option<SpanContext> {
    let values = extractor.get_all(TRACEPARENT)?;
    let [value] = values.as_slice() else {
        return None;
    };
    let parent: TraceParent = value.trim_matches([' ', '\t']).parse().ok()?;
    // "If the vendor failed to parse traceparent, it MUST NOT attempt to
    // parse tracestate."
    let state = match extractor.get_all(TRACESTATE) {
        Some(values) => values.join(",").parse().unwrap_or_default(),
        None => TraceState::new(),
    };
    Some(SpanContext::new(
        OtelTraceId::from_bytes(parent.trace_id().to_bytes()),
        OtelSpanId::from_bytes(parent.parent_id().to_bytes()),
        OtelTraceFlags::new(
            parent
                .flags()
                .intersection(TraceContext::PROPAGATED_FLAGS)
                .bits(),
        ),
        true,
        OtelTraceState::from(&state),
    ))
}

impl TextMapPropagator for ContextVarsPropagator {
    fn inject_context(&self, cx: &OtelContext, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if let Some(parent) = traceparent_of(span_context) {
            let parent = TraceParent::new(
                parent.trace_id(),
                parent.parent_id(),
                parent.flags().intersection(TraceContext::PROPAGATED_FLAGS),
            );
            injector.set(TRACEPARENT, parent.to_string());
            let state = TraceState::from(span_context.trace_state());
            if !state.is_empty() {
                injector.set(TRACESTATE, state.to_string());
            }
        }
        let baggage = cx.baggage();
        if !baggage.is_empty() {
            let baggage = Baggage::from(baggage);
            if !baggage.is_empty() {
                injector.set(BAGGAGE_HEADER, baggage.to_string());
            }
        }
    }

    fn extract_with_context(&self, cx: &OtelContext, extractor: &dyn Extractor) -> OtelContext {
        let mut cx = match extract_span_context(extractor) {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        };
        if let Some(values) = extractor.get_all(BAGGAGE_HEADER) {
            let baggage = Baggage::parse_lossy(&values.join(","));
            cx = cx.with_baggage(OtelBaggage::from(&baggage));
        }
        cx
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_of_keeps_valid_properties_only() {
        let with = member_of("k", "a b", "p1;p2=x").unwrap();
        assert_eq!(with.to_string(), "k=a%20b;p1;p2=x");
        for bad in ["p q", "p,q=1", "=x", ";"] {
            let without = member_of("k", "v", bad).unwrap();
            assert_eq!(without.to_string(), "k=v", "{bad:?}");
        }
        assert!(member_of("", "v", "").is_none());
        // Keys are decoded on both sides: a key with `%` is encoded when
        // written, and read back the same.
        let percent = member_of("100%", "v", "p").unwrap();
        assert_eq!(percent.to_string(), "100%25=v;p");
        assert_eq!(percent.key(), "100%");
    }

    #[test]
    fn baggage_from_otel_skips_what_does_not_fit() {
        let mut otel = OtelBaggage::new();
        // 2700 spaces: 2700 bytes for OpenTelemetry, 8100 encoded.
        otel.insert("a", " ".repeat(2700));
        otel.insert("b", " ".repeat(2700));
        otel.insert("c", "small");
        let ours = Baggage::from(&otel);
        assert_eq!(ours.len(), 2);
        assert!(ours.get("a").is_some());
        assert_eq!(ours.get("b"), None);
        assert_eq!(ours.get("c"), Some("small"));
    }

    #[test]
    fn trace_state_conversions_keep_order_and_the_first_duplicate() {
        let otel = OtelTraceState::from_key_value([("a", "1"), ("b", "2"), ("a", "3")]).unwrap();
        assert_eq!(TraceState::from(&otel).to_string(), "a=1,b=2");
        let ours: TraceState = "z=1,y@x=2,t@abcdefghijklmn=3,w=4,a@@b=5,9@-=6,v@=7"
            .parse()
            .unwrap();
        assert_eq!(OtelTraceState::from(&ours).header(), "z=1,y@x=2,w=4,v@=7");
    }
}
