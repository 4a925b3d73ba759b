//! The client-side (outbound) layer.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use contextvars::propagation::{self, DropReason, Dropped};
use contextvars::ContextVar;
use http::{HeaderMap, HeaderName, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::carrier::Injector;
use crate::headers::{BAGGAGE as BAGGAGE_HEADER, TRACEPARENT, TRACESTATE, X_REQUEST_ID};
use crate::trace::TraceContext;
use crate::w3c::{Baggage, BaggageMember, TraceFlags};
use crate::{BAGGAGE, REQUEST_ID, TRACE};

#[derive(Clone, Debug)]
enum Forward {
    Nothing,
    Keys(Vec<Box<str>>),
    All,
}

#[derive(Clone)]
struct PropagateConfig {
    request_id_header: HeaderName,
    forward: Forward,
    exported: Vec<(Box<str>, &'static ContextVar<String>)>,
    propagated: bool,
    on_dropped: Option<DropHook>,
    new_trace_flags: TraceFlags,
}

impl fmt::Debug for PropagateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exported: Vec<(&str, &str)> = self
            .exported
            .iter()
            .map(|(key, var)| (&**key, var.name()))
            .collect();
        f.debug_struct("PropagateConfig")
            .field("request_id_header", &self.request_id_header)
            .field("forward_baggage", &self.forward)
            .field("exported_vars", &exported)
            .field("propagated_vars", &self.propagated)
            .field("on_dropped", &self.on_dropped)
            .field("new_trace_flags", &self.new_trace_flags)
            .finish()
    }
}

/// A callback for the values of propagated variables that are dropped.
#[derive(Clone)]
pub(crate) struct DropHook(pub(crate) Arc<dyn Fn(&Dropped) + Send + Sync>);

impl fmt::Debug for DropHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DropHook")
    }
}

impl Default for PropagateConfig {
    fn default() -> Self {
        PropagateConfig {
            request_id_header: X_REQUEST_ID,
            forward: Forward::Nothing,
            exported: Vec::new(),
            propagated: true,
            on_dropped: None,
            new_trace_flags: TraceFlags::SAMPLED,
        }
    }
}

/// Adds the current context to outbound HTTP requests: the client half of
/// this crate. Makes [`PropagateService`]s, for any
/// `tower::Service<http::Request<B>>`, such as hyper-util's legacy
/// `Client`.
///
/// At every `call`, the context current at that moment (the request being
/// served, when called from a handler under
/// [`RequestContextLayer`](crate::RequestContextLayer)) is written into the
/// outbound request's headers. No argument passing: code that makes the call
/// does not need to know about it. See [`inject`](PropagateLayer::inject)
/// for exactly which headers.
///
/// By default no baggage leaves the process: choose what may with
/// [`forward_baggage`](PropagateLayer::forward_baggage),
/// [`forward_all_baggage`](PropagateLayer::forward_all_baggage) and
/// [`export_var`](PropagateLayer::export_var).
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
/// use contextvars_tower::PropagateLayer;
///
/// static TENANT: ContextVar<String> = ContextVar::new("tenant");
///
/// let layer = PropagateLayer::new()
///     .forward_baggage(["user-id"])
///     .export_var("tenant", &TENANT);
/// # drop(layer);
/// ```
#[derive(Clone, Debug, Default)]
pub struct PropagateLayer {
    config: Arc<PropagateConfig>,
}

