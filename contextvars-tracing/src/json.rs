//! [`ContextJson`]: context fields at the root of any JSON formatter's
//! objects.

use std::fmt::{self, Write};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::escape::write_json_string;
use crate::ContextFields;

/// Keys that tracing-subscriber's JSON formatter writes at the root of each
/// object; [`ContextJson`] refuses context fields with these names.
///
/// # Examples
///
/// ```
/// use contextvars_tracing::RESERVED_JSON_KEYS;
///
/// assert!(RESERVED_JSON_KEYS.contains(&"timestamp"));
/// assert!(!RESERVED_JSON_KEYS.contains(&"request_id"));
/// ```
pub const RESERVED_JSON_KEYS: &[&str] = &[
    "timestamp",
    "level",
    "fields",
    "target",
    "filename",
    "line_number",
    "span",
    "spans",
    "threadName",
    "threadId",
];

/// Wraps a JSON [`FormatEvent`], such as tracing-subscriber's
/// `fmt::format().json()`, so that each JSON object gets the configured
/// context fields as **root-level** keys:
///
/// ```text
/// {"timestamp":"…","level":"INFO","fields":{"message":"handled"},"target":"app","request_id":"abc","user":"ada"}
/// ```
///
/// All the inner formatter's options (`flatten_event`, `with_current_span`,
/// `with_span_list`, timers, …) keep working: the wrapper lets the inner
/// formatter write its object, holds back the closing `}` (and the newline
/// after it), writes `,"name":"value"` for each field whose variable is set,
/// in configuration order, and closes the object.
///
/// # Values
///
/// Every value is a JSON string: the field's rendering (`Display` for
/// [`ContextFields::var`], `Debug` for [`ContextFields::var_debug`], your
/// closure for [`ContextFields::field`]), escaped as RFC 8259 requires: `"`
/// and `\` are backslash-escaped, control characters below U+0020 become
/// `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`, and U+2028/U+2029 become
/// `\u2028`/`\u2029` (so that the line is also valid JavaScript). Other
/// characters, ASCII or not, are written as UTF-8. Every value thus yields
/// valid JSON on a single line. A number prints as a string (`"attempt":"2"`).
///
/// Unset variables are omitted: no key, no `null`.
///
/// # Key collisions
///
/// A context field may not be named like a key the JSON formatter writes at
/// the root (see [`RESERVED_JSON_KEYS`]); [`new`](ContextJson::new) panics
/// otherwise. With `flatten_event(true)` the event's own fields are at the
/// root too: an event field with the name of a context field makes the
/// object hold the key twice (most parsers, `serde_json` included, keep the
/// last one: the context field's).
///
/// # Inner formatters
///
/// The inner formatter must write one JSON object, optionally followed by
/// a newline. If its output does not end in `}` or `}\n`, it is passed
/// through unchanged.
///
/// # Errors
///
/// As [`ContextFormat`](crate::ContextFormat): a value whose rendering fails
/// makes the event fail to format, which tracing-subscriber reports instead
/// of writing an invalid line.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, ContextVar};
/// use contextvars_tracing::{ContextFields, ContextJson};
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Buf(Arc<Mutex<Vec<u8>>>);
/// # impl std::io::Write for Buf {
/// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
/// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// # }
/// # let buf = Buf::default();
/// # let make_writer = { let buf = buf.clone(); move || buf.clone() };
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// let json = tracing_subscriber::fmt::format().json().without_time();
/// let subscriber = tracing_subscriber::fmt()
///     .json() // JSON for span fields too
///     .event_format(ContextJson::new(ContextFields::new().var(&REQUEST_ID), json))
///     .with_writer(make_writer) // std::io::stdout by default
///     .finish();
///
/// tracing::subscriber::with_default(subscriber, || {
///     Context::new().run(|| {
///         REQUEST_ID.set("a\"b".to_string());
///         tracing::info!(target: "app", "handled");
///     });
/// });
/// # let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(
///     out,
///     r#"{"level":"INFO","fields":{"message":"handled"},"target":"app","request_id":"a\"b"}"#
///         .to_owned()
///         + "\n"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ContextJson<F> {
    fields: ContextFields,
    inner: F,
}

impl<F> ContextJson<F> {
    /// Wraps `inner`, adding `fields` to the root of its JSON objects.
    ///
    /// # Panics
    ///
    /// Panics if a field is named like one of the [`RESERVED_JSON_KEYS`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    ///
    /// let json = tracing_subscriber::fmt::format().json().flatten_event(true);
    /// let format = ContextJson::new(ContextFields::new().var(&REQUEST_ID), json);
    /// let _subscriber = tracing_subscriber::fmt().json().event_format(format).finish();
    /// ```
    ///
    /// ```should_panic
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// static LEVEL: ContextVar<String> = ContextVar::new("level");
    ///
    /// // Panics: "level" is the event's level in the JSON output.
    /// ContextJson::new(ContextFields::new().var(&LEVEL), tracing_subscriber::fmt::format().json());
    /// ```
    #[track_caller]
    pub fn new(fields: ContextFields, inner: F) -> Self {
        if let Some(name) = fields
            .names()
            .find(|name| RESERVED_JSON_KEYS.contains(name))
        {
            panic!(
                "context field {name:?} collides with a key of tracing-subscriber's JSON output"
            );
        }
        ContextJson { fields, inner }
    }

