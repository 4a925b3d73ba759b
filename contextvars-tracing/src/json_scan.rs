//! A scanner of the JSON objects that [`ContextJson`](crate::ContextJson)
//! wraps: the members of the root object, whether an object anywhere in it
//! has a key twice, and a writer that keeps one member per key.
//!
//! It checks the structure (braces, brackets, strings, `:` and `,`), not the
//! spelling of numbers and literals: its input is a JSON formatter's output,
//! and anything it cannot read is passed through unchanged by its caller.

use std::fmt::{self, Write};
use std::ops::Range;

/// Objects and arrays nested deeper than this are not read (the line is
/// passed through unchanged), so that scanning cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// A member of the root object.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The key, between its quotes, still escaped.
    pub(crate) key: Range<usize>,
    /// From the key's opening quote to the end of the value.
    pub(crate) text: Range<usize>,
    /// The value.
    pub(crate) value: Range<usize>,
    /// Whether an object inside the value has a key twice.
    pub(crate) dup_inside: bool,
}

/// Reads `src` as one JSON object with nothing after it, pushing its
/// members onto `members` (emptied first). `keys` is scratch space.
/// Returns `None` if `src` is not such an object.
pub(crate) fn scan_root(
    src: &str,
    members: &mut Vec<Member>,
    keys: &mut Vec<Range<usize>>,
) -> Option<()> {
    members.clear();
    keys.clear();
    let mut scanner = Scanner { src, pos: 0, keys };
    scanner.object(0, Some(members))?;
    (scanner.pos == src.len()).then_some(())
}

/// Whether two keys, still escaped, are the same string.
pub(crate) fn key_eq(a: &str, b: &str) -> bool {
    if !a.contains('\\') && !b.contains('\\') {
        a == b
    } else {
        unescape(a) == unescape(b)
    }
}

/// Decodes the escapes of a JSON string's contents. An invalid escape or a
/// lone surrogate becomes U+FFFD.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
        let digits: String = chars.by_ref().take(4).collect();
        if digits.len() == 4 {
            u32::from_str_radix(&digits, 16).ok()
        } else {
            None
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => match hex4(&mut chars) {
                Some(high @ 0xD800..=0xDBFF) => {
                    let mut rest = chars.clone();
                    let low = (rest.next() == Some('\\') && rest.next() == Some('u'))
                        .then(|| hex4(&mut rest))
                        .flatten();
                    match low {
                        Some(low @ 0xDC00..=0xDFFF) => {
                            chars = rest;
                            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => '\u{FFFD}',
                    }
                }
                Some(code) => char::from_u32(code).unwrap_or('\u{FFFD}'),
                None => '\u{FFFD}',
            },
            _ => '\u{FFFD}',
        };
        out.push(decoded);
    }
    out
}

/// Writes the JSON value `value` (already read by [`scan_root`]) keeping,
/// in every object, the last member of each key only, as most JSON parsers
/// read an object with a repeated key.
pub(crate) fn write_deduplicated(out: &mut dyn Write, value: &str) -> fmt::Result {
    let first = value.as_bytes().first().copied();
    if !matches!(first, Some(b'{' | b'[')) {
        return out.write_str(value);
    }
    let mut keys = Vec::new();
    let mut scanner = Scanner {
        src: value,
        pos: 0,
        keys: &mut keys,
    };
    let mut parts = Vec::new();
    let (open, close) = if first == Some(b'{') {
        scanner.object(0, Some(&mut parts)).ok_or(fmt::Error)?;
        ('{', '}')
    } else {
        scanner.array(0, Some(&mut parts)).ok_or(fmt::Error)?;
        ('[', ']')
    };
    out.write_char(open)?;
    let mut first_written = true;
    for (i, part) in parts.iter().enumerate() {
        let key = &value[part.key.clone()];
        let is_member = first == Some(b'{');
        if is_member
            && parts[i + 1..]
                .iter()
                .any(|later| key_eq(&value[later.key.clone()], key))
        {
            continue;
        }
        if !first_written {
            out.write_char(',')?;
        }
        first_written = false;
        if is_member {
            write!(out, "\"{key}\":")?;
        }
        write_deduplicated(out, &value[part.value.clone()])?;
    }
    out.write_char(close)
}

struct Scanner<'a, 'k> {
    src: &'a str,
    pos: usize,
    /// The keys of the objects being read, innermost last.
    keys: &'k mut Vec<Range<usize>>,
}