impl PropagateLayer {
    /// A layer that propagates the trace and the request id (in
    /// `x-request-id`), and no baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateLayer;
    ///
    /// let layer = PropagateLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> PropagateLayer {
        PropagateLayer::default()
    }

    /// Sends the request id in header `name` instead of `x-request-id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateLayer;
    /// use http::HeaderName;
    ///
    /// let layer = PropagateLayer::new().request_id_header(HeaderName::from_static("x-correlation-id"));
    /// # drop(layer);
    /// ```
    pub fn request_id_header(mut self, name: HeaderName) -> PropagateLayer {
        Arc::make_mut(&mut self.config).request_id_header = name;
        self
    }

    /// Allows the members of [`BAGGAGE`] with these keys to
    /// leave the process. Adds to previous calls.
    ///
    /// Keys are case-sensitive and compared **decoded**, as
    /// [`Baggage::get`] takes them (see [Keys](Baggage#keys)): a key that
    /// a peer percent-encoded, as OpenTelemetry's Python SDK does, matches
    /// its decoded spelling here. Give keys as the application reads them,
    /// not as they appear on the wire.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tower::{PropagateLayer, BAGGAGE};
    /// use http::HeaderMap;
    ///
    /// let layer = PropagateLayer::new().forward_baggage(["user-id", "tok!en#key"]);
    /// let mut headers = HeaderMap::new();
    /// Context::new().run(|| {
    ///     // As received from a Python service: `tok!en#key` percent-encoded.
    ///     BAGGAGE.set("user-id=42,tok%21en%23key=1%2B1%3D2,secret=x".parse().unwrap());
    ///     layer.inject(&mut headers);
    /// });
    /// assert_eq!(headers["baggage"], "user-id=42,tok!en#key=1%2B1%3D2");
    /// ```
    pub fn forward_baggage<I, K>(mut self, keys: I) -> PropagateLayer
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let config = Arc::make_mut(&mut self.config);
        let mut list = match std::mem::replace(&mut config.forward, Forward::Nothing) {
            Forward::All => {
                config.forward = Forward::All;
                return self;
            }
            Forward::Keys(list) => list,
            Forward::Nothing => Vec::new(),
        };
        list.extend(keys.into_iter().map(|k| k.as_ref().into()));
        config.forward = Forward::Keys(list);
        self
    }

    /// Allows every member of [`BAGGAGE`] to leave the
    /// process, as OpenTelemetry's baggage propagator does. Use only when
    /// every service that can set baggage is trusted with every service this
    /// one calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateLayer;
    ///
    /// let layer = PropagateLayer::new().forward_all_baggage();
    /// # drop(layer);
    /// ```
    pub fn forward_all_baggage(mut self) -> PropagateLayer {
        Arc::make_mut(&mut self.config).forward = Forward::All;
        self
    }

    /// Sends the value of `var` (or its default) as the baggage member
    /// `key`, when it has one. A later call with the same `key` replaces the
    /// variable.
    ///
    /// `key` is a decoded key, like the keys of
    /// [`forward_baggage`](PropagateLayer::forward_baggage): a key that is
    /// not an RFC 9110 token (ASCII letters, digits and
    /// ``!#$%&'*+-.^_`|~``), or has a `%`, is percent-encoded when written
    /// (see [Keys](Baggage#keys)). Prefer tokens without `%`: OpenTelemetry's
    /// Go and Java SDKs do not decode keys.
    ///
    /// # Panics
    ///
    /// Panics if `key` is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tower::PropagateLayer;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::new("tenant");
    ///
    /// let layer = PropagateLayer::new().export_var("tenant", &TENANT);
    /// # drop(layer);
    /// ```
    #[track_caller]
    pub fn export_var(mut self, key: &str, var: &'static ContextVar<String>) -> PropagateLayer {
        assert!(!key.is_empty(), "`export_var`: empty baggage key");
        let exported = &mut Arc::make_mut(&mut self.config).exported;
        match exported.iter_mut().find(|(k, _)| &**k == key) {
            Some(entry) => entry.1 = var,
            None => exported.push((key.into(), var)),
        }
        self
    }

    /// Whether to send the [propagated variables](contextvars::propagation)
    /// (built with [`propagate`](contextvars::VarBuilder::propagate)) that
    /// have a value in the current context (default: `true`). Turn it off on
    /// clients of services outside the system, which have no use for them.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{Context, ContextVar};
    /// use contextvars_tower::PropagateLayer;
    /// use http::HeaderMap;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    ///
    /// let (mut internal, mut external) = (HeaderMap::new(), HeaderMap::new());
    /// Context::new().run(|| {
    ///     TENANT.set("acme".to_string());
    ///     PropagateLayer::new().inject(&mut internal);
    ///     PropagateLayer::new().propagated_vars(false).inject(&mut external);
    /// });
    /// assert_eq!(internal["baggage"], "tenant=acme");
    /// assert!(!external.contains_key("baggage"));
    /// ```
    pub fn propagated_vars(mut self, send: bool) -> PropagateLayer {
        Arc::make_mut(&mut self.config).propagated = send;
        self
    }

    /// Calls `report` for every value of a propagated variable left out of
    /// an outbound call because it does not fit in the W3C baggage limits
    /// ([`DropReason::NoRoom`]), in the caller's context. The [`Dropped`]
    /// names the variable, never the value. By default such drops are
    /// silent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use contextvars::{Context, ContextVar};
    /// use contextvars_tower::PropagateLayer;
    /// use http::HeaderMap;
    ///
    /// static NOTE: ContextVar<String> = ContextVar::builder("note").propagate().build();
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let layer = PropagateLayer::new().on_dropped(move |d| log.lock().unwrap().push(d.name()));
    /// let mut headers = HeaderMap::new();
    /// Context::new().run(|| {
    ///     NOTE.set("x".repeat(10_000)); // over the 8192 bytes of a baggage header
    ///     layer.inject(&mut headers);
    /// });
    /// assert_eq!(*seen.lock().unwrap(), ["note"]);
    /// assert!(!headers.contains_key("baggage"));
    /// ```
    pub fn on_dropped(
        mut self,
        report: impl Fn(&Dropped) + Send + Sync + 'static,
    ) -> PropagateLayer {
        Arc::make_mut(&mut self.config).on_dropped = Some(DropHook(Arc::new(report)));
        self
    }

    /// Whether a trace started for a call made outside of any trace (no
    /// [`TRACE`] set) is sampled (default: `true`, as on the
    /// server side).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateLayer;
    ///
    /// let layer = PropagateLayer::new().sample_new_traces(false);
    /// # drop(layer);
    /// ```
    pub fn sample_new_traces(mut self, sampled: bool) -> PropagateLayer {
        Arc::make_mut(&mut self.config).new_trace_flags = TraceFlags::NONE.with_sampled(sampled);
        self
    }

    /// Writes the current context into `headers`, and returns the trace
    /// context of the outbound call. This is what [`PropagateService`] does
    /// for every request; call it directly to propagate through a client
    /// that is not a tower service (a `reqwest-middleware` middleware, for
    /// instance).
    ///
    /// A header already present in `headers` is left alone: the caller's
    /// explicit choice wins.
    ///
    /// * `traceparent`: the current [`TRACE`]'s
    ///   [`child`](TraceContext::child): same trace id and flags, a **new
    ///   span id for every call**. Outside of any trace, every call starts a
    ///   new trace of its own ([`TraceContext::new_root`], sampled unless
    ///   [`sample_new_traces(false)`](PropagateLayer::sample_new_traces));
    ///   set `TRACE` yourself to group calls into one trace.
    /// * `tracestate`: as received, when not empty (only if this call also
    ///   writes `traceparent`, so the two always match).
    /// * the request id header (`x-request-id` by default): the current
    ///   [`REQUEST_ID`], if set.
    /// * `baggage`, if not empty: first the [exported
    ///   variables](PropagateLayer::export_var) that have a value, in the
    ///   order they were configured; then the [propagated
    ///   variables](contextvars::propagation) that have a value (unless
    ///   [`propagated_vars(false)`](PropagateLayer::propagated_vars)), under
    ///   their names, in the order they were first used, except names
    ///   already exported; then the members of [`BAGGAGE`] allowed by
    ///   [`forward_baggage`](PropagateLayer::forward_baggage) (or all), in
    ///   order, except keys already written (keys compared decoded): on a
    ///   name clash the variable wins. The W3C limits apply as when parsing:
    ///   a propagated variable that would exceed 64 members or 8192 bytes is
    ///   left out and reported to [`on_dropped`](PropagateLayer::on_dropped);
    ///   the first member of `BAGGAGE` that would, and every member after
    ///   it, are left out.
    ///   Keys and values are percent-encoded as described under
    ///   [Encoding](Baggage#encoding): a `+` is sent as `%2B`, a space as
    ///   `%20`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tower::{PropagateLayer, RequestId, REQUEST_ID};
    /// use http::HeaderMap;
    ///
    /// let layer = PropagateLayer::new();
    /// let mut headers = HeaderMap::new();
    /// let outbound = Context::new().run(|| {
    ///     REQUEST_ID.set(RequestId::new("req-7").unwrap());
    ///     layer.inject(&mut headers)
    /// });
    /// assert_eq!(headers["x-request-id"], "req-7");
    /// assert_eq!(headers["traceparent"], outbound.traceparent().to_string());
    /// assert!(!headers.contains_key("baggage"));
    /// ```
    pub fn inject(&self, headers: &mut HeaderMap) -> TraceContext {
        self.inject_into(headers)
    }

    /// Writes the current context into any carrier (see
    /// [`carrier`](crate::carrier)): the fields
    /// [`inject`](PropagateLayer::inject) writes into HTTP headers, under the
    /// same names, with the same values and the same rules, fields the
    /// carrier already has left alone. Returns the trace context of the
    /// outbound message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use contextvars::Context;
    /// use contextvars_tower::{PropagateLayer, BAGGAGE};
    ///
    /// let layer = PropagateLayer::new().forward_baggage(["tenant"]);
    /// let mut fields: HashMap<String, String> = HashMap::new();
    /// let sent = Context::new().run(|| {
    ///     BAGGAGE.set("tenant=acme,secret=x".parse().unwrap());
    ///     layer.inject_into(&mut fields)
    /// });
    /// assert_eq!(fields["traceparent"], sent.traceparent().to_string());
    /// assert_eq!(fields["baggage"], "tenant=acme");
    /// assert!(!fields.contains_key("x-request-id")); // no request id is current
    /// ```
    pub fn inject_into<I: Injector + ?Sized>(&self, carrier: &mut I) -> TraceContext {
        let config = &*self.config;
        let outbound = match TRACE.get_opt_arc() {
            Some(trace) => trace.child(),
            None => TraceContext::new_root().with_flags(config.new_trace_flags),
        };
        if !carrier.contains(TRACEPARENT.as_str()) {
            carrier.set(TRACEPARENT.as_str(), outbound.traceparent().to_string());
            if !outbound.trace_state().is_empty() && !carrier.contains(TRACESTATE.as_str()) {
                carrier.set(TRACESTATE.as_str(), outbound.trace_state().to_string());
            }
        }
        let request_id_name = config.request_id_header.as_str();
        if !carrier.contains(request_id_name) {
            if let Some(id) = REQUEST_ID.get_opt_arc() {
                carrier.set(request_id_name, id.as_str().to_owned());
            }
        }
        if !carrier.contains(BAGGAGE_HEADER.as_str()) {
            let baggage = self.outbound_baggage();
            if !baggage.is_empty() {
                carrier.set(BAGGAGE_HEADER.as_str(), baggage.to_string());
            }
        }
        outbound
    }

    fn outbound_baggage(&self) -> Baggage {
        let config = &*self.config;
        let mut out = Baggage::new();
        for (key, var) in &config.exported {
            if let Ok(value) = var.try_get() {
                if out.push(BaggageMember::new(key, &value)).is_err() {
                    return out;
                }
            }
        }
        let mut propagated = Vec::new();
        if config.propagated {
            propagated = propagation::current_values();
            propagated.retain(|(name, _)| !config.exported.iter().any(|(k, _)| &**k == *name));
            for (name, value) in &propagated {
                if out.push(BaggageMember::new(name, value)).is_err() {
                    if let Some(hook) = &config.on_dropped {
                        (hook.0)(&Dropped::new(name, DropReason::NoRoom));
                    }
                }
            }
        }
        let allowed: &dyn Fn(&str) -> bool = match &config.forward {
            Forward::Nothing => return out,
            Forward::All => &|_| true,
            Forward::Keys(keys) => &|key| keys.iter().any(|k| &**k == key),
        };
        let Some(current) = BAGGAGE.get_opt_arc() else {
            return out;
        };
        for member in current.iter() {
            let key = member.key();
            let exported = config.exported.iter().any(|(k, _)| &**k == key)
                || propagated.iter().any(|(name, _)| *name == key);
            if allowed(key) && !exported && out.push(member.clone()).is_err() {
                break;
            }
        }
        out
    }
}

