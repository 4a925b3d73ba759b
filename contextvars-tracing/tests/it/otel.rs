//! `ContextOtel`: the spans tracing-opentelemetry exports (to an in-memory
//! exporter here) carry the values of the context they were created in, and
//! a request's spans are in the trace its `traceparent` and its log lines
//! name.

use std::time::Duration;

use contextvars::{Context, ContextVar};
use contextvars_tower::otel::current_otel_context;
use contextvars_tower::w3c::{TraceParent, TraceState};
use contextvars_tower::{RequestId, TraceContext, REQUEST_ID, TRACE};
use contextvars_tracing::{ContextFields, ContextJson, ContextOtel};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::instrument::{Instrument as _, WithSubscriber as _};
use tracing::Dispatch;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

use crate::common::Capture;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Where the exported spans end up.
struct Exported {
    exporter: InMemorySpanExporter,
    // Kept alive: the tracer stops exporting once its provider is gone.
    _provider: SdkTracerProvider,
}

impl Exported {
    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    fn span(&self, name: &str) -> SpanData {
        let mut spans = self.spans().into_iter().filter(|span| span.name == name);
        let span = spans.next().unwrap_or_else(|| panic!("no span {name}"));
        assert!(spans.next().is_none(), "one span {name}");
        span
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// A subscriber with `layer` inside tracing-opentelemetry's layer (or
/// outside it, with `inside` false), exporting in memory.
fn subscriber(layer: ContextOtel, inside: bool) -> (Dispatch, Exported) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let dispatch = if inside {
        Dispatch::new(tracing_subscriber::registry().with(layer.and_then(otel)))
    } else {
        Dispatch::new(tracing_subscriber::registry().with(otel).with(layer))
    };
    let exported = Exported {
        exporter,
        _provider: provider,
    };
    (dispatch, exported)
}

/// What `RequestContextLayer` sets for a request with `traceparent`.
fn enter_request(id: &str, traceparent: &str) -> TraceContext {
    let parent: TraceParent = traceparent.parse().unwrap();
    let hop = TraceContext::from_parent(&parent, TraceState::default());
    TRACE.set(hop.clone());
    REQUEST_ID.set(RequestId::new(id).unwrap());
    hop
}

#[test]
fn spans_get_the_values_of_the_context_they_are_created_in() {
    static USER: ContextVar<String> = ContextVar::new("user");
    let fields = ContextFields::new().var(&REQUEST_ID).var(&USER);
    let (dispatch, exported) = subscriber(ContextOtel::new(fields), true);

    tracing::dispatcher::with_default(&dispatch, || {
        for (id, user) in [("r-1", "ada"), ("r-2", "bob")] {
            Context::new().run(|| {
                REQUEST_ID.set(RequestId::new(id).unwrap());
                USER.set(user.to_string());
                tracing::info_span!("request", id).in_scope(|| {
                    tracing::info_span!("query", id).in_scope(|| {});
                });
            });
        }
        tracing::info_span!("outside").in_scope(|| {});
    });

    for id in ["r-1", "r-2"] {
        let spans: Vec<SpanData> = exported
            .spans()
            .into_iter()
            .filter(|span| attribute(span, "id").map(Value::as_str).as_deref() == Some(id))
            .collect();
        assert_eq!(spans.len(), 2, "{id}: {spans:?}");
        for span in spans {
            let user = if id == "r-1" { "ada" } else { "bob" };
            assert_eq!(attribute(&span, "request_id"), Some(&Value::from(id)));
            assert_eq!(attribute(&span, "user"), Some(&Value::from(user)));
        }
    }
    let outside = exported.span("outside");
    assert_eq!(attribute(&outside, "request_id"), None);
    assert_eq!(attribute(&outside, "user"), None);
}

#[test]
fn attributes_keep_the_type_of_their_values() {
    static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
    static ADMIN: ContextVar<bool> = ContextVar::new("admin");
    static RATIO: ContextVar<f64> = ContextVar::new("ratio");
    static BIG: ContextVar<u64> = ContextVar::new("big");
    static NAME: ContextVar<String> = ContextVar::new("name");
    let fields = ContextFields::new()
        .var(&ATTEMPT)
        .var(&ADMIN)
        .var(&RATIO)
        .var(&BIG)
        .var(&NAME);
    let (dispatch, exported) = subscriber(ContextOtel::new(fields), true);

    tracing::dispatcher::with_default(&dispatch, || {
        Context::new().run(|| {
            ATTEMPT.set(3);
            ADMIN.set(true);
            RATIO.set(0.25);
            BIG.set(u64::MAX);
            NAME.set("42".to_string());
            tracing::info_span!("typed").in_scope(|| {});
        });
    });

    let span = exported.span("typed");
    assert_eq!(attribute(&span, "attempt"), Some(&Value::I64(3)));
    assert_eq!(attribute(&span, "admin"), Some(&Value::Bool(true)));
    assert_eq!(attribute(&span, "ratio"), Some(&Value::F64(0.25)));
    // Beyond `i64`: every digit, as a string.
    assert_eq!(
        attribute(&span, "big"),
        Some(&Value::from(u64::MAX.to_string()))
    );
    // A string that reads as a number stays a string.
    assert_eq!(attribute(&span, "name"), Some(&Value::from("42")));
}

#[test]
fn a_request_s_spans_are_in_the_trace_its_log_lines_show() {
    let fields = ContextFields::new()
        .var(&REQUEST_ID)
        .field("trace_id", &TRACE, |t, f| write!(f, "{}", t.trace_id()));
    let logs = Capture::default();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let layer = ContextOtel::new(fields.clone()).parent_context(current_otel_context);
    let subscriber = tracing_subscriber::registry()
        .with(layer.and_then(otel))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(ContextJson::new(
                    fields,
                    tracing_subscriber::fmt::format().json().flatten_event(true),
                ))
                .with_writer(logs.clone()),
        );

