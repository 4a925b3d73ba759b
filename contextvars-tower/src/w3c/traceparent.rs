//! The `traceparent` header.

use std::fmt;
use std::str::FromStr;

use super::ids::{decode_hex, ParseIdError, SpanId, TraceFlags, TraceId};

/// Length of a version `00` `traceparent`: `2 + 1 + 32 + 1 + 16 + 1 + 2`.
const V00_LEN: usize = 55;

/// Why a `traceparent` value was rejected.
///
/// The W3C rule for every case is the same: ignore the header and start a new
/// trace. The message never contains the input, so it is safe to log.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::{ParseTraceParentError, TraceParent};
///
/// let err = "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
///     .parse::<TraceParent>()
///     .unwrap_err();
/// assert_eq!(err, ParseTraceParentError::ForbiddenVersion);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseTraceParentError {
    /// The value does not start with 2 lowercase hex characters followed by
    /// a dash.
    InvalidVersion,
    /// Version `ff`, which the specification forbids.
    ForbiddenVersion,
    /// Version `00` with other than 55 characters (which includes extra
    /// fields), or a higher version with fewer than 55.
    WrongLength,
    /// A higher version whose 56th character is not a dash: the first four
    /// fields are not followed by a field separator.
    TrailingData,
    /// A field separator is not a dash.
    MissingDash,
    /// The `trace-id` field is invalid.
    TraceId(ParseIdError),
    /// The `parent-id` field is invalid.
    ParentId(ParseIdError),
    /// The `trace-flags` field is invalid.
    Flags(ParseIdError),
}

impl fmt::Display for ParseTraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseTraceParentError::InvalidVersion => f.write_str(
                "invalid traceparent: the version is not 2 lowercase hex characters and a dash",
            ),
            ParseTraceParentError::ForbiddenVersion => {
                f.write_str("invalid traceparent: version ff is forbidden")
            }
            ParseTraceParentError::WrongLength => f.write_str("invalid traceparent: wrong length"),
            ParseTraceParentError::TrailingData => {
                f.write_str("invalid traceparent: the flags are not followed by a dash or the end")
            }
            ParseTraceParentError::MissingDash => {
                f.write_str("invalid traceparent: a field separator is not a dash")
            }
            ParseTraceParentError::TraceId(e) => write!(f, "invalid traceparent trace-id: {e}"),
            ParseTraceParentError::ParentId(e) => write!(f, "invalid traceparent parent-id: {e}"),
            ParseTraceParentError::Flags(e) => write!(f, "invalid traceparent trace-flags: {e}"),
        }
    }
}

impl std::error::Error for ParseTraceParentError {}

/// A W3C `traceparent` header value: `version-traceid-parentid-flags`.
///
/// Parsing follows [Trace Context Level 1] strictly:
///
/// * lowercase hex only; all-zero trace or parent ids are invalid;
/// * version `ff` is invalid;
/// * version `00` must be exactly 55 characters (4 fields, nothing after);
/// * a *higher* version is accepted for forward compatibility when its first
///   55 characters parse as version `00` and are followed by nothing or by a
///   dash (the start of fields this version does not know, which are
///   ignored). Of its flags only the `sampled` bit is kept, since the
///   meaning of the others may differ in that version.
///
/// No whitespace is accepted: strip the HTTP optional whitespace (spaces and
/// tabs around the field value) before parsing, as the server layer does.
///
/// [`Display`](fmt::Display) always writes version `00`, the highest version
/// this crate knows, which is also how a higher version is propagated.
///
/// [Trace Context Level 1]: https://www.w3.org/TR/trace-context-1/#traceparent-header
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::TraceParent;
///
/// let tp: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
/// assert_eq!(tp.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.parent_id().to_string(), "00f067aa0ba902b7");
/// assert!(tp.flags().is_sampled());
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
///
/// // A future version with an extra field is understood, and downgraded.
/// let future: TraceParent = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like"
///     .parse()
///     .unwrap();
/// assert_eq!(future, tp);
///
/// // Version 00 with an extra field is not.
/// assert!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
///     .parse::<TraceParent>()
///     .is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
}

