//! `ContextJson` around tracing-subscriber's JSON formatter: fields at the
//! root of every object.

use std::fmt;

use contextvars::{Context, ContextVar};
use contextvars_tracing::{ContextFields, ContextJson, RESERVED_JSON_KEYS};
use serde_json::json;
use tracing::dispatcher::with_default;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::common::{json, json_with, parse_json};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");
static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");

fn fields() -> ContextFields {
    ContextFields::new()
        .var(&REQUEST_ID)
        .var(&USER)
        .var(&ATTEMPT)
}

#[test]
fn fields_are_root_level_keys() {
    let (dispatch, out) = json(fields());
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        USER.set("ada");
        ATTEMPT.set(2);
        with_default(
            &dispatch,
            || tracing::info!(target: "app", rows = 3, "query"),
        );
    });
    let lines = out.lines();
    assert_eq!(
        lines,
        [
            r#"{"level":"INFO","fields":{"message":"query","rows":3},"target":"app","request_id":"abc","user":"ada","attempt":2}"#
        ]
    );
    let object = parse_json(&lines[0]);
    assert_eq!(object["request_id"], "abc");
    assert_eq!(object["user"], "ada");
    assert_eq!(object["attempt"], 2);
    assert_eq!(object["fields"], json!({"message": "query", "rows": 3}));
}

#[test]
fn unset_variables_are_omitted() {
    let (dispatch, out) = json(fields());
    Context::new().run(|| {
        with_default(&dispatch, || tracing::info!(target: "app", "none"));
        USER.set("ada");
        with_default(&dispatch, || tracing::info!(target: "app", "user"));
    });
    let lines = out.lines();
    assert_eq!(
        lines,
        [
            r#"{"level":"INFO","fields":{"message":"none"},"target":"app"}"#,
            r#"{"level":"INFO","fields":{"message":"user"},"target":"app","user":"ada"}"#,
        ]
    );
    for line in &lines {
        let object = parse_json(line);
        assert!(!object.contains_key("request_id"));
        assert!(!object.contains_key("attempt"));
    }
}

#[test]
fn every_json_option_keeps_working() {
    let inner = tracing_subscriber::fmt::format()
        .json()
        .without_time()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_thread_names(true)
        .with_file(true)
        .with_line_number(true);
    let (dispatch, out) = json_with(fields(), inner);
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        with_default(&dispatch, || {
            let span = tracing::info_span!("request", method = "GET");
            let _entered = span.enter();
            tracing::info!(target: "app", rows = 3, "query");
        });
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let object = parse_json(&lines[0]);
    assert_eq!(object["request_id"], "abc");
    assert_eq!(object["message"], "query");
    assert_eq!(object["rows"], 3);
    assert_eq!(object["span"], json!({"method": "GET", "name": "request"}));
    assert_eq!(
        object["spans"],
        json!([{"method": "GET", "name": "request"}])
    );
    assert!(object.contains_key("threadName"));
    assert!(object.contains_key("filename"));
    assert!(object.contains_key("line_number"));
    assert!(
        lines[0].ends_with(r#","request_id":"abc"}"#),
        "{}",
        lines[0]
    );
}

#[test]
fn each_context_gets_its_own_values() {
    let (dispatch, out) = json(fields());
    with_default(&dispatch, || {
        for id in ["r1", "r2", "r3"] {
            Context::new().run(|| {
                REQUEST_ID.set(id.to_string());
                tracing::info!(target: "app", id, "handled");
            });
        }
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 3);
    for line in &lines {
        let object = parse_json(line);
        assert_eq!(object["request_id"], object["fields"]["id"], "{line}");
    }
}

#[test]
#[should_panic(expected = "collides with a key")]
fn reserved_keys_are_rejected() {
    static LEVEL: ContextVar<String> = ContextVar::new("level");
    let _ = ContextJson::new(
        ContextFields::new().var(&LEVEL),
        tracing_subscriber::fmt::format().json(),
    );
}

#[test]
fn every_reserved_key_is_rejected() {
    static VAR: ContextVar<String> = ContextVar::new("var");
    for &key in RESERVED_JSON_KEYS {
        let fields = ContextFields::new().field(key, &VAR, |v, f| f.write_str(v));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ContextJson::new(fields, ())
        }));
        assert!(result.is_err(), "{key} was accepted");
    }
}