    let hop = tracing::subscriber::with_default(subscriber, || {
        let hop = Context::new().run(|| {
            let hop = enter_request("r-1", TRACEPARENT);
            tracing::info_span!("request").in_scope(|| {
                tracing::info!("handling");
                tracing::info_span!("query").in_scope(|| {});
            });
            hop
        });
        tracing::info_span!("outside").in_scope(|| {});
        hop
    });
    let exported = Exported {
        exporter,
        _provider: provider,
    };

    let line: serde_json::Value = serde_json::from_str(&logs.lines()[0]).unwrap();
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");

    let request = exported.span("request");
    let query = exported.span("query");
    for span in [&request, &query] {
        assert_eq!(
            span.span_context.trace_id().to_string(),
            line["trace_id"].as_str().unwrap(),
            "{}",
            span.name
        );
        assert_eq!(attribute(span, "request_id"), Some(&Value::from("r-1")));
    }
    // The request span is a child of this hop, which continues the caller's
    // span; the query span is a child of the request span.
    assert_eq!(request.parent_span_id.to_bytes(), hop.span_id().to_bytes());
    assert_eq!(
        hop.parent_span_id().unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(request.parent_span_is_remote);
    assert_eq!(query.parent_span_id, request.span_context.span_id());

    // Outside of a request: a trace of its own, as without the layer.
    let outside = exported.span("outside");
    assert_ne!(
        outside.span_context.trace_id(),
        request.span_context.trace_id()
    );
    assert_eq!(outside.parent_span_id, SpanId::INVALID);
}

#[test]
fn an_explicit_root_starts_a_trace_of_its_own() {
    let layer = ContextOtel::new(ContextFields::new().var(&REQUEST_ID))
        .parent_context(current_otel_context);
    let (dispatch, exported) = subscriber(layer, true);

    tracing::dispatcher::with_default(&dispatch, || {
        Context::new().run(|| {
            enter_request("r-1", TRACEPARENT);
            tracing::info_span!(parent: None, "detached").in_scope(|| {});
        });
    });

    let span = exported.span("detached");
    assert_ne!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id, SpanId::INVALID);
    // Still the values of the context it was created in.
    assert_eq!(attribute(&span, "request_id"), Some(&Value::from("r-1")));
}