impl TraceParent {
    /// A `traceparent` with these fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::{SpanId, TraceFlags, TraceId, TraceParent};
    ///
    /// let tp = TraceParent::new(
    ///     TraceId::from_bytes([1; 16]).unwrap(),
    ///     SpanId::from_bytes([2; 8]).unwrap(),
    ///     TraceFlags::SAMPLED,
    /// );
    /// assert_eq!(tp.to_string(), "00-01010101010101010101010101010101-0202020202020202-01");
    /// ```
    pub const fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> TraceParent {
        TraceParent {
            trace_id,
            parent_id,
            flags,
        }
    }

    /// The `trace-id` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceParent;
    ///
    /// let tp: TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap();
    /// assert_eq!(tp.trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    /// ```
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The `parent-id` field: the caller's span id.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceParent;
    ///
    /// let tp: TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap();
    /// assert_eq!(tp.parent_id().to_string(), "b7ad6b7169203331");
    /// ```
    pub const fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The `trace-flags` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceParent;
    ///
    /// let tp: TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".parse().unwrap();
    /// assert!(!tp.flags().is_sampled());
    /// ```
    pub const fn flags(&self) -> TraceFlags {
        self.flags
    }
}

impl FromStr for TraceParent {
    type Err = ParseTraceParentError;

