//! One key per JSON object, and per text line: an event's own field wins
//! over a context field of the same name, the formatter's own keys win over
//! both; every line is read by a parser that refuses a repeated key.

use contextvars::{Context, ContextVar};
use contextvars_tracing::ContextFields;
use serde_json::json;
use tracing::dispatcher::with_default;

use crate::common::{field, json_with, parse_json, parse_prefix, text};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");
static MESSAGE: ContextVar<&'static str> = ContextVar::new("message");

fn fields() -> ContextFields {
    ContextFields::new().var(&REQUEST_ID).var(&USER)
}

fn flat() -> tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json, ()> {
    tracing_subscriber::fmt::format()
        .json()
        .without_time()
        .flatten_event(true)
}

#[test]
fn a_flattened_event_field_hides_the_context_field() {
    let (dispatch, out) = json_with(fields(), flat());
    Context::new().run(|| {
        REQUEST_ID.set("r-1".into());
        USER.set("ada");
        with_default(&dispatch, || {
            tracing::info!(target: "app", user = "bob", "acting as");
            tracing::info!(target: "app", "plain");
        });
    });
    let lines = out.lines();
    assert_eq!(
        lines,
        [
            r#"{"level":"INFO","message":"acting as","user":"bob","target":"app","request_id":"r-1"}"#,
            r#"{"level":"INFO","message":"plain","target":"app","request_id":"r-1","user":"ada"}"#,
        ]
    );
    for line in &lines {
        parse_json(line);
    }
}

#[test]
fn an_event_field_inside_fields_leaves_the_context_field_at_the_root() {
    let inner = tracing_subscriber::fmt::format().json().without_time();
    let (dispatch, out) = json_with(fields(), inner);
    Context::new().run(|| {
        USER.set("ada");
        with_default(
            &dispatch,
            || tracing::info!(target: "app", user = "bob", "acting as"),
        );
    });
    let object = parse_json(&out.lines()[0]);
    assert_eq!(object["user"], "ada");
    assert_eq!(object["fields"]["user"], "bob");
}

#[test]
fn a_context_field_named_message_gives_way_to_a_flattened_message() {
    let fields = ContextFields::new().var(&MESSAGE).var(&REQUEST_ID);
    let (dispatch, out) = json_with(fields.clone(), flat());
    Context::new().run(|| {
        MESSAGE.set("from the context");
        REQUEST_ID.set("r-1".into());
        with_default(&dispatch, || {
            tracing::info!(target: "app", "from the event");
            tracing::info!(target: "app", n = 1);
        });
    });
    let lines = out.lines();
    assert_eq!(parse_json(&lines[0])["message"], "from the event");
    assert_eq!(parse_json(&lines[1])["message"], "from the context");

    // Text writes the event's message without a key: no clash.
    let (dispatch, out) = text(fields);
    Context::new().run(|| {
        MESSAGE.set("ctx");
        with_default(&dispatch, || tracing::info!(target: "app", "event"));
    });
    assert_eq!(out.lines(), ["message=ctx  INFO app: event"]);
}

