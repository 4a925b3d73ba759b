//! [`ContextFields`]: which variables every log line carries, and how.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use contextvars::ContextVar;
use tracing::field::{Field as TracingField, Visit};
use tracing::Event;

/// The list of context variables that every log line carries: the
/// configuration shared by [`ContextFormat`](crate::ContextFormat),
/// [`ContextJson`](crate::ContextJson) and [`ContextLog`](crate::ContextLog).
///
/// Build it once, at startup or in a `static`
/// ([`LazyLock`](std::sync::LazyLock)), with one call per field; fields are
/// written in the order they were added.
///
/// * [`var`](ContextFields::var) prints a variable under its own
///   [name](ContextVar::name), with [`Display`](fmt::Display): strings print
///   without quotes; integers, floats and `bool` stay JSON numbers and
///   booleans in [`ContextJson`](crate::ContextJson).
/// * [`var_debug`](ContextFields::var_debug) prints it with
///   [`Debug`](fmt::Debug), for types that have no `Display`.
/// * [`field`](ContextFields::field) prints a *projection* of a variable under
///   a name of your choice, rendered by a closure: a trace id taken out of a
///   trace-context struct, a user id out of a session.
/// * [`field_value`](ContextFields::field_value) prints a projection that
///   keeps its JSON type: a number or a flag out of a struct.
///
/// # When values are read
///
/// Each field reads its variable with
/// [`ContextVar::try_with`] at the moment an event or record is
/// formatted, in the context current on the thread that formats it (for
/// `tracing_subscriber::fmt` and for `log`, the thread that emitted the
/// event). Nothing is cloned: the value is borrowed and formatted straight
/// into the output.
///
/// A variable with no value and no default is **omitted** from the line:
/// no `request_id=-` placeholder, no `null`. A variable with a default and no
/// value prints its default, as Python's `var.get()` returns it.
///
/// # Field names
///
/// Names are restricted to ASCII letters, digits, `_`, `-` and `.`, so that
/// they never need escaping in text or JSON output. Each name can be used
/// once per configuration.
///
/// # Examples
///
/// ```
/// use std::sync::LazyLock;
/// use contextvars::ContextVar;
/// use contextvars_tracing::ContextFields;
///
/// #[derive(Debug)]
/// struct TraceContext {
///     trace_id: u128,
///     span_id: u64,
/// }
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
/// static USER: ContextVar<&str> = ContextVar::new("user");
/// static TRACE: ContextVar<TraceContext> = ContextVar::new("trace");
///
/// static FIELDS: LazyLock<ContextFields> = LazyLock::new(|| {
///     ContextFields::new()
///         .var(&REQUEST_ID)
///         .var(&USER)
///         .field("trace_id", &TRACE, |t, f| write!(f, "{:032x}", t.trace_id))
///         .field("span_id", &TRACE, |t, f| write!(f, "{:016x}", t.span_id))
/// });
///
/// REQUEST_ID.set("req-1".to_string());
/// TRACE.set(TraceContext { trace_id: 0xabc, span_id: 1 });
///
/// let mut line = Vec::new();
/// FIELDS.for_each(|name, value| line.push(format!("{name}={value}")));
/// // USER is not set: it is left out.
/// assert_eq!(
///     line,
///     [
///         "request_id=req-1",
///         "trace_id=00000000000000000000000000000abc",
///         "span_id=0000000000000001",
///     ]
/// );
/// ```
#[derive(Clone, Default)]
pub struct ContextFields {
    fields: Vec<Arc<Field>>,
}

/// One configured field.
struct Field {
    name: Cow<'static, str>,
    source: Box<dyn Render>,
}