    /// Parses a `traceparent` value, as described on [`TraceParent`].
    ///
    /// # Errors
    ///
    /// [`ParseTraceParentError`] says which rule the value breaks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() < 3 || b[2] != b'-' {
            return Err(ParseTraceParentError::InvalidVersion);
        }
        let [version] =
            decode_hex::<1>(&b[..2]).map_err(|_| ParseTraceParentError::InvalidVersion)?;
        match version {
            0xff => return Err(ParseTraceParentError::ForbiddenVersion),
            0x00 if b.len() != V00_LEN => return Err(ParseTraceParentError::WrongLength),
            _ if b.len() < V00_LEN => return Err(ParseTraceParentError::WrongLength),
            _ if b.len() > V00_LEN && b[V00_LEN] != b'-' => {
                return Err(ParseTraceParentError::TrailingData)
            }
            _ => {}
        }
        if b[35] != b'-' || b[52] != b'-' {
            return Err(ParseTraceParentError::MissingDash);
        }
        let trace_id = decode_hex::<16>(&b[3..35])
            .and_then(|bytes| TraceId::from_bytes(bytes).ok_or(ParseIdError::AllZero))
            .map_err(ParseTraceParentError::TraceId)?;
        let parent_id = decode_hex::<8>(&b[36..52])
            .and_then(|bytes| SpanId::from_bytes(bytes).ok_or(ParseIdError::AllZero))
            .map_err(ParseTraceParentError::ParentId)?;
        let [bits] = decode_hex::<1>(&b[53..55]).map_err(ParseTraceParentError::Flags)?;
        let mut flags = TraceFlags::from_bits(bits);
        if version != 0 {
            flags = flags.intersection(TraceFlags::SAMPLED);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

impl fmt::Display for TraceParent {
    /// `00-{trace-id}-{parent-id}-{flags}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    fn parse(s: &str) -> Result<TraceParent, ParseTraceParentError> {
        s.parse()
    }

    #[test]
    fn spec_examples() {
        // Trace Context Level 1, "Examples of HTTP traceparent Headers".
        let sampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(
            sampled.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sampled.parent_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(sampled.flags(), TraceFlags::SAMPLED);
        let unsampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert_eq!(unsampled.flags(), TraceFlags::NONE);
        // "Relationship Between the Headers".
        for s in [
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",
            "00-0af7651916cd43dd8448eb211c80319c-b9c7c989f97918e1-01",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn version_00_keeps_every_flag_bit() {
        let tp = parse(&format!("00-{TRACE}-{PARENT}-ff")).unwrap();
        assert_eq!(tp.flags().bits(), 0xff);
        assert_eq!(tp.to_string(), format!("00-{TRACE}-{PARENT}-ff"));
    }

    #[test]
    fn higher_versions_are_parsed_as_00_and_keep_only_the_sampled_bit() {
        let expected = parse(&format!("00-{TRACE}-{PARENT}-01")).unwrap();
        for s in [
            format!("cc-{TRACE}-{PARENT}-01"),
            format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
            format!("01-{TRACE}-{PARENT}-01-"),
            format!("fe-{TRACE}-{PARENT}-ff-x"),
        ] {
            assert_eq!(parse(&s), Ok(expected), "{s}");
        }
        assert_eq!(
            parse(&format!("cc-{TRACE}-{PARENT}-02")).unwrap().flags(),
            TraceFlags::NONE
        );
    }

    #[test]
    fn invalid_values_from_the_w3c_test_suite() {
        use ParseIdError::*;
        use ParseTraceParentError as E;
        let cases: Vec<(String, ParseTraceParentError)> = vec![
            // Version 00 with extra data.
            (format!("00-{TRACE}-{PARENT}-01."), E::WrongLength),
            (
                format!("00-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
                E::WrongLength,
            ),
            // Higher version whose flags are not followed by a dash.
            (
                format!("cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"),
                E::TrailingData,
            ),
            (format!("ff-{TRACE}-{PARENT}-01"), E::ForbiddenVersion),
            (format!(".0-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("0.-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("000-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("0000-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("0-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("CC-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (
                format!("00-00000000000000000000000000000000-{PARENT}-01"),
                E::TraceId(AllZero),
            ),
            (
                format!("00-.2345678901234567890123456789012-{PARENT}-01"),
                E::TraceId(NotLowercaseHex),
            ),
            (
                format!("00-1234567890123456789012345678901.-{PARENT}-01"),
                E::TraceId(NotLowercaseHex),
            ),
            (
                format!("00-ABCDEF78901234567890123456789012-{PARENT}-01"),
                E::TraceId(NotLowercaseHex),
            ),
            (
                format!("00-123456789012345678901234567890123-{PARENT}-01"),
                E::WrongLength,
            ),
            (
                format!("00-1234567890123456789012345678901-{PARENT}-01"),
                E::WrongLength,
            ),
            (
                format!("00-{TRACE}-0000000000000000-01"),
                E::ParentId(AllZero),
            ),
            (
                format!("00-{TRACE}-.234567890123456-01"),
                E::ParentId(NotLowercaseHex),
            ),
            (
                format!("00-{TRACE}-123456789012345.-01"),
                E::ParentId(NotLowercaseHex),
            ),
            (
                format!("00-{TRACE}-ABCDEF7890123456-01"),
                E::ParentId(NotLowercaseHex),
            ),
            (format!("00-{TRACE}-12345678901234567-01"), E::WrongLength),
            (format!("00-{TRACE}-123456789012345-01"), E::WrongLength),
            (format!("00-{TRACE}-{PARENT}-.0"), E::Flags(NotLowercaseHex)),
            (format!("00-{TRACE}-{PARENT}-0."), E::Flags(NotLowercaseHex)),
            (format!("00-{TRACE}-{PARENT}-0A"), E::Flags(NotLowercaseHex)),
            (format!("00-{TRACE}-{PARENT}-001"), E::WrongLength),
            (format!("00-{TRACE}-{PARENT}-1"), E::WrongLength),
            // Separators.
            (format!("00_{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("00-{TRACE}_{PARENT}-01"), E::MissingDash),
            (format!("00-{TRACE}-{PARENT}_01"), E::MissingDash),
            // Whitespace is HTTP framing, stripped before parsing.
            (format!(" 00-{TRACE}-{PARENT}-01"), E::InvalidVersion),
            (format!("00-{TRACE}-{PARENT}-01 "), E::WrongLength),
            // Higher version, too short.
            (format!("cc-{TRACE}-{PARENT}-1"), E::WrongLength),
            (String::new(), E::InvalidVersion),
            ("00".to_string(), E::InvalidVersion),
            ("00-".to_string(), E::WrongLength),
        ];
        for (input, err) in cases {
            assert_eq!(parse(&input), Err(err), "{input:?}");
        }
    }

    #[test]
    fn non_ascii_never_panics() {
        // Multi-byte characters at every field boundary: byte slicing only.
        let base = format!("00-{TRACE}-{PARENT}-01");
        for i in 0..base.len() {
            let mut s = base.clone();
            s.replace_range(i..=i, "é");
            assert!(parse(&s).is_err());
            let mut s = base.clone();
            s.insert(i, 'é');
            assert!(parse(&s).is_err());
        }
    }
}
