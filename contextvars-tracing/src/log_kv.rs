//! [`ContextLog`]: a `log::Log` decorator adding context fields as
//! key-values.

use std::cell::RefCell;
use std::fmt::Write;

use log::kv::{self, Key, Source, Value, VisitSource};
use log::{Log, Metadata, Record};

use crate::escape::write_text_value;
use crate::ContextFields;

/// A [`log::Log`] that forwards every record to an inner logger with the
/// configured context fields added to its key-values
/// ([`log::kv`]), so that `env_logger`, JSON loggers and any other `log`
/// backend that prints key-values show them.
///
/// Python: a `logging.Filter` (or record factory) that sets
/// `record.request_id` before the handler formats it.
///
/// # Key-values
///
/// The forwarded record carries the record's own key-values first, then one
/// string value per context field whose variable is set, in configuration
/// order; unset variables are omitted. A context field is left out of a
/// record that already has a key of the same name: each key appears once,
/// and it is the record's own (`log::info!(user = "bob"; …)` is logged with
/// `user=bob`), the rule of [`ContextFormat`](crate::ContextFormat) and
/// [`ContextJson`](crate::ContextJson).
///
/// Values are rendered to text (as [`ContextFields`] describes) when the
/// record is logged, into a buffer that each thread reuses, and handed to
/// the backend as `&str` values. They are *not* escaped by default:
/// structured backends (JSON) escape them themselves. For backends that
/// print key-values raw on a line, [`escape_values`](ContextLog::escape_values)
/// applies the text escaping of [`ContextFormat`](crate::ContextFormat).
///
/// A field whose rendering fails (its `Display` returns an error) is left
/// out of that record.
///
/// # Filtering
///
/// [`enabled`](Log::enabled) and [`flush`](Log::flush) are the inner
/// logger's. [`log`](Log::log) renders the fields only for records the inner
/// logger is [`enabled`](Log::enabled) for, and forwards nothing else.
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use contextvars::{Context, ContextVar};
/// use contextvars_tracing::{ContextFields, ContextLog};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// /// Prints `message key=value…`, like env_logger's key-value output.
/// struct Lines(Mutex<Vec<String>>);
///
/// impl log::Log for Lines {
///     fn enabled(&self, _: &log::Metadata<'_>) -> bool {
///         true
///     }
///     fn log(&self, record: &log::Record<'_>) {
///         struct Kvs<'a>(&'a mut String);
///         impl<'kvs> log::kv::VisitSource<'kvs> for Kvs<'_> {
///             fn visit_pair(&mut self, k: log::kv::Key<'kvs>, v: log::kv::Value<'kvs>) -> Result<(), log::kv::Error> {
///                 self.0.push_str(&format!(" {k}={v}"));
///                 Ok(())
///             }
///         }
///         let mut line = record.args().to_string();
///         record.key_values().visit(&mut Kvs(&mut line)).unwrap();
///         self.0.lock().unwrap().push(line);
///     }
///     fn flush(&self) {}
/// }
///
/// static LOGGER: std::sync::LazyLock<ContextLog<Lines>> = std::sync::LazyLock::new(|| {
///     ContextLog::new(ContextFields::new().var(&REQUEST_ID), Lines(Mutex::new(Vec::new())))
/// });
///
/// log::set_logger(&*LOGGER).unwrap();
/// log::set_max_level(log::LevelFilter::Info);
///
/// Context::new().run(|| {
///     REQUEST_ID.set("abc".to_string());
///     log::info!(attempt = 2; "handled");
/// });
/// log::info!("idle");
///
/// assert_eq!(
///     *LOGGER.inner().0.lock().unwrap(),
///     ["handled attempt=2 request_id=abc", "idle"]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct ContextLog<L> {
    fields: ContextFields,
    inner: L,
    escape: bool,
}

impl<L> ContextLog<L> {
    /// Wraps `inner`, adding `fields` to the key-values of its records.
    ///
    /// Install the result with [`log::set_boxed_logger`] (or
    /// [`log::set_logger`]) in place of `inner`, and set
    /// [`log::set_max_level`] as `inner`'s documentation says.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// struct Quiet;
    /// impl log::Log for Quiet {
    ///     fn enabled(&self, _: &log::Metadata<'_>) -> bool { false }
    ///     fn log(&self, _: &log::Record<'_>) {}
    ///     fn flush(&self) {}
    /// }
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    ///
    /// let logger = ContextLog::new(ContextFields::new().var(&REQUEST_ID), Quiet);
    /// log::set_boxed_logger(Box::new(logger)).unwrap();
    /// log::set_max_level(log::LevelFilter::Warn);
    /// ```
    pub fn new(fields: ContextFields, inner: L) -> Self {
        ContextLog {
            fields,
            inner,
            escape: false,
        }
    }