/// A variable and the way to render it, with the type erased.
trait Render: Send + Sync {
    /// Calls `out` with the rendering of the variable's current value, or
    /// returns `None` if the variable has neither a value nor a default.
    fn render(&self, out: &mut dyn FnMut(Value<'_>) -> fmt::Result) -> Option<fmt::Result>;
}

/// How a value is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    /// A JSON string: the rendering, escaped and quoted.
    String,
    /// The rendering as it is: a JSON number or `true`/`false`.
    Literal,
    /// `null`: a float that is not finite (JSON has no NaN or infinity).
    Null,
}

/// A rendered value and the JSON type it keeps.
#[derive(Clone, Copy)]
pub(crate) struct Value<'a> {
    pub(crate) display: &'a dyn fmt::Display,
    pub(crate) json: JsonKind,
}

/// The JSON type a variable's values keep, chosen by its Rust type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any other type: a string.
    Text,
    /// Integers and `bool`: `Display` writes a valid JSON literal.
    Literal,
    /// `f32` and `f64`: a number when finite, `null` otherwise.
    Float,
}

impl Kind {
    /// The kind of values of type `T`.
    fn of<T: 'static>() -> Kind {
        let id = TypeId::of::<T>();
        let literals = [
            TypeId::of::<bool>(),
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<u128>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<i128>(),
            TypeId::of::<isize>(),
        ];
        if literals.contains(&id) {
            Kind::Literal
        } else if id == TypeId::of::<f64>() || id == TypeId::of::<f32>() {
            Kind::Float
        } else {
            Kind::Text
        }
    }

    /// How `value` (of the type this kind was made for) is written in JSON.
    fn json(self, value: &dyn Any) -> JsonKind {
        match self {
            Kind::Text => JsonKind::String,
            Kind::Literal => JsonKind::Literal,
            Kind::Float => {
                let finite = match value.downcast_ref::<f64>() {
                    Some(v) => v.is_finite(),
                    None => value.downcast_ref::<f32>().is_some_and(|v| v.is_finite()),
                };
                if finite {
                    JsonKind::Literal
                } else {
                    JsonKind::Null
                }
            }
        }
    }
}

struct VarRender<T: 'static, F> {
    var: &'static ContextVar<T>,
    render: F,
    kind: Kind,
}

impl<T, F> Render for VarRender<T, F>
where
    T: Send + Sync + fmt::Debug + 'static,
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
{
    fn render(&self, out: &mut dyn FnMut(Value<'_>) -> fmt::Result) -> Option<fmt::Result> {
        self.var
            .try_with(|value| {
                out(Value {
                    display: &Rendered {
                        value,
                        render: &self.render,
                    },
                    json: self.kind.json(value),
                })
            })
            .ok()
    }
}

/// A variable whose field is a value computed from it.
struct ProjectRender<T: 'static, P> {
    var: &'static ContextVar<T>,
    project: P,
    kind: Kind,
}

impl<T, V, P> Render for ProjectRender<T, P>
where
    T: Send + Sync + fmt::Debug + 'static,
    V: fmt::Display + 'static,
    P: Fn(&T) -> V + Send + Sync,
{
    fn render(&self, out: &mut dyn FnMut(Value<'_>) -> fmt::Result) -> Option<fmt::Result> {
        self.var
            .try_with(|value| {
                let value = (self.project)(value);
                out(Value {
                    display: &value,
                    json: self.kind.json(&value),
                })
            })
            .ok()
    }
}

/// A borrowed value displayed by its field's closure.
struct Rendered<'a, T, F> {
    value: &'a T,
    render: &'a F,
}

impl<T, F> fmt::Display for Rendered<'_, T, F>
where
    F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.render)(self.value, f)
    }
}

