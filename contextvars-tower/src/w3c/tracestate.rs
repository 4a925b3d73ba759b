//! The `tracestate` header.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Why a `tracestate` value was rejected, or a member could not be added.
///
/// On any of these the W3C rule is to discard the whole `tracestate` (the
/// `traceparent` is still used). The message never contains the input, so it
/// is safe to log.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::{ParseTraceStateError, TraceState};
///
/// assert_eq!("foo=1,foo=2".parse::<TraceState>(), Err(ParseTraceStateError::DuplicateKey));
/// assert_eq!("FOO=1".parse::<TraceState>(), Err(ParseTraceStateError::InvalidKey));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseTraceStateError {
    /// More than 32 list members.
    TooManyMembers,
    /// A list member without `=`.
    MissingEquals,
    /// A key that is neither a simple key (`lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`)
    /// nor a multi-tenant key (`tenant@system`).
    InvalidKey,
    /// A value that is empty, longer than 256 characters, ends with a space,
    /// or has a character outside printable ASCII (0x20–0x7E) or a `,` or `=`.
    InvalidValue,
    /// The same key twice.
    DuplicateKey,
}

impl fmt::Display for ParseTraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseTraceStateError::TooManyMembers => "invalid tracestate: more than 32 list members",
            ParseTraceStateError::MissingEquals => "invalid tracestate: a list member has no `=`",
            ParseTraceStateError::InvalidKey => "invalid tracestate: invalid key",
            ParseTraceStateError::InvalidValue => "invalid tracestate: invalid value",
            ParseTraceStateError::DuplicateKey => "invalid tracestate: duplicate key",
        })
    }
}

impl std::error::Error for ParseTraceStateError {}

/// A W3C `tracestate` header value: vendor-specific `key=value` list members,
/// at most [`MAX_MEMBERS`](TraceState::MAX_MEMBERS), each key at most once,
/// leftmost first.
///
/// Parsing follows [Trace Context Level 1]:
///
/// * members are separated by commas; spaces and tabs around members are
///   ignored, and so are empty members (they do not count towards the
///   limit);
/// * keys are simple keys (`lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`)
///   or multi-tenant keys (`tenant@system`, a tenant of up to 241 and a
///   system of up to 14 characters);
/// * values are 1 to 256 printable ASCII characters (0x20–0x7E) except `,`
///   and `=`, not ending with a space;
/// * any invalid member, a duplicate key, or more than 32 members make the
///   whole value invalid. The specification requires discarding it then.
///
/// Several `tracestate` header fields combine by joining them with commas
/// (RFC 9110 field order), which the server layer does.
///
/// [Trace Context Level 1]: https://www.w3.org/TR/trace-context-1/#tracestate-header
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::TraceState;
///
/// let state: TraceState = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse().unwrap();
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// assert_eq!(state.len(), 2);
/// assert_eq!(state.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// ```
// Held as its canonical form (`k=v,k=v`: no optional whitespace, no empty
// members), shared: parsing a `tracestate` that is already canonical, as
// most are, makes one allocation, and cloning none; the members are found
// again by splitting, which the grammar makes unambiguous (neither keys nor
// values contain `,`, keys no `=`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState {
    /// `None` when empty.
    text: Option<Arc<str>>,
    len: usize,
}

impl TraceState {
    /// The most list members a `tracestate` may have.
    pub const MAX_MEMBERS: usize = 32;

    /// An empty `tracestate`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// assert!(TraceState::new().is_empty());
    /// ```
    pub fn new() -> TraceState {
        TraceState::default()
    }

