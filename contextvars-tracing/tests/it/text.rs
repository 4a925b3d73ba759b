//! `ContextFormat` around the text formatters: exact lines.

use std::fmt;

use contextvars::{Context, ContextVar};
use contextvars_tracing::ContextFields;
use tracing::dispatcher::with_default;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::common::{full, text, text_with};

static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
static USER: ContextVar<&'static str> = ContextVar::new("user");
static ATTEMPT: ContextVar<u32> = ContextVar::with_default("attempt", || 1);

#[derive(Debug)]
struct TraceContext {
    trace_id: u128,
    sampled: bool,
}

static TRACE: ContextVar<TraceContext> = ContextVar::new("trace");

#[derive(Debug)]
enum Tier {
    Gold,
}

static TIER: ContextVar<Tier> = ContextVar::new("tier");

fn request_and_user() -> ContextFields {
    ContextFields::new().var(&REQUEST_ID).var(&USER)
}

#[test]
fn full_format_lines_start_with_the_fields() {
    let (dispatch, out) = text(request_and_user());
    Context::new().run(|| {
        REQUEST_ID.set("abc".to_string());
        USER.set("ada");
        with_default(&dispatch, || tracing::info!(target: "app", n = 1, "hello"));
    });
    assert_eq!(
        out.lines(),
        ["request_id=abc user=ada  INFO app: hello n=1"]
    );
}

#[test]
fn compact_format() {
    let (dispatch, out) = text_with(request_and_user(), full().compact());
    Context::new().run(|| {
        REQUEST_ID.set("abc".to_string());
        with_default(&dispatch, || tracing::warn!(target: "app", n = 1, "hello"));
    });
    assert_eq!(out.lines(), ["request_id=abc  WARN app: hello n=1"]);
}

#[test]
fn pretty_format_gets_the_fields_on_its_first_line() {
    let (dispatch, out) = text_with(request_and_user(), full().pretty());
    Context::new().run(|| {
        REQUEST_ID.set("abc".to_string());
        with_default(&dispatch, || tracing::info!(target: "app", "hello"));
    });
    let lines = out.lines();
    assert!(lines.len() > 1, "{lines:?}");
    assert_eq!(lines[0], "request_id=abc    INFO app: hello");
    assert!(lines[1..].iter().all(|line| !line.contains("request_id")));
}

/// A formatter of our own: `LEVEL message`.
struct Minimal;

impl<S, N> FormatEvent<S, N> for Minimal
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        write!(writer, "{} ", event.metadata().level())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[test]
fn custom_formatter() {
    let (dispatch, out) = text_with(request_and_user(), Minimal);
    Context::new().run(|| {
        USER.set("ada");
        with_default(&dispatch, || tracing::error!("boom"));
    });
    assert_eq!(out.lines(), ["user=ada ERROR boom"]);
}

#[test]
fn each_context_prints_its_own_values() {
    let (dispatch, out) = text(request_and_user());
    with_default(&dispatch, || {
        Context::new().run(|| {
            for (id, user) in [("r1", "ada"), ("r2", "grace")] {
                Context::new().run(|| {
                    REQUEST_ID.set(id.to_string());
                    USER.set(user);
                    tracing::info!(target: "app", "handled");
                });
            }
            tracing::info!(target: "app", "between requests");
        });
    });
    assert_eq!(
        out.lines(),
        [
            "request_id=r1 user=ada  INFO app: handled",
            "request_id=r2 user=grace  INFO app: handled",
            " INFO app: between requests",
        ]
    );
}

#[test]
fn unset_variables_are_omitted() {
    let (dispatch, out) = text(request_and_user());
    with_default(&dispatch, || {
        Context::new().run(|| {
            tracing::info!(target: "app", "nothing set");
            USER.set("ada");
            tracing::info!(target: "app", "only the user");
            let token = REQUEST_ID.set("abc".into());
            tracing::info!(target: "app", "both");
            REQUEST_ID.reset(&token).unwrap();
            tracing::info!(target: "app", "request id reset");
        });
    });
    assert_eq!(
        out.lines(),
        [
            " INFO app: nothing set",
            "user=ada  INFO app: only the user",
            "request_id=abc user=ada  INFO app: both",
            "user=ada  INFO app: request id reset",
        ]
    );
}