/// A formatter that writes `{}` and a newline.
struct EmptyObject;

impl<S, N> FormatEvent<S, N> for EmptyObject
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        _: &tracing::Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{")?;
        writer.write_str("}")?;
        writer.write_str("\n")
    }
}

#[test]
fn an_empty_object_gets_no_leading_comma() {
    let (dispatch, out) = json_with(fields(), EmptyObject);
    Context::new().run(|| {
        with_default(&dispatch, || tracing::info!("none"));
        REQUEST_ID.set("abc".into());
        USER.set("ada");
        with_default(&dispatch, || tracing::info!("two"));
    });
    assert_eq!(out.lines(), ["{}", r#"{"request_id":"abc","user":"ada"}"#]);
}

/// A formatter that writes a text line.
struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{} {{not json}} plain", event.metadata().level())
    }
}

#[test]
fn output_that_is_not_an_object_passes_through_unchanged() {
    let (dispatch, out) = json_with(fields(), PlainText);
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        with_default(&dispatch, || tracing::info!(target: "app", "plain"));
    });
    assert_eq!(out.lines(), ["INFO {not json} plain"]);
}

#[test]
fn numbers_and_booleans_keep_their_json_type() {
    static COUNT: ContextVar<i64> = ContextVar::new("count");
    static BIG: ContextVar<u128> = ContextVar::new("big");
    static RATIO: ContextVar<f64> = ContextVar::new("ratio");
    static SMALL: ContextVar<f32> = ContextVar::new("small");
    static FLAG: ContextVar<bool> = ContextVar::new("flag");
    static GRADE: ContextVar<char> = ContextVar::new("grade");
    static DIGITS: ContextVar<String> = ContextVar::new("digits");

    #[derive(Debug)]
    struct Trace {
        sampled: bool,
        depth: u8,
    }
    static TRACE: ContextVar<Trace> = ContextVar::new("trace");

    let fields = ContextFields::new()
        .var(&COUNT)
        .var(&BIG)
        .var(&RATIO)
        .var(&SMALL)
        .var(&FLAG)
        .var(&GRADE)
        .var(&DIGITS)
        .var_debug(&ATTEMPT)
        .field_value("sampled", &TRACE, |t| t.sampled)
        .field_value("depth", &TRACE, |t| t.depth)
        .field("depth_text", &TRACE, |t, f| write!(f, "{}", t.depth));
    let (dispatch, out) = json(fields);
    Context::new().run(|| {
        COUNT.set(-3);
        BIG.set(u128::MAX);
        RATIO.set(0.25);
        SMALL.set(1.5);
        FLAG.set(true);
        GRADE.set('A');
        DIGITS.set("42".into());
        ATTEMPT.set(2);
        TRACE.set(Trace {
            sampled: false,
            depth: 4,
        });
        with_default(&dispatch, || tracing::info!(target: "app", "typed"));
        RATIO.set(f64::NAN);
        SMALL.set(f32::NEG_INFINITY);
        with_default(&dispatch, || tracing::info!(target: "app", "not finite"));
    });
    let lines = out.lines();
    assert_eq!(
        lines[0],
        r#"{"level":"INFO","fields":{"message":"typed"},"target":"app","count":-3,"big":340282366920938463463374607431768211455,"ratio":0.25,"small":1.5,"flag":true,"grade":"A","digits":"42","attempt":"2","sampled":false,"depth":4,"depth_text":"4"}"#
    );
    let object = parse_json(&lines[0]);
    assert_eq!(object["count"], -3);
    assert_eq!(object["ratio"], 0.25);
    assert_eq!(object["flag"], true);
    assert_eq!(object["digits"], "42", "a String stays a string");
    assert_eq!(object["attempt"], "2", "var_debug writes strings");
    // JSON has no NaN or infinity: such floats are null.
    let object = parse_json(&lines[1]);
    assert_eq!(object["ratio"], serde_json::Value::Null);
    assert_eq!(object["small"], serde_json::Value::Null);
}
