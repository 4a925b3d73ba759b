//! [`ContextJson`]: context fields at the root of any JSON formatter's
//! objects.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::ops::Range;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::escape::write_json_string;
use crate::fields::JsonKind;
use crate::json_scan::{key_eq, scan_root, write_deduplicated, Member};
use crate::ContextFields;

/// Keys that tracing-subscriber's JSON formatter writes at the root of each
/// object; [`ContextJson`] refuses context fields with these names, and
/// keeps the formatter's member when a flattened event field has one of
/// them.
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
/// `with_span_list`, timers, …) keep working: the inner formatter writes its
/// object into a buffer that each thread reuses; the wrapper reads the
/// object's root keys, writes the object out with one member per key (see
/// below) and `,"name":value` for each field whose variable is set, in
/// configuration order, then closes the object.
///
/// # One key per object
///
/// Every object written has each key once, at every depth, so that strict
/// consumers (Elasticsearch, any parser that refuses repeated keys) accept
/// every line. When two members want the same key at the root:
///
/// 1. **The formatter's own keys win** (`timestamp`, `level`, `target`,
///    `span`, …: [`RESERVED_JSON_KEYS`]). A context field may not be named
///    like one ([`new`](ContextJson::new) panics). With
///    `flatten_event(true)`, tracing-subscriber writes an event field named
///    like one (`info!(target = "x")`) beside its own key; the event's is
///    dropped. Event fields are told from the formatter's keys as the run of
///    root keys that are the event's field names, in order, as a
///    flattening formatter writes them.
/// 2. **The event's own fields win over context fields.** A context field
///    is left out of an object that already has its key at the root: with
///    `flatten_event(true)`, `info!(user = "bob")` writes `"user":"bob"`
///    once, not the context's `"user":"ada"` too. The event field is what
///    the call site chose to log for this line; the context's value is the
///    default for lines that say nothing. (Python's structlog merges context
///    variables the same way, and Serilog's `LogContext` adds a property
///    only if the event has none of that name.) Without flattening, the
///    event's fields are inside `"fields"`, and the context field is at the
///    root as usual.
/// 3. Elsewhere (a repeated key in a nested object, such as a span field
///    called `name` beside the span's name, or repeated event fields) the
///    **last member wins**, as lenient parsers read such an object.
///
/// [`ContextFormat`](crate::ContextFormat) and
/// [`ContextLog`](crate::ContextLog) apply the same rule 2.
///
/// # Values
///
/// A value keeps its JSON type where it has one. A variable added with
/// [`ContextFields::var`] whose type is an integer (`u8` to `u128`, `i8` to
/// `i128`, `usize`, `isize`) or `bool` is written as a JSON number or
/// boolean (`"attempt":2`, `"admin":false`); an `f32` or `f64` as a number
/// when it is finite and as `null` otherwise (JSON has no NaN or infinity);
/// [`ContextFields::field_value`] does the same with a projection's type.
/// Integers are written in full: consumers that read numbers as `f64`
/// (JavaScript) lose precision above 2<sup>53</sup>, so keep ids as strings.
///
/// Every other value is a JSON string: the field's rendering (`Display` for
/// [`ContextFields::var`], `Debug` for [`ContextFields::var_debug`], your
/// closure for [`ContextFields::field`]), escaped as RFC 8259 requires: `"`
/// and `\` are backslash-escaped, control characters below U+0020 become
/// `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`, and U+2028/U+2029 become
/// `\u2028`/`\u2029` (so that the line is also valid JavaScript). Other
/// characters, ASCII or not, are written as UTF-8. Every value thus yields
/// valid JSON on a single line.
///
/// Unset variables are omitted: no key, no `null`.
///
/// # Inner formatters
///
/// The inner formatter must write one JSON object, optionally followed by
/// a newline. Output that is not one object (text, an unterminated object,
/// nesting deeper than 128 levels) is passed through unchanged.
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
        with_scratch(|scratch| {
            self.inner
                .format_event(ctx, Writer::new(&mut scratch.line), event)?;
            self.finish(&mut writer, event, scratch)
        })
    }
}

