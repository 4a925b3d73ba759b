//! The request context through a message queue: Kafka-style records whose
//! headers are `Vec<(String, Vec<u8>)>`, written with
//! `PropagateLayer::inject_into` and read with `RequestContextLayer::extract`
//! (the `carrier` module), checked against the HTTP layer reading the same
//! fields as headers.

use std::convert::Infallible;
use std::time::Duration;

use contextvars::{Context, ContextVar, FutureExt};
use contextvars_tower::carrier::{Extractor, Injector};
use contextvars_tower::w3c::Baggage;
use contextvars_tower::{
    PropagateLayer, RequestContextLayer, RequestId, TraceContext, BAGGAGE, REQUEST_ID, TRACE,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tower::{service_fn, Layer, ServiceExt};

/// A record as a Kafka client hands it over: headers are names and bytes,
/// in order, names possibly repeated.
#[derive(Clone, Debug, Default)]
struct Record {
    headers: Vec<(String, Vec<u8>)>,
    payload: u32,
}

impl Extractor for Record {
    fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
    }
}

impl Injector for Record {
    fn set(&mut self, name: &str, value: String) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into_bytes()));
    }

    fn contains(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Set by the consumer's handler, to check that sets stay in their record.
static SCRATCH: ContextVar<u32> = ContextVar::new("scratch");

/// What a handler saw.
#[derive(Debug)]
struct Seen {
    payload: u32,
    request_id: String,
    trace: TraceContext,
    tenant: Option<String>,
    secret: Option<String>,
    scratch: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_carry_each_producers_context_to_its_handler() {
    const RECORDS: u32 = 300;
    let producer = PropagateLayer::new().forward_baggage(["tenant"]);
    let consumer = RequestContextLayer::new();
    let (topic, mut partition) = mpsc::unbounded_channel::<Record>();

    // Producers: each in the context of a request of its own.
    let mut producers = Vec::new();
    for i in 0..RECORDS {
        let (producer, topic) = (producer.clone(), topic.clone());
        let mut ctx = Context::new();
        ctx.bind(&REQUEST_ID, RequestId::new(&format!("req-{i}")).unwrap());
        ctx.bind(&TRACE, TraceContext::new_root());
        ctx.bind(
            &BAGGAGE,
            format!("tenant=t{i},secret=s{i}")
                .parse::<Baggage>()
                .unwrap(),
        );
        producers.push(tokio::spawn(
            async move {
                tokio::task::yield_now().await;
                let mut record = Record {
                    headers: vec![("content-type".into(), b"application/json".to_vec())],
                    payload: i,
                };
                let sent = producer.inject_into(&mut record);
                assert_eq!(sent.trace_id(), TRACE.get().trace_id());
                assert_eq!(sent.parent_span_id(), Some(TRACE.get().span_id()));
                topic.send(record).unwrap();
                (i, sent)
            }
            .with_context(ctx),
        ));
    }
    drop(topic);
    let mut sent = vec![None; RECORDS as usize];
    for producer in producers {
        let (i, trace) = producer.await.unwrap();
        sent[i as usize] = Some(trace);
    }

    // The consumer: every record handled concurrently, in a context of its
    // own, made from its headers.
    let mut handlers = Vec::new();
    while let Some(record) = partition.recv().await {
        let ctx = consumer.extract(&record);
        handlers.push(tokio::spawn(
            async move {
                SCRATCH.set(record.payload);
                tokio::time::sleep(Duration::from_millis(u64::from(record.payload % 7))).await;
                tokio::task::yield_now().await;
                Seen {
                    payload: record.payload,
                    request_id: REQUEST_ID.get().to_string(),
                    trace: TRACE.get(),
                    tenant: BAGGAGE.get().get("tenant").map(String::from),
                    secret: BAGGAGE.get().get("secret").map(String::from),
                    scratch: SCRATCH.get(),
                }
            }
            .with_context(ctx),
        ));
    }
    assert_eq!(handlers.len(), RECORDS as usize);
    for handler in handlers {
        let seen = handler.await.unwrap();
        let i = seen.payload;
        let sent = sent[i as usize].as_ref().unwrap();
        assert_eq!(seen.request_id, format!("req-{i}"));
        assert_eq!(seen.trace.trace_id(), sent.trace_id());
        assert_eq!(seen.trace.parent_span_id(), Some(sent.span_id()));
        assert_ne!(seen.trace.span_id(), sent.span_id());
        assert_eq!(seen.tenant, Some(format!("t{i}")));
        assert_eq!(seen.secret, None, "not allow-listed");
        assert_eq!(seen.scratch, i);
    }
}

#[test]
fn injection_leaves_fields_the_record_has() {
    let mut record = Record {
        headers: vec![("X-Request-Id".into(), b"chosen".to_vec())],
        payload: 0,
    };
    Context::new().run(|| {
        REQUEST_ID.set(RequestId::new("current").unwrap());
        PropagateLayer::new().inject_into(&mut record);
    });
    assert_eq!(record.get("x-request-id"), Some("chosen"));
    assert_eq!(
        record
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-request-id"))
            .count(),
        1
    );
    assert!(record.get("traceparent").is_some());
}

/// The values a context holds, comparable across two reads of the same
/// fields. A request id or trace made up on the spot (none received) is
/// new at every read: only its shape is kept.
#[derive(Debug, PartialEq)]
struct Values {
    request_id: String,
    trace_id: Option<String>,
    parent: Option<String>,
    flags: u8,
    trace_state: String,
    baggage: String,
}

fn current_values() -> Values {
    let trace = TRACE.get();
    let continued = trace.parent_span_id().is_some();
    let request_id = REQUEST_ID.get().to_string();
    Values {
        // A new UUIDv7 request id (36 characters, dashes at fixed places)
        // differs from read to read.
        request_id: if request_id.len() == 36 && request_id.as_bytes()[14] == b'7' {
            "<new>".to_owned()
        } else {
            request_id
        },
        trace_id: continued.then(|| trace.trace_id().to_string()),
        parent: trace.parent_span_id().map(|id| id.to_string()),
        flags: trace.flags().bits(),
        trace_state: trace.trace_state().to_string(),
        baggage: BAGGAGE.get().to_string(),
    }
}

async fn via_http(fields: &[(&str, &[u8])], layer: &RequestContextLayer) -> Option<Values> {
    let mut headers = HeaderMap::new();
    for (name, value) in fields {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        headers.append(name, HeaderValue::from_bytes(value).ok()?);
    }
    let mut request = http::Request::new(());
    *request.headers_mut() = headers;
    let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
        Ok::<_, Infallible>(http::Response::new(current_values()))
    }));
    Some(svc.oneshot(request).await.unwrap().into_body())
}

