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
/// assert_eq!("FOO=1".parse::<TraceState>(), Err(ParseTraceStateError::InvalidKey));
/// assert_eq!("foo=1,bar".parse::<TraceState>(), Err(ParseTraceStateError::MissingEquals));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseTraceStateError {
    /// More than 32 list members (empty members not counted, members with a
    /// repeated key counted).
    TooManyMembers,
    /// A list member without `=`.
    MissingEquals,
    /// A key that does not match `( lcalpha / DIGIT ) 0*255( keychar )`,
    /// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
    InvalidKey,
    /// A value that is empty, longer than 256 characters, ends with a space,
    /// or has a character outside printable ASCII (0x20–0x7E) or a `,` or `=`.
    InvalidValue,
}

impl fmt::Display for ParseTraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseTraceStateError::TooManyMembers => "invalid tracestate: more than 32 list members",
            ParseTraceStateError::MissingEquals => "invalid tracestate: a list member has no `=`",
            ParseTraceStateError::InvalidKey => "invalid tracestate: invalid key",
            ParseTraceStateError::InvalidValue => "invalid tracestate: invalid value",
        })
    }
}

impl std::error::Error for ParseTraceStateError {}

/// A W3C `tracestate` header value: vendor-specific `key=value` list members,
/// at most [`MAX_MEMBERS`](TraceState::MAX_MEMBERS), each key at most once,
/// leftmost first.
///
/// Parsing follows the current grammar, [Trace Context Level 2]:
///
/// * members are separated by commas; spaces and tabs around members are
///   ignored, and so are empty members (they do not count towards the
///   limit);
/// * a key is 1 to 256 characters: a lowercase letter or a digit, then
///   lowercase letters, digits, `_`, `-`, `*`, `/` and `@`, anywhere and
///   any number of times (`foo@=1`, `foo@@bar=1`, `1foo=1` are valid). Every
///   key of [Trace Context Level 1] (`vendor`, `tenant@system` with a tenant
///   of up to 241 and a system of up to 14 characters) is such a key, so
///   Level 1 values parse as before;
/// * values are 1 to 256 printable ASCII characters (0x20–0x7E) except `,`
///   and `=`, not ending with a space;
/// * **repeated keys: the first member with a key is kept**, later ones are
///   dropped (`foo=1,bar=2,foo=3` reads `foo=1,bar=2`). The specification
///   allows one entry per key, the leftmost being the most recent position
///   in the trace (a vendor moves its updated entry to the front); the
///   W3C test suite's own model of `tracestate` keeps the first too. A
///   repeated key does not cost the caller the rest of its `tracestate`;
/// * any invalid member, or more than 32 members (repeated keys included),
///   make the whole value invalid. The specification requires discarding
///   it then.
///
/// Several `tracestate` header fields combine by joining them with commas
/// (RFC 9110 field order), which the server layer does.
///
/// Every member received is kept and sent on, up to the 32-member limit
/// (at most 16,415 characters); [`truncate`](TraceState::truncate) applies
/// the specification's truncation order where a shorter header is needed.
///
/// [Trace Context Level 1]: https://www.w3.org/TR/trace-context-1/#tracestate-header
/// [Trace Context Level 2]: https://www.w3.org/TR/trace-context-2/#tracestate-header
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
///
/// // Level 2 keys, and a repeated key: the first member wins.
/// let state: TraceState = "foo@=1,tenant@system=2,foo@=3".parse().unwrap();
/// assert_eq!(state.to_string(), "foo@=1,tenant@system=2");
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

    /// The length of a `tracestate` header value that vendors should
    /// propagate at least, in characters (commas included): the
    /// specification's lower bound for a [`truncate`](TraceState::truncate)
    /// limit.
    pub const MIN_PROPAGATED_LEN: usize = 512;

    /// The length of a member (`key=value`) above which the specification
    /// says to remove it first when truncating, in characters.
    pub const LARGE_MEMBER_LEN: usize = 128;

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

    /// Removes whole members until the header value is at most `max_len`
    /// characters long, in the order the specification gives: members
    /// longer than [`LARGE_MEMBER_LEN`](TraceState::LARGE_MEMBER_LEN) (128)
    /// characters first, rightmost first; then members from the end. Only
    /// as many members as needed are removed; the others keep their order.
    /// Returns the number of members removed.
    ///
    /// Vendors should propagate at least
    /// [`MIN_PROPAGATED_LEN`](TraceState::MIN_PROPAGATED_LEN) (512)
    /// characters; a smaller `max_len` is allowed, but should be documented
    /// by the system that uses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let large = "x".repeat(200);
    /// let mut state: TraceState = format!("a=1,big={large},b=2,c=3").parse().unwrap();
    /// assert_eq!(state.truncate(100), 1); // the member over 128 characters goes first
    /// assert_eq!(state.to_string(), "a=1,b=2,c=3");
    /// assert_eq!(state.truncate(7), 1); // then from the end
    /// assert_eq!(state.to_string(), "a=1,b=2");
    /// ```
    pub fn truncate(&mut self, max_len: usize) -> usize {
        let mut total = self.text.as_deref().map_or(0, str::len);
        if total <= max_len {
            return 0;
        }
        let lengths: Vec<usize> = self.iter().map(|(k, v)| k.len() + 1 + v.len()).collect();
        let mut keep = vec![true; lengths.len()];
        let mut remaining = lengths.len();
        let large = (0..lengths.len())
            .rev()
            .filter(|&i| lengths[i] > TraceState::LARGE_MEMBER_LEN);
        for i in large.chain((0..lengths.len()).rev()) {
            if total <= max_len {
                break;
            }
            if keep[i] {
                keep[i] = false;
                remaining -= 1;
                // The member and a comma (none once it is the only one).
                total -= lengths[i] + usize::from(remaining > 0);
            }
        }
        let removed = lengths.len() - remaining;
        let members: Vec<(&str, &str)> = self
            .iter()
            .zip(&keep)
            .filter(|&(_, &kept)| kept)
            .map(|(member, _)| member)
            .collect();
        *self = TraceState::from_members(members.into_iter());
        removed
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

/// `key = ( lcalpha / DIGIT ) 0*255( keychar )`,
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"` (Trace Context
/// Level 2; Level 1's `simple-key` and `multi-tenant-key` are special
/// cases).
fn valid_key(key: &[u8]) -> bool {
    matches!(key.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && key.len() <= 256
        && key
            .iter()
            .all(|&b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'))
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
        // kept on the stack for the repeated-key check.
        let mut keys = [""; TraceState::MAX_MEMBERS];
        let mut members = 0;
        let mut distinct = 0;
        // Whether `s` is already canonical: no optional whitespace, no
        // empty member, no repeated key.
        let mut canonical = true;
        for raw in s.split(',') {
            let member = raw.trim_matches(is_ows);
            if member.len() != raw.len() || member.is_empty() {
                canonical = false;
            }
            if member.is_empty() {
                continue;
            }
            if members == TraceState::MAX_MEMBERS {
                return Err(ParseTraceStateError::TooManyMembers);
            }
            members += 1;
            let (key, value) = member
                .split_once('=')
                .ok_or(ParseTraceStateError::MissingEquals)?;
            if !valid_key(key.as_bytes()) {
                return Err(ParseTraceStateError::InvalidKey);
            }
            if !valid_value(value.as_bytes()) {
                return Err(ParseTraceStateError::InvalidValue);
            }
            if keys[..distinct].contains(&key) {
                // The first member with a key is kept.
                canonical = false;
            } else {
                keys[distinct] = key;
                distinct += 1;
            }
        }
        if distinct == 0 {
            return Ok(TraceState::new());
        }
        if canonical {
            return Ok(TraceState {
                text: Some(Arc::from(s)),
                len: distinct,
            });
        }
        let mut seen = 0;
        Ok(TraceState::from_members(
            s.split(',')
                .map(|raw| raw.trim_matches(is_ows))
                .filter(|member| !member.is_empty())
                .map(|member| member.split_once('=').expect("validated"))
                .filter(|&(key, _)| {
                    // `keys` lists the distinct keys in order of first
                    // appearance: a member is the first with its key exactly
                    // when its key is the next one there.
                    let first = seen < distinct && keys[seen] == key;
                    seen += usize::from(first);
                    first
                }),
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
    fn level_2_keys() {
        // Valid in Level 2, invalid in Level 1 (and in the strict checks of
        // the W3C test suite, which still follow Level 1).
        for input in [
            "foo@=1,bar=2",
            "foo@@bar=1,bar=2",
            "foo@bar@baz=1,bar=2",
            "1foo=1",
            "foo@1bar=1",
            "0@0=1",
            "a@-=1",
        ] {
            let state = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(state.to_string(), input);
        }
        // 256 characters, `@` anywhere, any number of times.
        let at_256 = format!("{}{}", "t".repeat(251), "@v@v@");
        assert_eq!(at_256.len(), 256);
        let tenant_242 = format!("{}@v", "t".repeat(242));
        let system_15 = format!("t@{}", "v".repeat(15));
        let at_only = "a".to_owned() + &"@".repeat(255);
        for key in [&at_256, &tenant_242, &system_15, &at_only] {
            let state = parse(&format!("foo=1,{key}=x")).unwrap();
            assert_eq!(state.get(key), Some("x"), "{key:?}");
        }
        // Level 1 keys still parse, at their limits.
        let level_1 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let digit_tenant = format!("1{}@v", "t".repeat(240));
        for key in [&level_1, &digit_tenant, &"z".repeat(256)] {
            let state = parse(&format!("{key}=1,rojo=2")).unwrap();
            assert_eq!(state.get(key), Some("1"));
        }
    }

    #[test]
    fn repeated_keys_keep_the_first_member() {
        for (input, expected) in [
            ("foo=1,foo=1", "foo=1"),
            ("foo=1,foo=2", "foo=1"),
            ("foo=1,bar=2,foo=3,baz=4,bar=5", "foo=1,bar=2,baz=4"),
            ("congo=2,rojo=1,congo=1", "congo=2,rojo=1"),
            (" foo=1 ,, foo=2 , bar=3", "foo=1,bar=3"),
        ] {
            let state = parse(input).unwrap();
            assert_eq!(state.to_string(), expected, "{input:?}");
            assert_eq!(state.len(), state.iter().count());
        }
        // A repeated key does not hide an invalid member after it.
        assert_eq!(
            parse("foo=1,foo=2,BAR=3"),
            Err(ParseTraceStateError::InvalidKey)
        );
        // Members with a repeated key count towards the 32.
        let repeated: Vec<String> = (0..33).map(|i| format!("k{}=1", i % 2)).collect();
        assert_eq!(
            parse(&repeated.join(",")),
            Err(ParseTraceStateError::TooManyMembers)
        );
        assert_eq!(parse(&repeated[..32].join(",")).unwrap().len(), 2);
    }

    #[test]
    fn invalid_values_from_the_w3c_test_suite() {
        use ParseTraceStateError as E;
        let z256 = "z".repeat(256);
        let z257 = "z".repeat(257);
        assert!(parse(&format!("foo=1,{z256}=1")).is_ok());
        let cases: Vec<(String, ParseTraceStateError)> = vec![
            ("foo =1".into(), E::InvalidKey),
            ("FOO=1".into(), E::InvalidKey),
            ("foo.bar=1".into(), E::InvalidKey),
            ("@foo=1,bar=2".into(), E::InvalidKey),
            ("_foo=1".into(), E::InvalidKey),
            ("-foo=1".into(), E::InvalidKey),
            ("fOo=1".into(), E::InvalidKey),
            ("foo\u{e9}=1".into(), E::InvalidKey),
            ("=1".into(), E::InvalidKey),
            (format!("foo=1,{z257}=1"), E::InvalidKey),
            (format!("foo=1,{}@v=1", "t".repeat(255)), E::InvalidKey),
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
    fn the_largest_tracestate() {
        // 32 members of 256-character keys and values: 32 * 513 + 31
        // characters, kept whole.
        let members: Vec<String> = (0..32)
            .map(|i| format!("{:a<256}={:v<256}", format!("k{i}@"), i))
            .collect();
        let header = members.join(",");
        assert_eq!(header.len(), 32 * 513 + 31);
        let state = parse(&header).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.to_string(), header);
        let mut state = state;
        assert_eq!(state.truncate(usize::MAX), 0);
        assert_eq!(state.to_string(), header);
    }

    #[test]
    fn truncation_follows_the_specification() {
        let big = |c: char| c.to_string().repeat(129 - 2);
        // `b=` + 127 characters: 129, over 128; `c=` + 126: exactly 128.
        let b129 = format!("b={}", big('x'));
        let c128 = format!("c={}", "y".repeat(126));
        let d129 = format!("d={}", big('z'));
        let header = format!("a=1,{b129},{c128},{d129},e=5");
        let full = parse(&header).unwrap();
        assert_eq!(full.to_string().len(), 3 + 129 + 128 + 129 + 3 + 4);

        // Within the limit: nothing removed.
        let mut state = full.clone();
        assert_eq!(state.truncate(TraceState::MIN_PROPAGATED_LEN), 0);
        assert_eq!(state, full);
        // Members over 128 characters go first, the rightmost first, and
        // only as many as needed.
        let mut state = full.clone();
        assert_eq!(state.truncate(header.len() - 1), 1);
        assert_eq!(state.to_string(), format!("a=1,{b129},{c128},e=5"));
        let mut state = full.clone();
        assert_eq!(state.truncate(3 + 128 + 3 + 2), 2);
        assert_eq!(state.to_string(), format!("a=1,{c128},e=5"));
        // Then from the end, whatever the size.
        let mut state = full.clone();
        assert_eq!(state.truncate(3 + 128 + 1), 3);
        assert_eq!(state.to_string(), format!("a=1,{c128}"));
        let mut state = full.clone();
        assert_eq!(state.truncate(3), 4);
        assert_eq!(state.to_string(), "a=1");
        let mut state = full;
        assert_eq!(state.truncate(2), 5);
        assert!(state.is_empty());
        assert_eq!(state, TraceState::new());
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