/// Whether `name` may be used as a field name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl ContextFields {
    /// Creates an empty configuration: no field is printed.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::ContextFields;
    ///
    /// let fields = ContextFields::new();
    /// assert!(fields.is_empty());
    /// ```
    pub fn new() -> Self {
        ContextFields { fields: Vec::new() }
    }

    /// Adds `var` under its own name, rendered with
    /// [`Display`](fmt::Display).
    ///
    /// In [`ContextJson`](crate::ContextJson), a variable of an integer type
    /// (`u8` to `u128`, `i8` to `i128`, `usize`, `isize`) or of type `bool`
    /// is written as a JSON number or boolean, an `f32` or `f64` as a number
    /// (`null` if it is NaN or infinite), anything else as a string. The
    /// type is read from `T` (not from the text), so a `String` holding
    /// `"42"` stays a string.
    ///
    /// Python: `%(request_id)s` in a logging format, fed by a record factory
    /// that copies the variable into each record.
    ///
    /// # Panics
    ///
    /// Panics if the variable's name is not a valid field name (see
    /// [Field names](ContextFields#field-names)) or is already used by
    /// another field.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    ///
    /// let fields = ContextFields::new().var(&REQUEST_ID);
    /// REQUEST_ID.set("abc".to_string());
    /// let mut seen = Vec::new();
    /// fields.for_each(|name, value| seen.push(format!("{name}={value}")));
    /// assert_eq!(seen, ["request_id=abc"]); // no quotes
    /// ```
    #[track_caller]
    pub fn var<T>(self, var: &'static ContextVar<T>) -> Self
    where
        T: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        self.push(
            var.name().into(),
            Box::new(VarRender {
                var,
                render: |value: &T, f: &mut fmt::Formatter<'_>| fmt::Display::fmt(value, f),
                kind: Kind::of::<T>(),
            }),
        )
    }

    /// Adds `var` under its own name, rendered with [`Debug`](fmt::Debug).
    ///
    /// For values without a `Display` impl. Strings would print in quotes,
    /// which text output then escapes (`"\"abc\""`): use
    /// [`var`](ContextFields::var) for them.
    ///
    /// # Panics
    ///
    /// As [`var`](ContextFields::var).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// #[derive(Debug)]
    /// enum Tier {
    ///     Free,
    /// }
    ///
    /// static TIER: ContextVar<Tier> = ContextVar::new("tier");
    ///
    /// let fields = ContextFields::new().var_debug(&TIER);
    /// TIER.set(Tier::Free);
    /// let mut seen = Vec::new();
    /// fields.for_each(|name, value| seen.push(format!("{name}={value}")));
    /// assert_eq!(seen, ["tier=Free"]);
    /// ```
    #[track_caller]
    pub fn var_debug<T>(self, var: &'static ContextVar<T>) -> Self
    where
        T: fmt::Debug + Send + Sync + 'static,
    {
        self.field(var.name(), var, |value, f| fmt::Debug::fmt(value, f))
    }

    /// Adds a field called `name` whose value is rendered from `var`'s value
    /// by `render`, which writes to a [`Formatter`](fmt::Formatter) like a
    /// `Display` impl does.
    ///
    /// Use it to print part of a variable (`TRACE.with(|t| t.trace_id)`), to
    /// choose a format (`{:032x}`), or to print a variable under another
    /// name. `render` gets a borrowed `&T` and writes straight to the output:
    /// nothing is allocated unless `render` allocates.
    ///
    /// # Panics
    ///
    /// Panics if `name` is not a valid field name (see
    /// [Field names](ContextFields#field-names)) or is already used by
    /// another field.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// #[derive(Debug)]
    /// struct Session {
    ///     user_id: u64,
    ///     name: String,
    /// }
    ///
    /// static SESSION: ContextVar<Session> = ContextVar::new("session");
    ///
    /// let fields = ContextFields::new()
    ///     .field("user_id", &SESSION, |s, f| write!(f, "u{}", s.user_id))
    ///     .field("user", &SESSION, |s, f| f.write_str(&s.name));
    /// SESSION.set(Session { user_id: 7, name: "ada".into() });
    /// let mut seen = Vec::new();
    /// fields.for_each(|name, value| seen.push(format!("{name}={value}")));
    /// assert_eq!(seen, ["user_id=u7", "user=ada"]);
    /// ```
    #[track_caller]
    pub fn field<T, F>(
        self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
        render: F,
    ) -> Self
    where
        T: fmt::Debug + Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync + 'static,
    {
        self.push(
            name.into(),
            Box::new(VarRender {
                var,
                render,
                kind: Kind::Text,
            }),
        )
    }

    /// Adds a field called `name` whose value is `project(&value)`, written
    /// with [`Display`](fmt::Display) and keeping its JSON type as
    /// [`var`](ContextFields::var) does: integers, floats and `bool` are
    /// JSON numbers and booleans in [`ContextJson`](crate::ContextJson),
    /// anything else a string.
    ///
    /// Use it for a number or a flag inside a struct (a user id out of a
    /// session, `sampled` out of a trace context); use
    /// [`field`](ContextFields::field) to choose a text format (hex, padding).
    /// `project` runs each time a line is written and returns an owned value
    /// (a copied number or flag).
    ///
    /// # Panics
    ///
    /// As [`field`](ContextFields::field).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// #[derive(Debug)]
    /// struct Session {
    ///     user_id: u64,
    ///     admin: bool,
    /// }
    ///
    /// static SESSION: ContextVar<Session> = ContextVar::new("session");
    ///
    /// let fields = ContextFields::new()
    ///     .field_value("user_id", &SESSION, |s| s.user_id)
    ///     .field_value("admin", &SESSION, |s| s.admin);
    /// SESSION.set(Session { user_id: 7, admin: false });
    /// let mut seen = Vec::new();
    /// fields.for_each(|name, value| seen.push(format!("{name}={value}")));
    /// // In JSON: "user_id":7,"admin":false
    /// assert_eq!(seen, ["user_id=7", "admin=false"]);
    /// ```
    #[track_caller]
    pub fn field_value<T, V, P>(
        self,
        name: impl Into<Cow<'static, str>>,
        var: &'static ContextVar<T>,
        project: P,
    ) -> Self
    where
        T: fmt::Debug + Send + Sync + 'static,
        V: fmt::Display + 'static,
        P: Fn(&T) -> V + Send + Sync + 'static,
    {
        self.push(
            name.into(),
            Box::new(ProjectRender {
                var,
                project,
                kind: Kind::of::<V>(),
            }),
        )
    }

    /// Adds a field, checking its name.
    #[track_caller]
    fn push(mut self, name: Cow<'static, str>, source: Box<dyn Render>) -> Self {
        assert!(
            valid_name(&name),
            "invalid context field name {name:?}: use ASCII letters, digits, '_', '-' and '.'"
        );
        assert!(
            !self.names().any(|existing| existing == name),
            "context field name {name:?} is used twice"
        );
        self.fields.push(Arc::new(Field { name, source }));
        self
    }

    /// The number of configured fields, set or not.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// assert_eq!(ContextFields::new().var(&A).len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is configured.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tracing::ContextFields;
    ///
    /// assert!(ContextFields::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The configured field names, in output order.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// static A: ContextVar<u32> = ContextVar::new("a");
    /// static B: ContextVar<u32> = ContextVar::new("b");
    /// let fields = ContextFields::new().var(&B).var(&A);
    /// assert_eq!(fields.names().collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|field| &*field.name)
    }

    /// Calls `f` with the name and the rendered value of each field whose
    /// variable is set in the current context (or has a default), in order.
    ///
    /// The building block for sinks other than the ones in this crate. The
    /// value is borrowed from the current context for the duration of the
    /// call; format it, do not keep it. The value is the raw rendering:
    /// escaping is up to the sink.
    ///
    /// # Panics
    ///
    /// Panics from `f` or from a field's rendering propagate. A value whose
    /// rendering fails (its `Display` returns an error) passes that error on
    /// to whoever formats it.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tracing::ContextFields;
    ///
    /// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
    /// static ATTEMPT: ContextVar<u32> = ContextVar::with_default("attempt", || 1);
    ///
    /// let fields = ContextFields::new().var(&REQUEST_ID).var(&ATTEMPT);
    /// let collect = || {
    ///     let mut seen = Vec::new();
    ///     fields.for_each(|name, value| seen.push(format!("{name}={value}")));
    ///     seen
    /// };
    /// assert_eq!(collect(), ["attempt=1"]); // unset: omitted; default: printed
    /// REQUEST_ID.set("r1".into());
    /// assert_eq!(collect(), ["request_id=r1", "attempt=1"]);
    /// ```
    pub fn for_each(&self, mut f: impl FnMut(&str, &dyn fmt::Display)) {
        let _ = self.try_for_each(
            |_| false,
            |_, name, value| {
                f(name, value.display);
                Ok(())
            },
        );
    }

    /// Calls `f` with the index, name and value of each field whose variable
    /// is set (or has a default) and for which `skip` returns `false`, in
    /// order, stopping at the first error (of `f` or of a rendering).
    pub(crate) fn try_for_each(
        &self,
        skip: impl Fn(usize) -> bool,
        mut f: impl FnMut(usize, &str, Value<'_>) -> fmt::Result,
    ) -> fmt::Result {
        for (index, field) in self.fields.iter().enumerate() {
            if skip(index) {
                continue;
            }
            if let Some(result) = field
                .source
                .render(&mut |value| f(index, &field.name, value))
            {
                result?;
            }
        }
        Ok(())
    }

    /// Like [`try_for_each`](ContextFields::try_for_each), going on after an
    /// error: an error skips the field, not the rest.
    pub(crate) fn for_each_lenient(
        &self,
        skip: impl Fn(usize) -> bool,
        mut f: impl FnMut(usize, Value<'_>) -> fmt::Result,
    ) {
        for (index, field) in self.fields.iter().enumerate() {
            if !skip(index) {
                let _ = field.source.render(&mut |value| f(index, value));
            }
        }
    }

    /// The name of the field at `index`.
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.fields[index].name
    }

    /// Which fields an event hides: those named like a field the event
    /// records a value for (the event's own field wins), except `message`
    /// when `message_has_key` is `false` (text formatters write the message
    /// without a key).
    pub(crate) fn hidden_by_event(&self, event: &Event<'_>, message_has_key: bool) -> Hidden {
        let mut visitor = HiddenBy {
            fields: self,
            message_has_key,
            hidden: Hidden::default(),
        };
        if !self.fields.is_empty() {
            event.record(&mut visitor);
        }
        visitor.hidden
    }
}

