//! [`ContextFormat`]: context fields in front of any text formatter's line.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::escape::write_text_value;
use crate::ContextFields;

/// Wraps any text [`FormatEvent`] (tracing-subscriber's `Full`, `Compact`,
/// `Pretty`, or your own) so that each line starts with the configured
/// context fields: `request_id=abc user=ada ` then the inner formatter's
/// output.
///
/// # Output
///
/// Each field whose variable is set is written as `name=value`, in
/// configuration order, each followed by one space; then the inner formatter
/// writes the rest of the line. With no field set, nothing is added. The
/// fields go *before* the inner output because the inner formatter ends the
/// line itself and decides on colours from the [`Writer`] it is given;
/// putting them first keeps both intact without buffering the line.
///
/// # One key per line
///
/// A context field is left out of a line whose event has a field of the
/// same name: `info!(user = "bob")` prints `user=bob` once, the event's, not
/// `user=ada … user=bob`. The event's field is what the call site chose to
/// log; the context's value is the default for lines that say nothing.
/// [`ContextJson`](crate::ContextJson) and [`ContextLog`](crate::ContextLog)
/// follow the same rule. The event's `message` is written without a key, so
/// it hides no field.
///
/// # Escaping
///
/// Values are escaped so that a line stays one line and a value cannot
/// pose as another field (log forging, CR/LF injection):
///
/// * A value is written as is when it is non-empty and contains no
///   whitespace, `"`, `=` or `\`, no control character, no U+2028/U+2029
///   line or paragraph separator and no bidirectional-text control.
/// * Otherwise it is written in double quotes, with `"` as `\"`, `\` as
///   `\\`, LF, CR and tab as `\n`, `\r` and `\t`, and other control,
///   separator and bidi characters as `\u{hex}` (Rust's notation, e.g. NUL
///   is `\u{0}`, ESC is `\u{1b}`). Spaces and other printable characters,
///   ASCII or not, stay as they are.
///
/// So `abc` prints `request_id=abc` and `abc\nuser=root` prints
/// `request_id="abc\nuser=root"`: logfmt parsers read the same value back.
/// Only the context fields are escaped by this wrapper; the inner formatter
/// handles the event's own message and fields.
///
/// # Errors
///
/// If a value's rendering fails (its `Display` returns an error), the event
/// fails to format, and tracing-subscriber reports it instead of writing a
/// partial line.
///
/// # Examples
///
/// ```
/// use contextvars::{Context, ContextVar};
/// use contextvars_tracing::{ContextFields, ContextFormat};
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
/// let format = tracing_subscriber::fmt::format().without_time().with_target(false);
/// let subscriber = tracing_subscriber::fmt()
///     .with_ansi(false)
///     .event_format(ContextFormat::new(ContextFields::new().var(&REQUEST_ID), format))
///     .with_writer(make_writer) // std::io::stdout by default
///     .finish();
///
/// tracing::subscriber::with_default(subscriber, || {
///     Context::new().run(|| {
///         REQUEST_ID.set("abc".to_string());
///         tracing::info!("handled");
///     });
///     tracing::info!("idle");
/// });
/// # let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
/// assert_eq!(out, "request_id=abc  INFO handled\n INFO idle\n");
/// ```
#[derive(Debug, Clone)]
pub struct ContextFormat<F> {
    fields: ContextFields,
    inner: F,
}

impl<F> ContextFormat<F> {
    /// Wraps `inner`, printing `fields` in front of its lines.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::{ContextFields, ContextFormat};
    ///
    /// static USER: ContextVar<String> = ContextVar::new("user");
    ///
    /// let format = ContextFormat::new(
    ///     ContextFields::new().var(&USER),
    ///     tracing_subscriber::fmt::format().compact(),
    /// );
    /// let _subscriber = tracing_subscriber::fmt().event_format(format).finish();
    /// ```
    pub fn new(fields: ContextFields, inner: F) -> Self {
        ContextFormat { fields, inner }
    }

    /// The configured fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextFormat};
    ///
    /// let format = ContextFormat::new(ContextFields::new(), tracing_subscriber::fmt::format());
    /// assert!(format.fields().is_empty());
    /// ```
    pub fn fields(&self) -> &ContextFields {
        &self.fields
    }

    /// The wrapped formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextFormat};
    ///
    /// let format = ContextFormat::new(ContextFields::new(), 42);
    /// assert_eq!(*format.inner(), 42);
    /// ```
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The wrapped formatter, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextFormat};
    ///
    /// let mut format = ContextFormat::new(ContextFields::new(), 1);
    /// *format.inner_mut() += 1;
    /// assert_eq!(format.into_inner(), 2);
    /// ```
    pub fn inner_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// Unwraps the inner formatter.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextFormat};
    ///
    /// let format = ContextFormat::new(ContextFields::new(), "inner");
    /// assert_eq!(format.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<S, N, F> FormatEvent<S, N> for ContextFormat<F>
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
        let hidden = self.fields.hidden_by_event(event, false);
        self.fields.try_for_each(
            |index| hidden.contains(index),
            |_, name, value| {
                writer.write_str(name)?;
                writer.write_char('=')?;
                write_text_value(&mut writer, value.display)?;
                writer.write_char(' ')
            },
        )?;
        self.inner.format_event(ctx, writer, event)
    }
}
