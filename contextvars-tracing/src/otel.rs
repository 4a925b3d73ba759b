//! Context variables on the spans that tracing-opentelemetry exports.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context as OtelContext, Key, KeyValue, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{ContextFields, JsonKind};

/// Gives the spans that [tracing-opentelemetry] exports the current values
/// of chosen context variables as attributes, and a parent from the current
/// context (the request's trace), so that the trace id in the log lines is
/// the trace id of the exported spans (feature `opentelemetry`).
///
/// A `tracing_subscriber` [`Layer`], placed **inside** tracing-opentelemetry's
/// layer: `ContextOtel::new(fields).and_then(otel_layer)`, as one layer of
/// the registry (see [Layer order](#layer-order)).
///
/// * **Attributes.** Each span gets one attribute per field of the
///   [`ContextFields`] whose variable has a value (or a default) in the
///   context current where the span is *created*: `request_id = "r-1"`.
///   Integers and `bool`s stay integers and booleans, floats become floats
///   (a float with no fraction, `1.0`, an integer), anything else a string.
/// * **Parent.** With [`parent_context`](ContextOtel::parent_context), a
///   span that would start a trace of its own (no tracing span is current
///   and no OpenTelemetry span is active where it is created) gets the
///   context the closure returns as its parent, if that context has a valid
///   span context. With `contextvars_tower::otel::current_otel_context`,
///   that is the request's [`TRACE`], continued from the incoming
///   `traceparent`: the exported spans are in the caller's trace, under the
///   trace id that the log lines show.
///
/// tracing's span fields are fixed when a span's callsite is declared, so a
/// layer cannot add fields that every subscriber would see; this layer uses
/// tracing-opentelemetry's [`OpenTelemetrySpanExt`] to add OpenTelemetry
/// attributes instead. For other span-based subscribers, declare the values
/// as fields of the spans you create:
/// `info_span!("request", request_id = %REQUEST_ID.get())`.
///
/// [tracing-opentelemetry]: https://docs.rs/tracing-opentelemetry
/// [`TRACE`]: https://docs.rs/contextvars-tower/latest/contextvars_tower/static.TRACE.html
///
/// # Examples
///
/// A request with an incoming `traceparent`: the span exported for it
/// carries the request id, and its trace id is the one in the log lines.
///
/// ```
/// use contextvars::Context;
/// use contextvars_tower::otel::current_otel_context;
/// use contextvars_tower::w3c::{TraceParent, TraceState};
/// use contextvars_tower::{TraceContext, REQUEST_ID, TRACE};
/// use contextvars_tracing::{ContextFields, ContextOtel};
/// use opentelemetry::trace::TracerProvider as _;
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
///
/// // An OTLP exporter in production.
/// let exporter = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
///
/// let fields = ContextFields::new()
///     .var(&REQUEST_ID)
///     .field("trace_id", &TRACE, |t, f| write!(f, "{}", t.trace_id()));
/// let subscriber = tracing_subscriber::registry()
///     // `ContextOtel` inside the OpenTelemetry layer.
///     .with(ContextOtel::new(fields).parent_context(current_otel_context).and_then(otel));
///
/// tracing::subscriber::with_default(subscriber, || {
///     // What `RequestContextLayer` does for each request.
///     Context::new().run(|| {
///         let parent: TraceParent =
///             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
///         TRACE.set(TraceContext::from_parent(&parent, TraceState::default()));
///         REQUEST_ID.set("r-1".parse().unwrap()); // a `RequestId`
///         tracing::info_span!("handle").in_scope(|| tracing::info!("handled"));
///     });
/// });
///
/// let spans = exporter.get_finished_spans().unwrap();
/// let attribute = |key: &str| spans[0].attributes.iter().find(|kv| kv.key.as_str() == key);
/// assert_eq!(attribute("request_id").unwrap().value.as_str(), "r-1");
/// assert_eq!(
///     attribute("trace_id").unwrap().value.as_str(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
/// assert_eq!(
///     spans[0].span_context.trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
/// ```
///
/// # Layer order
///
/// `ContextOtel` has to see each span before tracing-opentelemetry's layer
/// does, so it goes inside it: `ContextOtel::new(..).and_then(otel)`, or
/// `registry().with(context_otel).with(otel)`. In the other order the spans
/// still get the attributes, but tracing-opentelemetry has started them
/// before the parent could be set, and they begin traces of their own.
///
/// # When the values are read and given
///
/// The values are read when a span is created, in the context current
/// there, and given to tracing-opentelemetry when the span is first
/// entered (`in_scope`, `enter`, `.instrument(..)`, `#[instrument]`), which
/// is before tracing-opentelemetry starts it. A span that is never entered,
/// or that tracing-opentelemetry starts before it is entered (a child
/// created with an explicit `parent:` first, a call of
/// `tracing_opentelemetry::get_otel_context`), is exported without them.
///
/// Log events are not changed: their lines get the context's values from
/// [`ContextFormat`](crate::ContextFormat) or
/// [`ContextJson`](crate::ContextJson), and tracing-opentelemetry exports
/// them as events of a span that has the attributes.
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub struct ContextOtel {
    fields: ContextFields,
    /// The attribute key of each field, by index.
    keys: Arc<[Key]>,
    parent: Option<Arc<dyn Fn() -> OtelContext + Send + Sync>>,
    /// The subscriber this layer is part of, once it is made a `Dispatch`.
    dispatch: OnceLock<WeakDispatch>,
}