/// A set of field indices; allocates only when it is not empty.
#[derive(Debug, Default)]
pub(crate) struct Hidden(Vec<usize>);

impl Hidden {
    /// Adds `index`.
    pub(crate) fn insert(&mut self, index: usize) {
        if !self.0.contains(&index) {
            self.0.push(index);
        }
    }

    /// Whether `index` is in the set.
    pub(crate) fn contains(&self, index: usize) -> bool {
        self.0.contains(&index)
    }
}

/// Collects the fields hidden by an event's fields.
struct HiddenBy<'a> {
    fields: &'a ContextFields,
    message_has_key: bool,
    hidden: Hidden,
}

impl Visit for HiddenBy<'_> {
    fn record_debug(&mut self, field: &TracingField, _: &dyn fmt::Debug) {
        let name = field.name();
        if !self.message_has_key && name == "message" {
            return;
        }
        if let Some(index) = self.fields.names().position(|n| n == name) {
            self.hidden.insert(index);
        }
    }
}

impl fmt::Debug for ContextFields {
    /// Lists the field names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextFields")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in ["a", "request_id", "trace.id", "x-b3-traceid", "A9"] {
            assert!(valid_name(name), "{name}");
        }
        for name in ["", "a b", "a=b", "\"", "a\n", "é", "{", "a:b"] {
            assert!(!valid_name(name), "{name:?}");
        }
    }
}