fn via_record(fields: &[(&str, &[u8])], layer: &RequestContextLayer) -> Values {
    let record = Record {
        headers: fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_vec()))
            .collect(),
        payload: 0,
    };
    layer.extract(&record).run(current_values)
}

const TP: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn a_record_reads_as_the_same_fields_in_http_headers() {
    let long_value = vec![b'a'; 70_000];
    let many_baggage: String = (0..100).map(|i| format!("k{i}=v,")).collect();
    let cases: Vec<Vec<(&str, &[u8])>> = vec![
        vec![],
        vec![("traceparent", TP)],
        vec![("traceparent", TP), ("x-request-id", b"req-1")],
        vec![("Traceparent", TP), ("X-Request-ID", b"req-1")],
        vec![(
            "traceparent",
            b" \t00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03\t",
        )],
        vec![(
            "traceparent",
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
        )],
        vec![("traceparent", b"garbage"), ("tracestate", b"a=1")],
        vec![("traceparent", TP), ("traceparent", TP)],
        vec![("x-request-id", b"a b")],
        vec![
            ("x-request-id", b"a"),
            ("x-request-id", b"b"),
            ("traceparent", TP),
        ],
        vec![("x-request-id", &[b'r'; 129])],
        vec![("x-request-id", b"caf\xc3\xa9"), ("traceparent", TP)],
        vec![
            ("traceparent", TP),
            ("tracestate", b"foo@=1,foo@@bar=2"),
            ("tracestate", b""),
            ("TraceState", b"foo@=3,rojo=4"),
        ],
        vec![("traceparent", TP), ("tracestate", b"FOO=1,bar=2")],
        vec![("traceparent", TP), ("tracestate", b"foo=\xc3\xa9")],
        vec![("baggage", b"a=1,bad value,b=%20two"), ("Baggage", b"c=3")],
        vec![("baggage", b"a=\xff"), ("baggage", b"b=2")],
        vec![("baggage", many_baggage.as_bytes())],
        // Over the 64 KiB limit: nothing read.
        vec![
            ("traceparent", TP),
            ("x-request-id", b"req-big"),
            ("x-padding", &long_value),
        ],
    ];
    let layers = [
        RequestContextLayer::new(),
        RequestContextLayer::new()
            .sample_new_traces(false)
            .request_id_header(HeaderName::from_static("x-correlation-id"))
            .max_header_bytes(200),
    ];
    for layer in &layers {
        for fields in &cases {
            let http = via_http(fields, layer).await.expect("valid HTTP fields");
            assert_eq!(via_record(fields, layer), http, "{fields:?}");
        }
    }
}

#[test]
fn fields_http_cannot_carry_are_not_read() {
    // A record may hold bytes no HTTP header can: CR, LF, NUL. Such values
    // are not read, as invalid headers are not.
    let layer = RequestContextLayer::new();
    let values = via_record(
        &[
            ("x-request-id", b"evil\r\nx-admin: 1"),
            (
                "traceparent",
                b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n",
            ),
            ("baggage", b"a=1\0"),
            ("baggage", b"b=2"),
        ],
        &layer,
    );
    assert_eq!(values.request_id, "<new>");
    assert_eq!(values.trace_id, None);
    assert_eq!(values.baggage, "b=2");
}