#[test]
fn values_are_read_when_each_event_is_formatted() {
    let (dispatch, out) = text(request_and_user());
    with_default(&dispatch, || {
        Context::new().run(|| {
            for id in ["one", "two"] {
                REQUEST_ID.set(id.to_string());
                tracing::info!(target: "app", "tick");
            }
            REQUEST_ID.scope(
                "scoped".to_string(),
                || tracing::info!(target: "app", "tick"),
            );
            tracing::info!(target: "app", "tick");
        });
    });
    assert_eq!(
        out.lines(),
        [
            "request_id=one  INFO app: tick",
            "request_id=two  INFO app: tick",
            "request_id=scoped  INFO app: tick",
            "request_id=two  INFO app: tick",
        ]
    );
}

#[test]
fn defaults_are_printed_for_unset_variables() {
    let (dispatch, out) = text(ContextFields::new().var(&ATTEMPT));
    with_default(&dispatch, || {
        Context::new().run(|| {
            tracing::info!(target: "app", "first");
            ATTEMPT.set(2);
            tracing::info!(target: "app", "second");
        });
    });
    assert_eq!(
        out.lines(),
        ["attempt=1  INFO app: first", "attempt=2  INFO app: second"]
    );
}

#[test]
fn projections_debug_and_display_rendering() {
    let fields = ContextFields::new()
        .field("trace_id", &TRACE, |t, f| write!(f, "{:032x}", t.trace_id))
        .field("sampled", &TRACE, |t, f| fmt::Display::fmt(&t.sampled, f))
        .var_debug(&TIER)
        .var(&REQUEST_ID)
        .field("request_id_debug", &REQUEST_ID, |v, f| {
            fmt::Debug::fmt(v, f)
        });
    let (dispatch, out) = text(fields);
    Context::new().run(|| {
        TRACE.set(TraceContext {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            sampled: true,
        });
        TIER.set(Tier::Gold);
        REQUEST_ID.set("abc".into());
        with_default(&dispatch, || tracing::info!(target: "app", "hi"));
    });
    assert_eq!(
        out.lines(),
        [
            // `var` prints strings with Display: no quotes. Debug quotes are
            // part of the value, so text output quotes and escapes them.
            r#"trace_id=4bf92f3577b34da6a3ce929d0e0e4736 sampled=true tier=Gold request_id=abc request_id_debug="\"abc\""  INFO app: hi"#
        ]
    );
}

#[test]
fn ansi_colours_of_the_inner_formatter_are_kept() {
    let capture = crate::common::Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(true)
        .event_format(contextvars_tracing::ContextFormat::new(
            request_and_user(),
            full(),
        ))
        .with_writer(capture.clone())
        .finish();
    Context::new().run(|| {
        USER.set("ada");
        tracing::subscriber::with_default(subscriber, || tracing::info!(target: "app", "hi"));
    });
    let line = capture.text();
    assert!(line.starts_with("user=ada "), "{line:?}");
    assert!(line["user=ada ".len()..].contains("\u{1b}["), "{line:?}");
}

#[test]
fn a_failing_value_fails_the_event_instead_of_writing_half_a_line() {
    let fields = ContextFields::new()
        .var(&USER)
        .field("broken", &REQUEST_ID, |_, _| Err(fmt::Error));
    let (dispatch, out) = text(fields);
    Context::new().run(|| {
        USER.set("ada");
        with_default(&dispatch, || tracing::info!(target: "app", "before"));
        REQUEST_ID.set("x".into());
        with_default(&dispatch, || tracing::info!(target: "app", "during"));
    });
    let lines = out.lines();
    assert_eq!(lines[0], "user=ada  INFO app: before");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("Unable to format the following event"),
        "{lines:?}"
    );
}

#[test]
#[should_panic(expected = "invalid context field name")]
fn names_with_spaces_are_rejected() {
    let _ = ContextFields::new().field("request id", &REQUEST_ID, |v, f| f.write_str(v));
}

#[test]
#[should_panic(expected = "is used twice")]
fn duplicate_names_are_rejected() {
    let _ = ContextFields::new()
        .var(&REQUEST_ID)
        .field("request_id", &USER, |v, f| f.write_str(v));
}

#[test]
fn empty_configuration_changes_nothing() {
    let (dispatch, out) = text(ContextFields::new());
    Context::new().run(|| {
        REQUEST_ID.set("abc".into());
        with_default(&dispatch, || tracing::info!(target: "app", "hi"));
    });
    assert_eq!(out.lines(), [" INFO app: hi"]);
}