    /// Whether to escape values as text output does (see
    /// [`ContextFormat`](crate::ContextFormat)): quoted when they contain
    /// whitespace or special characters, with CR, LF and other controls
    /// escaped. Off by default. Turn it on for backends that print
    /// key-values on a line without escaping them, so that a value cannot
    /// break or forge a line.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// struct Quiet;
    /// impl log::Log for Quiet {
    ///     fn enabled(&self, _: &log::Metadata<'_>) -> bool { false }
    ///     fn log(&self, _: &log::Record<'_>) {}
    ///     fn flush(&self) {}
    /// }
    ///
    /// let logger = ContextLog::new(ContextFields::new(), Quiet).escape_values(true);
    /// assert!(logger.escapes_values());
    /// ```
    pub fn escape_values(mut self, escape: bool) -> Self {
        self.escape = escape;
        self
    }

    /// Whether values are escaped (see
    /// [`escape_values`](ContextLog::escape_values)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// assert!(!ContextLog::new(ContextFields::new(), ()).escapes_values());
    /// ```
    pub fn escapes_values(&self) -> bool {
        self.escape
    }

    /// The configured fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// assert!(ContextLog::new(ContextFields::new(), ()).fields().is_empty());
    /// ```
    pub fn fields(&self) -> &ContextFields {
        &self.fields
    }

    /// The wrapped logger.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// assert_eq!(*ContextLog::new(ContextFields::new(), 7).inner(), 7);
    /// ```
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Unwraps the inner logger.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::{ContextFields, ContextLog};
    ///
    /// assert_eq!(ContextLog::new(ContextFields::new(), 7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> L {
        self.inner
    }

    /// Renders into `scratch` the set fields that `own`, the record's
    /// key-values, has no key for.
    fn render(&self, own: &dyn Source, scratch: &mut Scratch) {
        let Scratch { text, spans } = scratch;
        let hidden = |index| own.get(Key::from_str(self.fields.name(index))).is_some();
        self.fields.for_each_lenient(hidden, |index, value| {
            let start = text.len();
            let result = if self.escape {
                write_text_value(text, value.display)
            } else {
                write!(text, "{}", value.display)
            };
            match result {
                Ok(()) => spans.push((index, start, text.len())),
                Err(err) => {
                    text.truncate(start);
                    return Err(err);
                }
            }
            Ok(())
        });
    }
}

impl<L: Log> Log for ContextLog<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        if self.fields.is_empty() {
            self.inner.log(record);
            return;
        }
        with_scratch(|scratch| {
            self.render(record.key_values(), scratch);
            let kvs = Chain {
                own: record.key_values(),
                context: ContextKvs {
                    fields: &self.fields,
                    text: &scratch.text,
                    spans: &scratch.spans,
                },
            };
            self.inner
                .log(&record.to_builder().key_values(&kvs).build());
        });
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Rendered context values: `text` holds them back to back, `spans` says
/// which field each `(index, start, end)` slice belongs to.
#[derive(Default)]
struct Scratch {
    text: String,
    spans: Vec<(usize, usize, usize)>,
}

/// Buffers above this capacity are not kept for the next record.
const KEEP_CAPACITY: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { text: String::new(), spans: Vec::new() })
    };
}

/// Calls `f` with the thread's reusable scratch buffer, emptied; with a new
/// one if that buffer is in use (a logger that logs while logging) or gone
/// (thread shutdown).
fn with_scratch(f: impl FnOnce(&mut Scratch)) {
    let mut f = Some(f);
    let _ = SCRATCH.try_with(|cell| {
        if let Ok(mut scratch) = cell.try_borrow_mut() {
            let f = f.take().expect("called once");
            f(&mut scratch);
            scratch.text.clear();
            scratch.spans.clear();
            if scratch.text.capacity() > KEEP_CAPACITY {
                scratch.text = String::new();
            }
            if scratch.spans.capacity() > KEEP_CAPACITY {
                scratch.spans = Vec::new();
            }
        }
    });
    if let Some(f) = f {
        f(&mut Scratch::default());
    }
}

/// The record's own key-values, then the context's.
struct Chain<'a> {
    own: &'a dyn Source,
    context: ContextKvs<'a>,
}

impl Source for Chain<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        self.own.visit(visitor)?;
        self.context.visit(visitor)
    }

    fn get(&self, key: Key<'_>) -> Option<Value<'_>> {
        self.own.get(key.clone()).or_else(|| self.context.get(key))
    }

    fn count(&self) -> usize {
        self.own.count() + self.context.count()
    }
}

/// The rendered context fields as key-values.
struct ContextKvs<'a> {
    fields: &'a ContextFields,
    text: &'a str,
    spans: &'a [(usize, usize, usize)],
}

impl Source for ContextKvs<'_> {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn VisitSource<'kvs>) -> Result<(), kv::Error> {
        for &(index, start, end) in self.spans {
            visitor.visit_pair(
                Key::from_str(self.fields.name(index)),
                Value::from(&self.text[start..end]),
            )?;
        }
        Ok(())
    }

    fn get(&self, key: Key<'_>) -> Option<Value<'_>> {
        self.spans
            .iter()
            .find(|&&(index, _, _)| self.fields.name(index) == key.as_str())
            .map(|&(_, start, end)| Value::from(&self.text[start..end]))
    }

    fn count(&self) -> usize {
        self.spans.len()
    }
}