    /// The value of `key`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let state: TraceState = "a=1,b=2".parse().unwrap();
    /// assert_eq!(state.get("b"), Some("2"));
    /// assert_eq!(state.get("c"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// The `(key, value)` members, leftmost first.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let state: TraceState = "a=1,b=2".parse().unwrap();
    /// assert_eq!(state.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        Members {
            rest: self.text.as_deref().unwrap_or(""),
            remaining: self.len,
        }
    }

    /// The number of members.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// assert_eq!("a=1, ,b=2".parse::<TraceState>().unwrap().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no member.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// assert!("".parse::<TraceState>().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds or updates `key`, moving it to the front (leftmost), as the
    /// specification requires of a vendor that modifies its entry. If that
    /// makes more than 32 members, the rightmost one is dropped.
    ///
    /// # Errors
    ///
    /// [`ParseTraceStateError::InvalidKey`] or
    /// [`InvalidValue`](ParseTraceStateError::InvalidValue) if `key` or
    /// `value` break the grammar; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let mut state: TraceState = "congo=t61rcWkgMzE".parse().unwrap();
    /// state.insert("rojo", "00f067aa0ba902b7").unwrap();
    /// assert_eq!(state.to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    /// state.insert("congo", "ucfJifl5GOE").unwrap();
    /// assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
    /// assert!(state.insert("Bad", "x").is_err());
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), ParseTraceStateError> {
        if !valid_key(key.as_bytes()) {
            return Err(ParseTraceStateError::InvalidKey);
        }
        if !valid_value(value.as_bytes()) {
            return Err(ParseTraceStateError::InvalidValue);
        }
        let others = self
            .iter()
            .filter(|&(k, _)| k != key)
            .take(TraceState::MAX_MEMBERS - 1);
        *self = TraceState::from_members(std::iter::once((key, value)).chain(others));
        Ok(())
    }

    /// Removes `key`, returning its value.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let mut state: TraceState = "a=1,b=2".parse().unwrap();
    /// assert_eq!(state.remove("a").as_deref(), Some("1"));
    /// assert_eq!(state.to_string(), "b=2");
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let removed = self.get(key)?.to_owned();
        *self = TraceState::from_members(self.iter().filter(|&(k, _)| k != key));
        Some(removed)
    }

    /// The state of these valid, distinct members, in order.
    fn from_members<'a>(members: impl Iterator<Item = (&'a str, &'a str)>) -> TraceState {
        let mut text = String::new();
        let mut len = 0;
        for (key, value) in members {
            if len > 0 {
                text.push(',');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(value);
            len += 1;
        }
        TraceState {
            text: (len > 0).then(|| Arc::from(text)),
            len,
        }
    }
}

/// The members of a [`TraceState`], split off its canonical form.
struct Members<'a> {
    rest: &'a str,
    remaining: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let (member, rest) = self.rest.split_once(',').unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(member.split_once('=').expect("a member has a `=`"))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Members<'_> {}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_keychar(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// Level 1 `key = simple-key / multi-tenant-key`.
fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&b| b == b'@') {
        None => {
            // simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
            matches!(key.first(), Some(b'a'..=b'z'))
                && key.len() <= 256
                && key.iter().all(|&b| is_keychar(b))
        }
        Some(at) => {
            // tenant-id = ( lcalpha / DIGIT ) 0*240( keychar )
            // system-id = lcalpha 0*13( keychar )
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            matches!(tenant.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
                && tenant.len() <= 241
                && tenant.iter().all(|&b| is_keychar(b))
                && matches!(system.first(), Some(b'a'..=b'z'))
                && system.len() <= 14
                && system.iter().all(|&b| is_keychar(b))
        }
    }
}

/// `value = 0*255(chr) nblk-chr`, `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`,
/// `chr = %x20 / nblk-chr`.
fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=')
}

impl FromStr for TraceState {
    type Err = ParseTraceStateError;

    /// Parses a `tracestate` value, as described on [`TraceState`].
    ///
    /// # Errors
    ///
    /// [`ParseTraceStateError`] for the first rule the value breaks; the
    /// whole value is then to be discarded.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            // No header, as in most requests: nothing to split.
            return Ok(TraceState::new());
        }
        // Validation first, with no allocation; the keys seen so far are
        // kept on the stack for the duplicate check.
        let mut keys = [""; TraceState::MAX_MEMBERS];
        let mut len = 0;
        // Whether `s` is already canonical: no optional whitespace, no
        // empty member.
        let mut canonical = true;
        for raw in s.split(',') {
            let member = raw.trim_matches(is_ows);
            if member.len() != raw.len() || member.is_empty() {
                canonical = false;
            }
            if member.is_empty() {
                continue;
            }
            if len == TraceState::MAX_MEMBERS {
                return Err(ParseTraceStateError::TooManyMembers);
            }
            let (key, value) = member
                .split_once('=')
                .ok_or(ParseTraceStateError::MissingEquals)?;
            if !valid_key(key.as_bytes()) {
                return Err(ParseTraceStateError::InvalidKey);
            }
            if !valid_value(value.as_bytes()) {
                return Err(ParseTraceStateError::InvalidValue);
            }
            if keys[..len].contains(&key) {
                return Err(ParseTraceStateError::DuplicateKey);
            }
            keys[len] = key;
            len += 1;
        }
        if len == 0 {
            return Ok(TraceState::new());
        }
        if canonical {
            return Ok(TraceState {
                text: Some(Arc::from(s)),
                len,
            });
        }
        Ok(TraceState::from_members(
            s.split(',')
                .map(|raw| raw.trim_matches(is_ows))
                .filter(|member| !member.is_empty())
                .map(|member| member.split_once('=').expect("validated")),
        ))
    }
}

impl fmt::Display for TraceState {
    /// The members joined with `,`, without optional whitespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.as_deref().unwrap_or(""))
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TraceState, ParseTraceStateError> {
        s.parse()
    }