impl Scanner<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.pos += 1)
    }

    /// A string; returns its contents' range.
    fn string(&mut self) -> Option<Range<usize>> {
        self.expect(b'"')?;
        let start = self.pos;
        let bytes = self.src.as_bytes();
        loop {
            match bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(start..self.pos - 1);
                }
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
    }

    /// A value; returns whether an object in it has a key twice.
    fn value(&mut self, depth: usize) -> Option<bool> {
        match self.peek()? {
            b'{' => self.object(depth + 1, None),
            b'[' => self.array(depth + 1, None),
            b'"' => self.string().map(|_| false),
            _ => {
                let start = self.pos;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                (self.pos > start).then_some(false)
            }
        }
    }

    /// An object; its members go to `members` if given. Returns whether it,
    /// or an object in it, has a key twice.
    fn object(&mut self, depth: usize, mut members: Option<&mut Vec<Member>>) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(false);
        }
        let base = self.keys.len();
        let mut dup = false;
        loop {
            self.ws();
            let start = self.pos;
            let key = self.string()?;
            let name = &self.src[key.clone()];
            if self.keys[base..]
                .iter()
                .any(|seen| key_eq(&self.src[seen.clone()], name))
            {
                dup = true;
            }
            self.keys.push(key.clone());
            self.ws();
            self.expect(b':')?;
            self.ws();
            let value_start = self.pos;
            let dup_inside = self.value(depth)?;
            if let Some(members) = members.as_deref_mut() {
                members.push(Member {
                    key,
                    text: start..self.pos,
                    value: value_start..self.pos,
                    dup_inside,
                });
            } else {
                dup |= dup_inside;
            }
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.keys.truncate(base);
        Some(dup)
    }

    /// An array; its elements go to `elements` if given (with empty keys).
    /// Returns whether an object in it has a key twice.
    fn array(&mut self, depth: usize, mut elements: Option<&mut Vec<Member>>) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(false);
        }
        let mut dup = false;
        loop {
            self.ws();
            let start = self.pos;
            let dup_inside = self.value(depth)?;
            dup |= dup_inside;
            if let Some(elements) = elements.as_deref_mut() {
                elements.push(Member {
                    key: start..start,
                    text: start..self.pos,
                    value: start..self.pos,
                    dup_inside,
                });
            }
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        Some(dup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Option<Vec<(String, bool)>> {
        let mut members = Vec::new();
        scan_root(src, &mut members, &mut Vec::new())?;
        Some(
            members
                .iter()
                .map(|m| (src[m.key.clone()].to_owned(), m.dup_inside))
                .collect(),
        )
    }

    fn dedup(src: &str) -> String {
        let mut out = String::new();
        write_deduplicated(&mut out, src).unwrap();
        out
    }

    #[test]
    fn reads_the_root_members() {
        assert_eq!(
            root(r#"{"a":1,"b":{"c":[1,{"d":"}"}]},"e":"x\"y"}"#),
            Some(vec![
                ("a".into(), false),
                ("b".into(), false),
                ("e".into(), false)
            ])
        );
        assert_eq!(root("{}"), Some(vec![]));
        assert_eq!(root(r#"{ "a" : true }"#), Some(vec![("a".into(), false)]));
    }

    #[test]
    fn finds_repeated_keys_inside_values() {
        assert_eq!(
            root(r#"{"a":{"x":1,"x":2},"b":[{"y":1,"y":2}],"c":{"x":1}}"#),
            Some(vec![
                ("a".into(), true),
                ("b".into(), true),
                ("c".into(), false)
            ])
        );
        assert_eq!(
            root(r#"{"a":{"\u0078":1,"x":2}}"#),
            Some(vec![("a".into(), true)])
        );
    }

    #[test]
    fn refuses_what_is_not_one_object() {
        for src in [
            "",
            "[]",
            "{",
            r#"{"a":1"#,
            r#"{"a":1}x"#,
            r#"{"a":1} "#,
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":"x}"#,
            "plain text",
        ] {
            assert_eq!(root(src), None, "{src:?}");
        }
        let deep = "{\"a\":".to_owned() + &"[".repeat(200) + &"]".repeat(200) + "}";
        assert_eq!(root(&deep), None);
    }

    #[test]
    fn deduplication_keeps_the_last_member_of_a_key() {
        assert_eq!(dedup(r#"{"x":1,"y":2,"x":3}"#), r#"{"y":2,"x":3}"#);
        assert_eq!(
            dedup(r#"[{"a":{"b":1,"b":2}},{"c":1}]"#),
            r#"[{"a":{"b":2}},{"c":1}]"#
        );
        assert_eq!(dedup(r#"{"\u0078":1,"x":2}"#), r#"{"x":2}"#);
        assert_eq!(dedup(r#""s""#), r#""s""#);
    }

    #[test]
    fn unescapes_keys() {
        assert_eq!(unescape(r#"a\"b\\c\/\n\u0041"#), "a\"b\\c/\nA");
        assert_eq!(unescape(r"\ud83d\ude00"), "😀");
        assert_eq!(unescape(r"\ud83dx"), "\u{FFFD}x");
        assert_eq!(unescape(r"\q"), "\u{FFFD}");
        assert!(key_eq(r"\u0061", "a"));
        assert!(!key_eq("a", "b"));
    }
}
