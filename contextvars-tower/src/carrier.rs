//! Carriers: the context in and out of anything with string-named fields,
//! not only HTTP headers.
//!
//! A message-queue record (Kafka, AMQP, NATS headers), the metadata of an
//! RPC, the environment of a child process: each is a list of named fields,
//! as HTTP headers are. Implement [`Extractor`] (reading) and [`Injector`]
//! (writing) for it, and the request context travels through it exactly as
//! through HTTP:
//!
//! * [`RequestContextLayer::extract`] reads a carrier with the same
//!   validation and limits as the server layer, and returns a
//!   [`Context`] with [`REQUEST_ID`](crate::REQUEST_ID),
//!   [`TRACE`](crate::TRACE) and [`BAGGAGE`](crate::BAGGAGE) bound, to
//!   [`run`](contextvars::Context::run) code in or to give to a future
//!   ([`with_context`](contextvars::FutureExt::with_context));
//! * [`PropagateLayer::inject_into`] writes the current context into a
//!   carrier, as the client layer writes outbound requests: `traceparent`,
//!   `tracestate`, the request id, and the baggage it is told to send.
//!
//! [`extract`] and [`inject`] do the same with the default settings. The
//! HTTP layers go through the same code: a carrier reads exactly as an
//! `http::HeaderMap` with the same fields would.
//!
//! Both traits are implemented for [`http::HeaderMap`] and for
//! `HashMap<String, String>`. Field names are compared ASCII
//! case-insensitively, and written lowercase.
//!
//! # Examples
//!
//! A Kafka-style record, whose headers are a list of names and byte values.
//! The record type is the application's, so the traits are implemented for
//! it (not for `Vec<(String, Vec<u8>)>`, which neither crate owns):
//!
//! ```
//! use contextvars::{Context, FutureExt};
//! use contextvars_tower::carrier::{Extractor, Injector};
//! use contextvars_tower::{PropagateLayer, RequestContextLayer, RequestId, BAGGAGE, REQUEST_ID, TRACE};
//!
//! /// A record as a Kafka client hands it over.
//! struct Record {
//!     headers: Vec<(String, Vec<u8>)>,
//!     payload: Vec<u8>,
//! }
//!
//! impl Extractor for Record {
//!     fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
//!         self.headers.iter().map(|(name, value)| (name.as_str(), value.as_slice()))
//!     }
//! }
//!
//! impl Injector for Record {
//!     fn set(&mut self, name: &str, value: String) {
//!         self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
//!         self.headers.push((name.to_owned(), value.into_bytes()));
//!     }
//!
//!     fn contains(&self, name: &str) -> bool {
//!         self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Producer, while serving a request: the record carries its context.
//! let producer = PropagateLayer::new().forward_baggage(["tenant"]);
//! let mut record = Record { headers: Vec::new(), payload: b"order 7".to_vec() };
//! let sent = Context::new().run(|| {
//!     REQUEST_ID.set(RequestId::new("req-7").unwrap());
//!     BAGGAGE.set("tenant=acme,secret=x".parse().unwrap());
//!     producer.inject_into(&mut record)
//! });
//! let names: Vec<&str> = record.headers.iter().map(|(n, _)| n.as_str()).collect();
//! assert_eq!(names, ["traceparent", "x-request-id", "baggage"]);
//!
//! // Consumer: every record is handled in a context of its own.
//! let consumer = RequestContextLayer::new();
//! let ctx = consumer.extract(&record);
//! let handled = async {
//!     // Here, as in an HTTP handler: the producer's request id, its trace
//!     // (as a new hop below the producer's), the baggage it sent.
//!     assert_eq!(REQUEST_ID.get().as_str(), "req-7");
//!     assert_eq!(TRACE.get().trace_id(), sent.trace_id());
//!     assert_eq!(TRACE.get().parent_span_id(), Some(sent.span_id()));
//!     assert_eq!(BAGGAGE.get().get("tenant"), Some("acme"));
//!     assert_eq!(BAGGAGE.get().get("secret"), None);
//!     record.payload.len()
//! };
//! assert_eq!(handled.with_context(ctx).await, 7);
//! # }
//! ```

use std::collections::HashMap;
use std::hash::BuildHasher;

use contextvars::Context;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::{BAGGAGE, TRACEPARENT, TRACESTATE, X_REQUEST_ID};
use crate::trace::TraceContext;
use crate::{PropagateLayer, RequestContextLayer};