#[test]
fn the_formatters_own_keys_win_over_flattened_event_fields() {
    let inner = flat()
        .with_current_span(true)
        .with_span_list(true)
        .with_thread_ids(true)
        .with_thread_names(true)
        .with_file(true)
        .with_line_number(true);
    let (dispatch, out) = json_with(fields(), inner);
    Context::new().run(|| {
        REQUEST_ID.set("r-1".into());
        with_default(&dispatch, || {
            let span = tracing::info_span!("request");
            let _entered = span.enter();
            tracing::info!(
                target: "app",
                level = 3,
                target = "event-target",
                span = "s",
                spans = 2,
                threadId = "t",
                threadName = "n",
                filename = "f",
                line_number = 0,
                fields = "x",
                rows = 3,
                "clashing"
            );
        });
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 1);
    let object = parse_json(&lines[0]);
    assert_eq!(object["level"], "INFO");
    assert_eq!(object["target"], "app");
    assert_eq!(object["message"], "clashing");
    assert_eq!(object["rows"], 3);
    assert_eq!(object["fields"], "x", "not a formatter key when flattened");
    assert_eq!(object["request_id"], "r-1");
    assert_ne!(object["threadId"], "t");
    assert_ne!(object["threadName"], "n");
    assert_ne!(object["filename"], "f");
    assert_ne!(object["line_number"], 0);
    assert_eq!(object["span"], json!({"name": "request"}));
    assert_eq!(object["spans"], json!([{"name": "request"}]));
}

#[test]
fn a_span_field_named_like_the_spans_name_key_keeps_one_name() {
    let inner = tracing_subscriber::fmt::format()
        .json()
        .without_time()
        .with_current_span(true)
        .with_span_list(true);
    let (dispatch, out) = json_with(fields(), inner);
    Context::new().run(|| {
        REQUEST_ID.set("r-1".into());
        with_default(&dispatch, || {
            let span = tracing::info_span!("request", name = "field", method = "GET");
            let _entered = span.enter();
            tracing::info!(target: "app", "in span");
        });
    });
    let lines = out.lines();
    let object = parse_json(&lines[0]);
    // tracing-subscriber writes the span's fields, then its name: the last
    // member of a repeated key is kept, as lenient parsers read it.
    assert_eq!(object["span"], json!({"method": "GET", "name": "request"}));
    assert_eq!(
        object["spans"],
        json!([{"method": "GET", "name": "request"}])
    );
    assert_eq!(object["request_id"], "r-1");
}

#[test]
fn every_line_has_one_key_per_object_whatever_the_options() {
    let options = [(false, false), (true, false), (false, true), (true, true)];
    for (flatten, spans) in options {
        let inner = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(flatten)
            .with_current_span(spans)
            .with_span_list(spans)
            .with_thread_ids(true);
        let (dispatch, out) = json_with(fields(), inner);
        Context::new().run(|| {
            REQUEST_ID.set("r-1".into());
            USER.set("ada");
            with_default(&dispatch, || {
                let span = tracing::info_span!("outer", user = "span-user", name = "x");
                let _entered = span.enter();
                tracing::info!(target: "app", user = "bob", request_id = 7, "clash");
                tracing::info!(target: "app", timestamp = 1, level = "l", "reserved");
                tracing::info!(target: "app", "none");
            });
        });
        let lines = out.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            let object = parse_json(line);
            assert!(object.contains_key("timestamp"), "{line}");
            assert_eq!(object["level"], "INFO", "{line}");
        }
        let clash = parse_json(&lines[0]);
        if flatten {
            assert_eq!(clash["user"], "bob");
            assert_eq!(clash["request_id"], 7);
        } else {
            assert_eq!(clash["user"], "ada");
            assert_eq!(clash["request_id"], "r-1");
            assert_eq!(clash["fields"]["user"], "bob");
        }
        let none = parse_json(&lines[2]);
        assert_eq!(none["user"], "ada");
        assert_eq!(none["request_id"], "r-1");
    }
}

#[test]
fn a_text_event_field_hides_the_context_field() {
    let (dispatch, out) = text(fields());
    Context::new().run(|| {
        REQUEST_ID.set("r-1".into());
        USER.set("ada");
        with_default(&dispatch, || {
            tracing::info!(target: "app", user = "bob", "acting as");
            tracing::info!(target: "app", "plain");
        });
    });
    let lines = out.lines();
    assert_eq!(
        lines,
        [
            "request_id=r-1  INFO app: acting as user=\"bob\"",
            "request_id=r-1 user=ada  INFO app: plain",
        ]
    );
    assert_eq!(field(&lines[0], "user"), None);
    assert_eq!(parse_prefix(&lines[0]).0.len(), 1);
}