impl<S> Layer<S> for PropagateLayer {
    type Service = PropagateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateService {
            inner,
            layer: self.clone(),
        }
    }
}

/// Adds the current context to every request it sends: see
/// [`PropagateLayer`], which makes it, and [`PropagateLayer::inject`] for the
/// headers.
///
/// The outbound call's [`TraceContext`] (its span id, with this hop's span
/// as parent) is also inserted into the request's extensions, for a logging
/// layer inside this one.
///
/// Errors of the inner service pass through unchanged.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use contextvars_tower::PropagateLayer;
/// use http::{Request, Response};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A stand-in for an HTTP client: answers with the traceparent it got.
/// let client = ServiceBuilder::new()
///     .layer(PropagateLayer::new())
///     .service(service_fn(|req: Request<()>| async move {
///         Ok::<_, Infallible>(Response::new(req.headers()["traceparent"].to_str().unwrap().to_owned()))
///     }));
/// let sent = client.oneshot(Request::new(())).await.unwrap().into_body();
/// assert!(sent.starts_with("00-"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PropagateService<S> {
    inner: S,
    layer: PropagateLayer,
}

impl<S> PropagateService<S> {
    /// Wraps `inner` with the default settings of [`PropagateLayer::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateService;
    ///
    /// let svc = PropagateService::new(tower::service_fn(|req: http::Request<()>| async move {
    ///     Ok::<_, std::convert::Infallible>(req.headers().len())
    /// }));
    /// # drop(svc);
    /// ```
    pub fn new(inner: S) -> PropagateService<S> {
        PropagateLayer::new().layer(inner)
    }

    /// The inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateService;
    ///
    /// assert_eq!(*PropagateService::new(5).get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateService;
    ///
    /// let mut svc = PropagateService::new(5);
    /// *svc.get_mut() = 6;
    /// assert_eq!(*svc.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::PropagateService;
    ///
    /// assert_eq!(PropagateService::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for PropagateService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, task_cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(task_cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let outbound = self.layer.inject(req.headers_mut());
        req.extensions_mut().insert(outbound);
        self.inner.call(req)
    }
}