/// A carrier the context can be read from: a list of named fields, such as
/// HTTP headers or message headers.
///
/// One method to implement, [`fields`](Extractor::fields). Field names are
/// compared ASCII case-insensitively; a name may appear more than once (the
/// values of `tracestate` and `baggage` fields then combine in order, as
/// HTTP header fields do, and a repeated `traceparent` or request id is
/// ignored, as the server layer ignores them). Values are bytes: only those
/// that are visible ASCII (spaces and tabs allowed) are read.
///
/// See the [module](crate::carrier) for an example with message headers.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use contextvars_tower::carrier::Extractor;
///
/// let fields = HashMap::from([("Traceparent".to_string(), "00-abc".to_string())]);
/// assert_eq!(Extractor::get(&fields, "traceparent"), Some("00-abc"));
/// assert_eq!(Extractor::fields(&fields).count(), 1);
/// ```
pub trait Extractor {
    /// Every field of the carrier, as its name and value, in the carrier's
    /// order.
    fn fields(&self) -> impl Iterator<Item = (&str, &[u8])>;

    /// The value of the first field named `name` (ASCII case-insensitive),
    /// if it is valid UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::carrier::Extractor;
    /// use http::HeaderMap;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-request-id", "r-1".parse().unwrap());
    /// assert_eq!(Extractor::get(&headers, "X-Request-Id"), Some("r-1"));
    /// ```
    fn get(&self, name: &str) -> Option<&str> {
        self.fields()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }
}

/// A carrier the context can be written into.
///
/// Names given to [`set`](Injector::set) are lowercase (`traceparent`,
/// `tracestate`, `baggage` and the request id field's name), and values
/// visible ASCII (with inner spaces in `tracestate`).
///
/// See the [module](crate::carrier) for an example with message headers.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use contextvars_tower::carrier::Injector;
///
/// let mut fields: HashMap<String, String> = HashMap::new();
/// fields.set("traceparent", "00-abc".to_string());
/// assert!(fields.contains("TraceParent"));
/// ```
pub trait Injector {
    /// Sets the field `name` to `value`, replacing the carrier's fields of
    /// that name, if any.
    fn set(&mut self, name: &str, value: String);

    /// Whether the carrier has a field named `name` (ASCII
    /// case-insensitive). Injection leaves such fields alone: a value the
    /// caller put there wins.
    fn contains(&self, name: &str) -> bool;
}

impl Extractor for HeaderMap {
    fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    }

    fn get(&self, name: &str) -> Option<&str> {
        HeaderMap::get(self, name)?.to_str().ok()
    }
}

impl Injector for HeaderMap {
    fn set(&mut self, name: &str, value: String) {
        // The names this crate writes, without parsing or allocating them.
        let name = match name {
            "traceparent" => TRACEPARENT,
            "tracestate" => TRACESTATE,
            "baggage" => BAGGAGE,
            "x-request-id" => X_REQUEST_ID,
            other => match HeaderName::from_bytes(other.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            self.insert(name, value);
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

impl<S: BuildHasher> Extractor for HashMap<String, String, S> {
    fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    }
}

impl<S: BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.retain(|field, _| !field.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }

    fn contains(&self, name: &str) -> bool {
        self.contains_key(name) || self.keys().any(|field| field.eq_ignore_ascii_case(name))
    }
}

/// Reads the context from `carrier` with the default settings of
/// [`RequestContextLayer::new`]: see [`RequestContextLayer::extract`].
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use contextvars_tower::{carrier, REQUEST_ID, TRACE};
///
/// let fields = HashMap::from([
///     ("traceparent".to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string()),
/// ]);
/// let ctx = carrier::extract(&fields);
/// ctx.run(|| {
///     assert_eq!(TRACE.get().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
///     // No request id field: the trace id.
///     assert_eq!(REQUEST_ID.get().as_str(), "0af7651916cd43dd8448eb211c80319c");
/// });
/// ```
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Context {
    RequestContextLayer::new().extract(carrier)
}

/// Writes the current context into `carrier` with the default settings of
/// [`PropagateLayer::new`] (the trace and the request id, no baggage), and
/// returns the trace context sent: see [`PropagateLayer::inject_into`].
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use contextvars::Context;
/// use contextvars_tower::{carrier, RequestId, REQUEST_ID};
///
/// let mut env: HashMap<String, String> = HashMap::new();
/// let sent = Context::new().run(|| {
///     REQUEST_ID.set(RequestId::new("job-3").unwrap());
///     carrier::inject(&mut env)
/// });
/// assert_eq!(env["x-request-id"], "job-3");
/// assert_eq!(env["traceparent"], sent.traceparent().to_string());
/// ```
pub fn inject<I: Injector + ?Sized>(carrier: &mut I) -> TraceContext {
    PropagateLayer::new().inject_into(carrier)
}
