//! Helpers shared by the test modules: an in-memory log sink, subscriber
//! builders, and a logfmt parser that reads back what `ContextFormat` writes.

use std::io;
use std::sync::{Arc, Mutex};

use contextvars_tracing::{ContextFields, ContextFormat, ContextJson};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use tracing::Dispatch;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, JsonFields};
use tracing_subscriber::fmt::{FormatEvent, MakeWriter};
use tracing_subscriber::registry::Registry;

/// A `MakeWriter` that appends everything to one shared buffer. Each event is
/// written by tracing-subscriber with a single `write_all`, and each `write`
/// appends its whole buffer under the lock, so lines never interleave.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("output is UTF-8")
    }

    /// The lines written so far, without their `\n`; panics if the output
    /// does not end with a newline.
    pub(crate) fn lines(&self) -> Vec<String> {
        let text = self.text();
        if text.is_empty() {
            return Vec::new();
        }
        let body = text.strip_suffix('\n').expect("output ends with a newline");
        body.split('\n').map(str::to_owned).collect()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// The Full format without timestamps, so that lines can be compared exactly.
pub(crate) fn full() -> Format<Full, ()> {
    tracing_subscriber::fmt::format().without_time()
}

/// A text subscriber (no ANSI) that wraps `inner` in a `ContextFormat`.
pub(crate) fn text_with<F>(fields: ContextFields, inner: F) -> (Dispatch, Capture)
where
    F: FormatEvent<Registry, DefaultFields> + Send + Sync + 'static,
{
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .event_format(ContextFormat::new(fields, inner))
        .with_writer(capture.clone())
        .finish();
    (Dispatch::new(subscriber), capture)
}

/// A text subscriber with the Full format, without time.
pub(crate) fn text(fields: ContextFields) -> (Dispatch, Capture) {
    text_with(fields, full())
}

/// A JSON subscriber that wraps `inner` in a `ContextJson`.
pub(crate) fn json_with<F>(fields: ContextFields, inner: F) -> (Dispatch, Capture)
where
    F: FormatEvent<Registry, JsonFields> + Send + Sync + 'static,
{
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .event_format(ContextJson::new(fields, inner))
        .with_writer(capture.clone())
        .finish();
    (Dispatch::new(subscriber), capture)
}

/// A JSON subscriber with tracing-subscriber's JSON format, without time.
pub(crate) fn json(fields: ContextFields) -> (Dispatch, Capture) {
    json_with(
        fields,
        tracing_subscriber::fmt::format().json().without_time(),
    )
}

/// Parses the `name=value ` fields at the start of a `ContextFormat` line,
/// undoing the escaping, and returns them with the rest of the line.
///
/// Stops at the first word that is not `name=`-shaped with a valid name
/// (the inner formatter's output).
pub(crate) fn parse_prefix(line: &str) -> (Vec<(String, String)>, &str) {
    let mut fields = Vec::new();
    let mut rest = line;
    while let Some(eq) = rest.find('=') {
        let name = &rest[..eq];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            break;
        }
        let after = &rest[eq + 1..];
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            parse_quoted(quoted)
        } else {
            let end = after.find(' ').expect("a bare value ends with a space");
            (after[..end].to_owned(), &after[end..])
        };
        fields.push((name.to_owned(), value));
        rest = tail
            .strip_prefix(' ')
            .expect("a field is followed by a space");
    }
    (fields, rest)
}

/// Reads a quoted value up to its closing quote; returns it unescaped and
/// the text after the quote.
fn parse_quoted(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &s[i + 1..]),
            '\\' => match chars.next().expect("escape").1 {
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                'u' => {
                    assert_eq!(chars.next().unwrap().1, '{');
                    let mut hex = String::new();
                    for (_, h) in chars.by_ref() {
                        if h == '}' {
                            break;
                        }
                        hex.push(h);
                    }
                    let code = u32::from_str_radix(&hex, 16).expect("hex escape");
                    value.push(char::from_u32(code).expect("valid char"));
                }
                other => panic!("unknown escape \\{other}"),
            },
            c => {
                assert!(
                    !c.is_control() && c != '\u{2028}' && c != '\u{2029}',
                    "raw {c:?} inside a quoted value"
                );
                value.push(c);
            }
        }
    }
    panic!("unterminated quoted value");
}

/// The value of `name` in a `ContextFormat` line, if present.
pub(crate) fn field(line: &str, name: &str) -> Option<String> {
    parse_prefix(line)
        .0
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// Parses one JSON line into an object, failing on an object (at any
/// depth) that has a key twice, as strict consumers such as Elasticsearch
/// do.
pub(crate) fn parse_json(line: &str) -> serde_json::Map<String, serde_json::Value> {
    match parse_strict(line) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(other) => panic!("not a JSON object: {other}"),
        Err(err) => panic!("invalid JSON ({err}): {line}"),
    }
}

/// Parses `text` as JSON, refusing an object with a repeated key.
pub(crate) fn parse_strict(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Strict(value) = Strict::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// A JSON value read by [`StrictVisitor`].
struct Strict(serde_json::Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

/// Builds a `serde_json::Value`, failing at a repeated key.
struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value with one key per object")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate key {key:?}")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

#[test]
fn the_strict_parser_refuses_repeated_keys_at_any_depth() {
    assert!(parse_strict(r#"{"a":1,"b":[{"c":true,"d":null}],"e":{"f":"x"}}"#).is_ok());
    for text in [
        r#"{"a":1,"a":1}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        r#"{"a":[{"b":1,"b":2}]}"#,
        r#"{"a":1,"\u0061":2}"#,
    ] {
        let err = parse_strict(text).expect_err(text);
        assert!(err.to_string().contains("duplicate key"), "{text}: {err}");
    }
    assert!(serde_json::from_str::<serde_json::Value>(r#"{"a":1,"a":2}"#).is_ok());
}