    /// The configured fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// let json = ContextJson::new(ContextFields::new(), tracing_subscriber::fmt::format().json());
    /// assert!(json.fields().is_empty());
    /// ```
    pub fn fields(&self) -> &ContextFields {
        &self.fields
    }

    /// The wrapped formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// let json = ContextJson::new(ContextFields::new(), 42);
    /// assert_eq!(*json.inner(), 42);
    /// ```
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The wrapped formatter, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// let mut json = ContextJson::new(ContextFields::new(), 1);
    /// *json.inner_mut() += 1;
    /// assert_eq!(json.into_inner(), 2);
    /// ```
    pub fn inner_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// Unwraps the inner formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextJson};
    ///
    /// let json = ContextJson::new(ContextFields::new(), "inner");
    /// assert_eq!(json.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<S, N, F> FormatEvent<S, N> for ContextJson<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut tail = HoldClose::new(&mut writer);
        self.inner
            .format_event(ctx, Writer::new(&mut tail), event)?;
        if tail.held == Held::Nothing {
            return Ok(());
        }
        let mut first = tail.last_written == Some('{');
        let held = tail.held;
        self.fields.try_for_each(|name, value| {
            if !first {
                writer.write_char(',')?;
            }
            first = false;
            writer.write_char('"')?;
            writer.write_str(name)?;
            writer.write_str("\":")?;
            write_json_string(&mut writer, value)
        })?;
        writer.write_str(held.as_str())
    }
}

/// The end of the output that [`HoldClose`] has not passed on yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Nothing,
    Close,
    CloseNewline,
}

impl Held {
    fn as_str(self) -> &'static str {
        match self {
            Held::Nothing => "",
            Held::Close => "}",
            Held::CloseNewline => "}\n",
        }
    }
}

/// Passes writes on, except a trailing `}` or `}\n`, which it holds until
/// more output follows it (then it was not the end) or the writer is done.
struct HoldClose<'a, 'w> {
    out: &'a mut Writer<'w>,
    held: Held,
    last_written: Option<char>,
}

impl<'a, 'w> HoldClose<'a, 'w> {
    fn new(out: &'a mut Writer<'w>) -> Self {
        HoldClose {
            out,
            held: Held::Nothing,
            last_written: None,
        }
    }

    fn emit(&mut self, s: &str) -> fmt::Result {
        if let Some(c) = s.chars().next_back() {
            self.out.write_str(s)?;
            self.last_written = Some(c);
        }
        Ok(())
    }

    fn release(&mut self) -> fmt::Result {
        let held = std::mem::replace(&mut self.held, Held::Nothing);
        self.emit(held.as_str())
    }
}

impl Write for HoldClose<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        if s == "\n" && self.held == Held::Close {
            self.held = Held::CloseNewline;
            return Ok(());
        }
        self.release()?;
        if let Some(body) = s.strip_suffix("}\n") {
            self.emit(body)?;
            self.held = Held::CloseNewline;
        } else if let Some(body) = s.strip_suffix('}') {
            self.emit(body)?;
            self.held = Held::Close;
        } else {
            self.emit(s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> (String, Held, Option<char>) {
        let mut out = String::new();
        let mut writer = Writer::new(&mut out);
        let mut hold = HoldClose::new(&mut writer);
        for chunk in chunks {
            hold.write_str(chunk).unwrap();
        }
        let (held, last) = (hold.held, hold.last_written);
        (out, held, last)
    }

    #[test]
    fn holds_the_closing_brace_and_newline() {
        assert_eq!(
            run(&["{\"a\":1", "}", "\n"]),
            ("{\"a\":1".into(), Held::CloseNewline, Some('1'))
        );
        assert_eq!(
            run(&["{\"a\":1}\n"]),
            ("{\"a\":1".into(), Held::CloseNewline, Some('1'))
        );
        assert_eq!(run(&["{", "}"]), ("{".into(), Held::Close, Some('{')));
    }

    #[test]
    fn releases_a_brace_that_was_not_the_end() {
        assert_eq!(
            run(&["{\"a\":{\"b\":1}", ",\"c\":2", "}"]),
            ("{\"a\":{\"b\":1},\"c\":2".into(), Held::Close, Some('2'))
        );
        assert_eq!(
            run(&["{\"a\":{}", "\n", "x"]),
            ("{\"a\":{}\nx".into(), Held::Nothing, Some('x'))
        );
    }

    #[test]
    fn passes_other_output_through() {
        assert_eq!(
            run(&["plain text\n"]),
            ("plain text\n".into(), Held::Nothing, Some('\n'))
        );
    }
}