/// What a new span gets when it is first entered.
struct Pending {
    parent: Option<OtelContext>,
    attributes: Vec<KeyValue>,
}

impl ContextOtel {
    /// A layer that gives each span the values of `fields` as attributes.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::{ContextFields, ContextOtel};
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::SdkTracerProvider;
    /// use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    ///
    /// static USER: ContextVar<String> = ContextVar::new("user");
    ///
    /// let provider = SdkTracerProvider::builder().build();
    /// let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(ContextOtel::new(ContextFields::new().var(&USER)).and_then(otel));
    /// # drop(subscriber);
    /// ```
    pub fn new(fields: ContextFields) -> ContextOtel {
        let keys = fields
            .names()
            .map(|name| Key::new(name.to_owned()))
            .collect();
        ContextOtel {
            fields,
            keys,
            parent: None,
            dispatch: OnceLock::new(),
        }
    }

    /// Gives a span that would start a trace of its own the context that
    /// `parent` returns as its parent, when that context has a valid span
    /// context; `parent` is called where the span is created.
    ///
    /// With `contextvars_tower::otel::current_otel_context`, spans created
    /// while a request is served are in the request's trace, as a child of
    /// this hop's span ([`TRACE`]'s span id, which is not itself exported),
    /// and carry its baggage.
    ///
    /// [`TRACE`]: https://docs.rs/contextvars-tower/latest/contextvars_tower/static.TRACE.html
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tower::otel::current_otel_context;
    /// use contextvars_tower::{TraceContext, TRACE};
    /// use contextvars_tracing::{ContextFields, ContextOtel};
    /// use opentelemetry::trace::TracerProvider as _;
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    /// use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
    ///
    /// let exporter = InMemorySpanExporter::default();
    /// let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    /// let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("app"));
    /// let layer = ContextOtel::new(ContextFields::new()).parent_context(current_otel_context);
    /// let subscriber = tracing_subscriber::registry().with(layer.and_then(otel));
    ///
    /// let hop = TraceContext::new_root();
    /// tracing::subscriber::with_default(subscriber, || {
    ///     Context::new().run(|| {
    ///         TRACE.set(hop.clone());
    ///         tracing::info_span!("handle").in_scope(|| {});
    ///     });
    /// });
    /// let span = &exporter.get_finished_spans().unwrap()[0];
    /// assert_eq!(span.span_context.trace_id().to_bytes(), hop.trace_id().to_bytes());
    /// assert_eq!(span.parent_span_id.to_bytes(), hop.span_id().to_bytes());
    /// assert!(span.parent_span_is_remote);
    /// ```
    pub fn parent_context(
        mut self,
        parent: impl Fn() -> OtelContext + Send + Sync + 'static,
    ) -> ContextOtel {
        self.parent = Some(Arc::new(parent));
        self
    }

    /// The current values of the fields, as attributes.
    fn attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::new();
        self.fields.for_each_lenient(
            |_| false,
            |index, value| {
                let text = value.display.to_string();
                attributes.push(KeyValue::new(
                    self.keys[index].clone(),
                    typed(text, value.json),
                ));
                Ok(())
            },
        );
        attributes
    }
}

/// `text` as an attribute value of the type its JSON rendering has.
fn typed(text: String, json: JsonKind) -> Value {
    match json {
        JsonKind::String => Value::from(text),
        JsonKind::Literal | JsonKind::Null => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                if let Ok(integer) = text.parse::<i64>() {
                    Value::I64(integer)
                } else if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    // An integer outside of `i64` (a `u64` or an `i128`):
                    // all of its digits, as a string.
                    Value::from(text)
                } else if let Ok(float) = text.parse::<f64>() {
                    Value::F64(float)
                } else {
                    Value::from(text)
                }
            }
        },
    }
}

impl<S> Layer<S> for ContextOtel
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let attributes = self.attributes();
        let parent = match &self.parent {
            // A span that tracing-opentelemetry would make a root: contextual,
            // with no current span on either side.
            Some(parent)
                if attrs.is_contextual()
                    && ctx.lookup_current().is_none()
                    && !OtelContext::current().has_active_span() =>
            {
                let cx = parent();
                cx.span().span_context().is_valid().then_some(cx)
            }
            _ => None,
        };
        if attributes.is_empty() && parent.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Pending { parent, attributes });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        match ctx.span(id) {
            Some(span) if span.extensions().get::<Pending>().is_some() => {}
            _ => return,
        }
        // tracing-opentelemetry's setters take a `Span`: the one being
        // entered is the current one of this subscriber (the registry, under
        // every layer, has already entered it), whatever the thread's
        // default subscriber is.
        let span = match self.dispatch.get().and_then(WeakDispatch::upgrade) {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, tracing::Span::current),
            None => tracing::Span::current(),
        };
        if span.id().as_ref() != Some(id) {
            return;
        }
        let Some(pending) = ctx
            .span(id)
            .and_then(|span| span.extensions_mut().remove::<Pending>())
        else {
            return;
        };
        if let Some(parent) = pending.parent {
            // Fails only if the span has started: the layer order is wrong,
            // as the type's documentation says.
            let _ = span.set_parent(parent);
        }
        for attribute in pending.attributes {
            span.set_attribute(attribute.key, attribute.value);
        }
    }
}

impl fmt::Debug for ContextOtel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextOtel")
            .field("fields", &self.fields)
            .field("parent_context", &self.parent.is_some())
            .finish()
    }
}