#[test]
fn outside_the_opentelemetry_layer_spans_get_the_attributes_but_not_the_parent() {
    let layer = ContextOtel::new(ContextFields::new().var(&REQUEST_ID))
        .parent_context(current_otel_context);
    let (dispatch, exported) = subscriber(layer, false);

    tracing::dispatcher::with_default(&dispatch, || {
        Context::new().run(|| {
            enter_request("r-1", TRACEPARENT);
            tracing::info_span!("request").in_scope(|| {});
        });
    });

    let span = exported.span("request");
    assert_eq!(attribute(&span, "request_id"), Some(&Value::from("r-1")));
    assert_ne!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[test]
fn concurrent_tasks_give_their_spans_their_own_values() {
    const REQUESTS: i64 = 64;
    let layer = ContextOtel::new(ContextFields::new().var(&REQUEST_ID))
        .parent_context(current_otel_context);
    let (dispatch, exported) = subscriber(layer, true);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let hops = runtime.block_on(contextvars_tokio::root(async {
        let mut requests = Vec::new();
        for i in 0..REQUESTS {
            let traceparent = format!("00-{:032x}-{:016x}-01", i + 1, i + 1);
            let inner = dispatch.clone();
            let request = async move {
                let hop = enter_request(&format!("r-{i}"), &traceparent);
                let subtask = async move {
                    // A span of its own in a task of the request's: no
                    // tracing parent, the request's trace all the same.
                    async { tokio::time::sleep(Duration::from_millis(1)).await }
                        .instrument(tracing::info_span!("subtask", i))
                        .await;
                };
                async {
                    tokio::task::yield_now().await;
                    async { tokio::task::yield_now().await }
                        .instrument(tracing::info_span!("query", i))
                        .await;
                    contextvars_tokio::spawn(subtask.with_subscriber(inner))
                        .await
                        .unwrap();
                }
                .instrument(tracing::info_span!("request", i))
                .await;
                (i, hop)
            };
            requests.push(contextvars_tokio::spawn(
                request.with_subscriber(dispatch.clone()),
            ));
        }
        let mut hops = Vec::new();
        for request in requests {
            hops.push(request.await.unwrap());
        }
        hops
    }));

    let spans = exported.spans();
    assert_eq!(spans.len(), 3 * REQUESTS as usize);
    for (i, hop) in hops {
        let mine: Vec<&SpanData> = spans
            .iter()
            .filter(|span| attribute(span, "i") == Some(&Value::I64(i)))
            .collect();
        assert_eq!(mine.len(), 3, "request {i}");
        for span in mine {
            assert_eq!(
                attribute(span, "request_id"),
                Some(&Value::from(format!("r-{i}"))),
                "{} of request {i}",
                span.name
            );
            assert_eq!(
                span.span_context.trace_id().to_bytes(),
                hop.trace_id().to_bytes(),
                "{} of request {i}",
                span.name
            );
        }
    }
}

#[test]
fn a_span_entered_where_another_subscriber_is_the_default_gets_its_values() {
    let layer = ContextOtel::new(ContextFields::new().var(&REQUEST_ID))
        .parent_context(current_otel_context);
    let (dispatch, exported) = subscriber(layer, true);

    let span = tracing::dispatcher::with_default(&dispatch, || {
        Context::new().run(|| {
            enter_request("r-1", TRACEPARENT);
            tracing::info_span!("moved")
        })
    });
    // Entered and closed on a thread whose default subscriber is none.
    std::thread::spawn(move || span.in_scope(|| {}))
        .join()
        .unwrap();

    let span = exported.span("moved");
    assert_eq!(attribute(&span, "request_id"), Some(&Value::from("r-1")));
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}