impl<F> ContextJson<F> {
    /// Writes the inner formatter's output, in `scratch.line`, with one key
    /// per object and the context fields added at the root.
    fn finish(
        &self,
        writer: &mut dyn Write,
        event: &Event<'_>,
        scratch: &mut Scratch,
    ) -> fmt::Result {
        let Scratch {
            line,
            members,
            keys,
        } = scratch;
        let (object, tail) = match line.strip_suffix('\n') {
            Some(object) => (object, "\n"),
            None => (line.as_str(), ""),
        };
        if scan_root(object, members, keys).is_none() {
            return writer.write_str(line);
        }
        let root_has_key = |name: &str| {
            members
                .iter()
                .any(|member| key_eq(&object[member.key.clone()], name))
        };
        let keep = root_keep(object, members, event);
        let mut first;
        if keep.is_none() && !members.iter().any(|member| member.dup_inside) {
            // One key per object already: the inner output as it is.
            writer.write_str(&object[..object.len() - 1])?;
            first = members.is_empty();
        } else {
            writer.write_char('{')?;
            first = true;
            for (index, member) in members.iter().enumerate() {
                if keep.as_ref().is_some_and(|keep| !keep[index]) {
                    continue;
                }
                if !first {
                    writer.write_char(',')?;
                }
                first = false;
                if member.dup_inside {
                    write!(writer, "\"{}\":", &object[member.key.clone()])?;
                    write_deduplicated(writer, &object[member.value.clone()])?;
                } else {
                    writer.write_str(&object[member.text.clone()])?;
                }
            }
        }
        self.fields.try_for_each(
            |index| root_has_key(self.fields.name(index)),
            |_, name, value| {
                if !first {
                    writer.write_char(',')?;
                }
                first = false;
                writer.write_char('"')?;
                writer.write_str(name)?;
                writer.write_str("\":")?;
                match value.json {
                    JsonKind::String => write_json_string(writer, value.display),
                    JsonKind::Literal => write!(writer, "{}", value.display),
                    JsonKind::Null => writer.write_str("null"),
                }
            },
        )?;
        writer.write_char('}')?;
        writer.write_str(tail)
    }
}

/// Which root members to keep when a key is at the root more than once:
/// `None` if none is. Of the members of one key, the formatter's own wins
/// over the event's fields, and the last wins among the formatter's or
/// among the event's.
///
/// The event's fields are found as the run of root keys that are the names
/// of the fields the event records, in order: how a JSON formatter that
/// flattens the event (`flatten_event(true)`) writes them. If there is no
/// such run, every member counts as the formatter's.
fn root_keep(object: &str, members: &[Member], event: &Event<'_>) -> Option<Vec<bool>> {
    let key = |index: usize| &object[members[index].key.clone()];
    let repeated = (0..members.len()).any(|i| (0..i).any(|j| key_eq(key(i), key(j))));
    if !repeated {
        return None;
    }
    let mut names = EventNames(Vec::new());
    event.record(&mut names);
    let names = names.0;
    let run = (!names.is_empty() && names.len() <= members.len())
        .then(|| {
            (0..=members.len() - names.len()).find(|&start| {
                names
                    .iter()
                    .enumerate()
                    .all(|(offset, name)| key_eq(key(start + offset), name))
            })
        })
        .flatten()
        .map(|start| start..start + names.len());
    let from_event = |index: usize| run.as_ref().is_some_and(|run| run.contains(&index));
    let keep = (0..members.len())
        .map(|i| {
            !(0..members.len()).any(|j| {
                j != i
                    && key_eq(key(i), key(j))
                    && match (from_event(i), from_event(j)) {
                        (true, false) => true,
                        (false, true) => false,
                        _ => j > i,
                    }
            })
        })
        .collect();
    Some(keep)
}

/// The names of the fields an event records, in order.
struct EventNames(Vec<&'static str>);

impl Visit for EventNames {
    fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
        self.0.push(field.name());
    }
}

/// The buffers [`ContextJson`] formats a line in.
#[derive(Default)]
struct Scratch {
    line: String,
    members: Vec<Member>,
    keys: Vec<Range<usize>>,
}

/// Buffers above this capacity are not kept for the next event.
const KEEP_CAPACITY: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { line: String::new(), members: Vec::new(), keys: Vec::new() })
    };
}

/// Calls `f` with the thread's reusable scratch buffers, emptied; with new
/// ones if those are in use (an event formatted while formatting one) or
/// gone (thread shutdown).
fn with_scratch(f: impl FnOnce(&mut Scratch) -> fmt::Result) -> fmt::Result {
    let mut f = Some(f);
    let result = SCRATCH
        .try_with(|cell| {
            let mut scratch = cell.try_borrow_mut().ok()?;
            let f = f.take().expect("called once");
            scratch.line.clear();
            let result = f(&mut scratch);
            if scratch.line.capacity() > KEEP_CAPACITY {
                *scratch = Scratch::default();
            }
            Some(result)
        })
        .ok()
        .flatten();
    match (result, f) {
        (Some(result), _) => result,
        (None, Some(f)) => f(&mut Scratch::default()),
        (None, None) => unreachable!("a scratch buffer was borrowed and `f` not called"),
    }
}