    #[test]
    fn spec_examples() {
        assert_eq!(
            parse("congo=t61rcWkgMzE").unwrap().get("congo"),
            Some("t61rcWkgMzE")
        );
        let state = parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
        assert_eq!(
            state.iter().collect::<Vec<_>>(),
            [("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]
        );
        let state = parse("vendorname1=opaqueValue1,vendorname2=opaqueValue2").unwrap();
        assert_eq!(
            state.to_string(),
            "vendorname1=opaqueValue1,vendorname2=opaqueValue2"
        );
    }

    #[test]
    fn ows_and_empty_members_from_the_w3c_test_suite() {
        for s in [
            "foo=1 \t , \t bar=2, \t baz=3",
            "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
            ",foo=1,,bar=2, ,baz=3,",
        ] {
            let state = parse(s).unwrap();
            assert_eq!(state.to_string(), "foo=1,bar=2,baz=3", "{s:?}");
        }
        for s in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
            assert_eq!(parse(s).unwrap().get("foo"), Some("1"), "{s:?}");
        }
        assert!(parse("").unwrap().is_empty());
        assert!(parse(" , \t,").unwrap().is_empty());
        // A leading space belongs to the value.
        assert_eq!(parse("foo= 1").unwrap().get("foo"), Some(" 1"));
    }

    #[test]
    fn all_allowed_characters() {
        let key_without_vendor = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let key_with_vendor = format!("{key_without_vendor}@a-z0-9_-*/");
        let value: String = (0x20u8..=0x7e)
            .filter(|&b| b != b',' && b != b'=')
            .map(char::from)
            .collect();
        let state = parse(&format!("{key_without_vendor}={value}")).unwrap();
        assert_eq!(state.get(key_without_vendor), Some(value.as_str()));
        let state = parse(&format!("{key_with_vendor}={value}")).unwrap();
        assert_eq!(state.get(&key_with_vendor), Some(value.as_str()));
    }

    #[test]
    fn invalid_values_from_the_w3c_test_suite() {
        use ParseTraceStateError as E;
        let z256 = "z".repeat(256);
        let z257 = "z".repeat(257);
        let tenant_max = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(parse(&format!("foo=1,{z256}=1")).is_ok());
        assert!(parse(&format!("foo=1,{tenant_max}=1")).is_ok());
        let cases: Vec<(String, ParseTraceStateError)> = vec![
            ("foo=1,foo=1".into(), E::DuplicateKey),
            ("foo=1,foo=2".into(), E::DuplicateKey),
            ("foo =1".into(), E::InvalidKey),
            ("FOO=1".into(), E::InvalidKey),
            ("foo.bar=1".into(), E::InvalidKey),
            ("foo@=1,bar=2".into(), E::InvalidKey),
            ("@foo=1,bar=2".into(), E::InvalidKey),
            ("foo@@bar=1,bar=2".into(), E::InvalidKey),
            ("foo@bar@baz=1,bar=2".into(), E::InvalidKey),
            ("_foo=1".into(), E::InvalidKey),
            ("1foo=1".into(), E::InvalidKey),
            ("foo@1bar=1".into(), E::InvalidKey),
            (format!("foo=1,{z257}=1"), E::InvalidKey),
            (format!("foo=1,{}@v=1", "t".repeat(242)), E::InvalidKey),
            (format!("foo=1,t@{}=1", "v".repeat(15)), E::InvalidKey),
            ("foo=bar=baz".into(), E::InvalidValue),
            ("foo=,bar=3".into(), E::InvalidValue),
            ("foo=a\u{7f}".into(), E::InvalidValue),
            ("foo=a\tb".into(), E::InvalidValue),
            ("foo=é".into(), E::InvalidValue),
            (format!("foo={}", "v".repeat(257)), E::InvalidValue),
            ("foo".into(), E::MissingEquals),
        ];
        for (input, err) in cases {
            assert_eq!(parse(&input), Err(err), "{input:?}");
        }
        assert!(parse(&format!("foo={}", "v".repeat(256))).is_ok());
    }

    #[test]
    fn member_count_limit() {
        let members = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let state = parse(&members(32)).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("bar01"), Some("01"));
        assert_eq!(
            parse(&members(33)),
            Err(ParseTraceStateError::TooManyMembers)
        );
        // Empty members do not count.
        assert_eq!(parse(&format!("{},,,", members(32))).unwrap().len(), 32);
    }

    #[test]
    fn insert_keeps_at_most_32_members() {
        let mut state = TraceState::new();
        for i in 0..40 {
            state.insert(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(state.len(), 32);
        assert_eq!(state.iter().next(), Some(("k39", "v")));
        assert_eq!(state.get("k7"), None);
        assert_eq!(state.get("k8"), Some("v"));
    }
}
