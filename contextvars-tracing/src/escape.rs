//! Escaping of values for text (logfmt-style) and JSON output.
//!
//! Both escapers are [`fmt::Write`] adapters, so a value's `Display` output
//! streams through them without being collected into a `String` first.

use std::fmt::{self, Write};

/// Bidirectional-text controls (Unicode category Cf) that can make a log line
/// *display* differently from its bytes ("Trojan Source"). Escaped in text
/// output.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters that text output always writes as an escape sequence: control
/// characters (C0, DEL, C1: CR, LF, NEL, ESC, NUL…), the Unicode line and
/// paragraph separators, and bidi controls.
fn text_must_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}' || is_bidi_control(c)
}

/// Characters that make a text value quoted.
fn text_needs_quotes(c: char) -> bool {
    c.is_whitespace() || c == '"' || c == '=' || c == '\\' || text_must_escape(c)
}

/// Writes `c` as a text escape sequence.
fn write_text_escape(out: &mut dyn Write, c: char) -> fmt::Result {
    match c {
        '"' => out.write_str("\\\""),
        '\\' => out.write_str("\\\\"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// Scans a value: fails (stopping the value's `Display`) at the first
/// character that needs quotes.
struct Scan {
    empty: bool,
    needs_quotes: bool,
}

impl Write for Scan {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.is_empty() {
            self.empty = false;
        }
        if s.chars().any(text_needs_quotes) {
            self.needs_quotes = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Writes a value escaped for text output.
///
/// `quoted`: inside double quotes, only `"`, `\` and [`text_must_escape`]
/// characters are escaped. Bare: every [`text_needs_quotes`] character is
/// escaped, which only happens if a value's `Display` output changed between
/// the scan and the write; the line stays one line and unambiguous anyway.
struct TextEscaper<'a> {
    out: &'a mut dyn Write,
    quoted: bool,
}

impl Write for TextEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let special: fn(char) -> bool = if self.quoted {
            |c| c == '"' || c == '\\' || text_must_escape(c)
        } else {
            text_needs_quotes
        };
        let mut run_start = 0;
        for (i, c) in s.char_indices() {
            if special(c) {
                self.out.write_str(&s[run_start..i])?;
                if !self.quoted && !text_must_escape(c) && c != '"' && c != '\\' {
                    // Whitespace or `=` in a bare value: no short escape.
                    write!(self.out, "\\u{{{:x}}}", c as u32)?;
                } else {
                    write_text_escape(self.out, c)?;
                }
                run_start = i + c.len_utf8();
            }
        }
        self.out.write_str(&s[run_start..])
    }
}

/// Writes `value` for text output: as is when it is non-empty and has no
/// whitespace, `"`, `=`, `\`, control, line-separator or bidi-control
/// characters; otherwise in double quotes with escapes.
///
/// The value's `Display` runs twice when it needs quotes: once to scan it
/// (stopping at the first special character), once to write it.
pub(crate) fn write_text_value(out: &mut dyn Write, value: &dyn fmt::Display) -> fmt::Result {
    let mut scan = Scan {
        empty: true,
        needs_quotes: false,
    };
    if fmt::write(&mut scan, format_args!("{value}")).is_err() && !scan.needs_quotes {
        // The value's own `Display` failed.
        return Err(fmt::Error);
    }
    if scan.empty || scan.needs_quotes {
        out.write_char('"')?;
        fmt::write(
            &mut TextEscaper {
                out: &mut *out,
                quoted: true,
            },
            format_args!("{value}"),
        )?;
        out.write_char('"')
    } else {
        fmt::write(
            &mut TextEscaper { out, quoted: false },
            format_args!("{value}"),
        )
    }
}

/// Escapes the contents of a JSON string (RFC 8259): `"`, `\` and every
/// control character below U+0020, plus U+2028 and U+2029 so that the line
/// can also be embedded in JavaScript.
pub(crate) struct JsonEscaper<'a> {
    pub(crate) out: &'a mut dyn Write,
}

impl Write for JsonEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut run_start = 0;
        for (i, c) in s.char_indices() {
            let escape = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\u{8}' => "\\b",
                '\u{c}' => "\\f",
                c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => "",
                _ => continue,
            };
            self.out.write_str(&s[run_start..i])?;
            if escape.is_empty() {
                write!(self.out, "\\u{:04x}", c as u32)?;
            } else {
                self.out.write_str(escape)?;
            }
            run_start = i + c.len_utf8();
        }
        self.out.write_str(&s[run_start..])
    }
}

/// Writes `value` as a JSON string, quotes included.
pub(crate) fn write_json_string(out: &mut dyn Write, value: &dyn fmt::Display) -> fmt::Result {
    out.write_char('"')?;
    fmt::write(&mut JsonEscaper { out: &mut *out }, format_args!("{value}"))?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str) -> String {
        let mut s = String::new();
        write_text_value(&mut s, &v).unwrap();
        s
    }

    fn json(v: &str) -> String {
        let mut s = String::new();
        write_json_string(&mut s, &v).unwrap();
        s
    }

    #[test]
    fn plain_text_values_are_bare() {
        assert_eq!(text("abc-123"), "abc-123");
        assert_eq!(text("ünïcødé"), "ünïcødé");
        assert_eq!(text("a:b/c"), "a:b/c");
    }

    #[test]
    fn text_values_with_specials_are_quoted_and_escaped() {
        assert_eq!(text(""), r#""""#);
        assert_eq!(text("a b"), r#""a b""#);
        assert_eq!(text("a=b"), r#""a=b""#);
        assert_eq!(text(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(text(r"C:\x"), r#""C:\\x""#);
        assert_eq!(text("a\r\nb"), r#""a\r\nb""#);
        assert_eq!(text("\t\0\u{1b}[31m"), r#""\t\u{0}\u{1b}[31m""#);
        assert_eq!(text("x\u{85}y\u{2028}z"), r#""x\u{85}y\u{2028}z""#);
        assert_eq!(text("abc\u{202e}def"), r#""abc\u{202e}def""#);
        assert_eq!(text("\u{7f}"), r#""\u{7f}""#);
    }

    #[test]
    fn bare_writer_escapes_everything_special() {
        // The path taken only if `Display` output changes between passes.
        let mut s = String::new();
        TextEscaper {
            out: &mut s,
            quoted: false,
        }
        .write_str("a b=c\"\n")
        .unwrap();
        assert_eq!(s, r#"a\u{20}b\u{3d}c\"\n"#);
    }

    #[test]
    fn display_errors_propagate() {
        struct Failing;
        impl fmt::Display for Failing {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        let mut s = String::new();
        assert!(write_text_value(&mut s, &Failing).is_err());
        assert!(write_json_string(&mut s, &Failing).is_err());
    }

    #[test]
    fn json_strings_escape_what_json_requires() {
        assert_eq!(json("abc"), r#""abc""#);
        assert_eq!(json(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            json("\n\r\t\u{8}\u{c}\0\u{1f}"),
            r#""\n\r\t\b\f\u0000\u001f""#
        );
        assert_eq!(json("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
        assert_eq!(json("ünï 😀 \u{7f}"), "\"ünï 😀 \u{7f}\"");
    }
}
