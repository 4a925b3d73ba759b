//! The `baggage` header.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use super::list::SharedList;

/// Why a `baggage` value or member was rejected, or a member could not be
/// added.
///
/// The message never contains the input, so it is safe to log.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::{Baggage, BaggageError};
///
/// assert_eq!("user id=1".parse::<Baggage>(), Err(BaggageError::InvalidKey));
/// assert_eq!("user=a b".parse::<Baggage>(), Err(BaggageError::InvalidValue));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BaggageError {
    /// A list member without `=` (an empty member is one).
    MissingEquals,
    /// A key that is not an RFC 9110 `token` (when parsing), or an empty
    /// key (when [inserting](Baggage::insert)).
    InvalidKey,
    /// A value with a character outside `baggage-octet` (printable ASCII
    /// except space, `"`, `,`, `;` and `\`), or a `%` not followed by two
    /// hex digits.
    InvalidValue,
    /// A property that is not `key` or `key=value` with a token key and a
    /// `baggage-octet` value.
    InvalidProperty,
    /// Adding the member would make more than [`Baggage::MAX_MEMBERS`]
    /// members.
    TooManyMembers,
    /// Adding the member would make the header longer than
    /// [`Baggage::MAX_BYTES`].
    TooLarge,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaggageError::MissingEquals => "invalid baggage: a list member has no `=`",
            BaggageError::InvalidKey => "invalid baggage: a key is not a token",
            BaggageError::InvalidValue => "invalid baggage: invalid value",
            BaggageError::InvalidProperty => "invalid baggage: invalid property",
            BaggageError::TooManyMembers => "baggage full: 64 list members",
            BaggageError::TooLarge => "baggage full: 8192 bytes",
        })
    }
}

impl std::error::Error for BaggageError {}

/// One `key=value;properties` member of a [`Baggage`].
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::Baggage;
///
/// let baggage: Baggage = "serverNode=DF%2028;region=eu;primary".parse().unwrap();
/// let member = baggage.iter().next().unwrap();
/// assert_eq!(member.key(), "serverNode");
/// assert_eq!(member.value(), "DF 28");
/// assert_eq!(member.properties().collect::<Vec<_>>(), [("region", Some("eu")), ("primary", None)]);
/// assert_eq!(member.to_string(), "serverNode=DF%2028;region=eu;primary");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
// The key, value and properties in one allocation, one after the other.
pub struct BaggageMember {
    /// The key (percent-decoded; never empty), then the value
    /// (percent-decoded), then the properties (canonical: `;`-separated,
    /// optional whitespace removed, values as received, without the leading
    /// `;`; empty if none).
    text: Box<str>,
    /// Where the value starts.
    key_end: usize,
    /// Where the properties start.
    value_end: usize,
}

impl BaggageMember {
    /// A member without properties; `key` (decoded) must not be empty.
    pub(crate) fn new(key: &str, value: &str) -> BaggageMember {
        BaggageMember::from_parts(key, value, "")
    }

    /// A member of these parts, in one allocation.
    fn from_parts(key: &str, value: &str, properties: &str) -> BaggageMember {
        debug_assert!(!key.is_empty());
        let mut text = String::with_capacity(key.len() + value.len() + properties.len());
        text.push_str(key);
        text.push_str(value);
        text.push_str(properties);
        BaggageMember {
            text: text.into_boxed_str(),
            key_end: key.len(),
            value_end: key.len() + value.len(),
        }
    }

    /// The canonical properties, without the leading `;`.
    fn raw_properties(&self) -> &str {
        &self.text[self.value_end..]
    }

    /// The key, percent-decoded (keys are case-sensitive). This is the
    /// form every key is compared in: by [`Baggage::get`], by
    /// [`PropagateLayer::forward_baggage`](crate::PropagateLayer::forward_baggage)
    /// and by the OpenTelemetry conversions. See
    /// [Keys](Baggage#keys).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "userId=alice".parse().unwrap();
    /// assert_eq!(baggage.iter().next().unwrap().key(), "userId");
    /// // OpenTelemetry's Python SDK sends the key `tok!en#key` encoded.
    /// let baggage: Baggage = "tok%21en%23key=1".parse().unwrap();
    /// assert_eq!(baggage.iter().next().unwrap().key(), "tok!en#key");
    /// ```
    pub fn key(&self) -> &str {
        &self.text[..self.key_end]
    }

    /// The value, percent-decoded. Percent-encoded bytes that are not UTF-8
    /// become U+FFFD, as the specification requires.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "a=%E2%9C%93,b=%FF".parse().unwrap();
    /// assert_eq!(baggage.get("a"), Some("✓"));
    /// assert_eq!(baggage.get("b"), Some("\u{FFFD}"));
    /// ```
    pub fn value(&self) -> &str {
        &self.text[self.key_end..self.value_end]
    }

    /// The properties, as `(key, value)` pairs in order. Properties are
    /// opaque to the specification: their values are returned as received,
    /// not percent-decoded.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "k=v; p1 ; p2 = x".parse().unwrap();
    /// let member = baggage.iter().next().unwrap();
    /// assert_eq!(member.properties().collect::<Vec<_>>(), [("p1", None), ("p2", Some("x"))]);
    /// ```
    pub fn properties(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.raw_properties()
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            })
    }

    /// The length of the member's canonical form, as [`Display`](fmt::Display)
    /// writes it.
    fn encoded_len(&self) -> usize {
        let mut len =
            encoded_len(self.key(), is_key_safe) + 1 + encoded_len(self.value(), is_value_safe);
        if !self.raw_properties().is_empty() {
            len += 1 + self.raw_properties().len();
        }
        len
    }
}

impl fmt::Display for BaggageMember {
    /// `key=value`, both percent-encoded as described under
    /// [Encoding](Baggage#encoding), followed by `;property` for each
    /// property.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_encoded(f, self.key(), is_key_safe)?;
        f.write_str("=")?;
        write_encoded(f, self.value(), is_value_safe)?;
        if !self.raw_properties().is_empty() {
            f.write_str(";")?;
            f.write_str(self.raw_properties())?;
        }
        Ok(())
    }
}

impl fmt::Debug for BaggageMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("BaggageMember");
        s.field("key", &self.key()).field("value", &self.value());
        if !self.raw_properties().is_empty() {
            s.field("properties", &self.raw_properties());
        }
        s.finish()
    }
}

/// A W3C `baggage` header value: application-defined `key=value` members
/// that travel with a request across services.
///
/// Parsing follows [W3C Baggage]: members separated by commas; in each,
/// `key OWS "=" OWS value` followed by `;`-separated properties (`key` or
/// `key=value`), optional whitespace (spaces and tabs) around every part
/// trimmed; keys are RFC 9110 tokens; values are percent-decoded.
/// Duplicate keys are kept in order, as the specification allows;
/// [`get`](Baggage::get) returns the first.
///
/// # Limits
///
/// A `Baggage` holds at most [`MAX_MEMBERS`](Baggage::MAX_MEMBERS) (64)
/// members and at most [`MAX_BYTES`](Baggage::MAX_BYTES) (8192) bytes, the
/// minimums that the specification requires every platform to propagate.
/// The size of a baggage is the length of its canonical form, what
/// [`Display`](fmt::Display) writes: each member as `key=value;properties`
/// with its value percent-encoded again and no optional whitespace, plus one
/// byte for each comma between members.
///
/// When parsing, members are taken in order, and **the first member that
/// would exceed either limit is dropped, together with every member after
/// it**. So the result is always the longest prefix of the (valid) members
/// that fits. Parsing stops there: nothing after the 64th member, or after a
/// member that does not fit in the bytes left, is even read (nor validated),
/// so the work is bounded whatever the size of the header.
/// [`insert`](Baggage::insert) refuses a member that does not fit.
///
/// # Encoding
///
/// Values are percent-decoded when parsed (`%` followed by two hex digits;
/// any other `%` makes the value invalid) and held decoded: a value is any
/// string. [`Display`](fmt::Display), and so every header this crate
/// writes, percent-encodes them again, as `%XX` with upper-case hex digits,
/// for **every byte except the `baggage-octet`s other than `%`, `+` and
/// `=`**. So these are always encoded:
///
/// | in the value | on the wire | why |
/// |---|---|---|
/// | `%` | `%25` | the escape character |
/// | `+` | `%2B` | OpenTelemetry's Python SDK (`unquote_plus`) and older Java SDKs (`URLDecoder`) read a bare `+` as a space |
/// | `=` | `%3D` | OpenTelemetry's Rust SDK cuts a value at a second `=` |
/// | space, `"`, `,`, `;`, `\` | `%20`, `%22`, `%2C`, `%3B`, `%5C` | not `baggage-octet`s |
/// | control characters, DEL, non-ASCII | `%00`…`%1F`, `%7F`, each UTF-8 byte (`é` is `%C3%A9`) | not `baggage-octet`s |
///
/// Everything else (letters, digits and ``!#$&'()*-./:<>?@[]^_`{|}~``) is
/// written as is. Every decoder of the OpenTelemetry SDKs for Python
/// (`unquote_plus`), Go (`url.PathUnescape`), Java (its percent decoder,
/// and the `URLDecoder` of older versions), JavaScript (`decodeURIComponent`)
/// and Rust (`percent_decode_str`, after splitting at `=`) then reads the
/// value this crate holds, and reading it back here gives the same value:
/// `parse(format(x)) == x`. Properties are opaque to the specification and
/// are written as received.
///
/// | value | written as |
/// |---|---|
/// | `1+1=2` | `1%2B1%3D2` |
/// | `DF 28` | `DF%2028` |
/// | `100%` | `100%25` |
/// | `a,b;c` | `a%2Cb%3Bc` |
/// | `say "hi"\` | `say%20%22hi%22%5C` |
/// | `é✓` | `%C3%A9%E2%9C%93` |
/// | `user@example.com/x?y` | `user@example.com/x?y` |
///
/// **A `+` received is a `+`**, as the specification says: only `%XX` is
/// decoded. The Python SDK sends a space as `+` (it encodes with
/// `quote_plus`), so the value `DF 28 eu west` set in Python arrives as
/// `DF+28+eu+west` and reads `DF+28+eu+west` here, while Python's `1+1=2`
/// arrives as `1%2B1%3D2` and reads `1+1=2`. A bare `+` cannot be read as a
/// space in general: Go's and Rust's SDKs send a `+` in a value as is, and a
/// server cannot tell which SDK a peer runs. When every peer that sends
/// baggage is known to encode like Python's SDK, read the header with
/// [`parse_lossy_plus_as_space`](Baggage::parse_lossy_plus_as_space)
/// instead (see its example).
///
/// # Keys
///
/// Keys are RFC 9110 tokens on the wire, and **held and compared
/// percent-decoded**: `%` followed by two hex digits is decoded, any other
/// `%` (a token character) is kept as is. OpenTelemetry's Python and
/// JavaScript SDKs percent-encode keys (Python sends `tok!en#key` as
/// `tok%21en%23key`), and their Rust SDK decodes them; a key reads the same
/// here whichever way it was sent. [`get`](Baggage::get),
/// [`insert`](Baggage::insert), [`remove`](Baggage::remove),
/// [`BaggageMember::key`],
/// [`PropagateLayer::forward_baggage`](crate::PropagateLayer::forward_baggage),
/// [`PropagateLayer::export_var`](crate::PropagateLayer::export_var) and the
/// OpenTelemetry conversions all take and give decoded keys.
///
/// A key is written as a token: `%` and every byte that is not a token
/// character are percent-encoded, the rest as is (so `tok!en#key` is written
/// `tok!en#key`, and a `+` in a key stays a `+`). Keys that are tokens
/// without `%`, which is what most keys are, are written unchanged, which
/// matters because the Go and Java SDKs do not decode keys: they read
/// `tok%21en%23key` as it is written. Prefer such keys.
///
/// [W3C Baggage]: https://www.w3.org/TR/baggage/
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::Baggage;
///
/// let baggage: Baggage = "userId=alice,serverNode=DF%2028,isProduction=false".parse().unwrap();
/// assert_eq!(baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(baggage.len(), 3);
/// assert_eq!(baggage.to_string(), "userId=alice,serverNode=DF%2028,isProduction=false");
///
/// // What OpenTelemetry's Python SDK sends for {"tok!en#key": "1+1=2", "region": "DF 28 eu west"}.
/// let baggage: Baggage = "tok%21en%23key=1%2B1%3D2,region=DF+28+eu+west".parse().unwrap();
/// assert_eq!(baggage.get("tok!en#key"), Some("1+1=2"));
/// assert_eq!(baggage.get("region"), Some("DF+28+eu+west")); // `+` is a `+`
/// assert_eq!(baggage.to_string(), "tok!en#key=1%2B1%3D2,region=DF%2B28%2Beu%2Bwest");
///
/// // 10,000 members: the first 64 are kept.
/// let huge = (0..10_000).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
/// let baggage: Baggage = huge.parse().unwrap();
/// assert_eq!(baggage.len(), 64);
/// assert_eq!(baggage.iter().last().unwrap().key(), "k63");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    members: SharedList<BaggageMember>,
    /// Length of the canonical form.
    len: usize,
}

impl Baggage {
    /// The most members a `Baggage` holds.
    pub const MAX_MEMBERS: usize = 64;
    /// The longest canonical form a `Baggage` has, in bytes.
    pub const MAX_BYTES: usize = 8192;

    /// An empty baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// assert!(Baggage::new().is_empty());
    /// assert_eq!(Baggage::new().to_string(), "");
    /// ```
    pub fn new() -> Baggage {
        Baggage::default()
    }

    /// Parses leniently: malformed members (including empty ones) are
    /// skipped, as the specification allows, instead of failing the whole
    /// value; then the [limits](Baggage#limits) apply to the valid members.
    ///
    /// This is what the server layer uses for incoming headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage = Baggage::parse_lossy("a=1,bad key=2,,c=%zz,d=4");
    /// assert_eq!(baggage.to_string(), "a=1,d=4");
    /// ```
    pub fn parse_lossy(s: &str) -> Baggage {
        let mut baggage = Baggage::new();
        if s.is_empty() {
            // No header, as in most requests: nothing to split.
            return baggage;
        }
        for raw in s.split(',') {
            if baggage.is_full() {
                break;
            }
            if let Ok(member) = parse_member(raw, Plus::Plus) {
                if baggage.push(member).is_err() {
                    break;
                }
            }
        }
        baggage
    }

    /// Parses like [`parse_lossy`](Baggage::parse_lossy), except that a `+`
    /// in a key or value reads as a space, as form decoders do
    /// (`application/x-www-form-urlencoded`): OpenTelemetry's Python SDK
    /// decodes with `unquote_plus`, and encodes with `quote_plus`, which
    /// writes a space as `+` and a `+` as `%2B`.
    ///
    /// Use it only when every peer that sends baggage encodes that way: Go's
    /// and Rust's SDKs send a `+` in a value as is, which this reads as a
    /// space. See [Encoding](Baggage#encoding). What is written is the same
    /// whichever parser read the value (a space as `%20`).
    ///
    /// # Examples
    ///
    /// What the Python SDK sends for `{"region": "DF 28 eu west", "sum": "1+1=2"}`:
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let header = "region=DF+28+eu+west,sum=1%2B1%3D2";
    /// let baggage = Baggage::parse_lossy_plus_as_space(header);
    /// assert_eq!(baggage.get("region"), Some("DF 28 eu west"));
    /// assert_eq!(baggage.get("sum"), Some("1+1=2"));
    /// assert_eq!(baggage.to_string(), "region=DF%2028%20eu%20west,sum=1%2B1%3D2");
    /// // The specification's reading:
    /// assert_eq!(Baggage::parse_lossy(header).get("region"), Some("DF+28+eu+west"));
    /// ```
    ///
    /// In an axum application, a middleware inside the request context can
    /// replace [`BAGGAGE`](crate::BAGGAGE) with this reading of the header:
    ///
    /// ```
    /// use axum::{body::Body, extract::Request, middleware::{self, Next}, response::Response};
    /// use axum::{routing::get, Router};
    /// use contextvars_tower::{w3c::Baggage, RequestContextExt, BAGGAGE};
    /// use tower::ServiceExt;
    ///
    /// /// Every peer is a Python service: `+` in baggage means a space.
    /// async fn python_baggage(request: Request, next: Next) -> Response {
    ///     let fields: Vec<&str> = request
    ///         .headers()
    ///         .get_all("baggage")
    ///         .iter()
    ///         .filter_map(|v| v.to_str().ok())
    ///         .collect();
    ///     if !fields.is_empty() {
    ///         BAGGAGE.set(Baggage::parse_lossy_plus_as_space(&fields.join(",")));
    ///     }
    ///     next.run(request).await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = Router::new()
    ///     .route("/", get(|| async { BAGGAGE.get().get("region").unwrap_or("").to_owned() }))
    ///     .layer(middleware::from_fn(python_baggage))
    ///     .with_request_context();
    /// let request = http::Request::get("/")
    ///     .header("baggage", "region=DF+28+eu+west")
    ///     .body(Body::empty())
    ///     .unwrap();
    /// let body = axum::body::to_bytes(app.oneshot(request).await.unwrap().into_body(), 64).await.unwrap();
    /// assert_eq!(body, "DF 28 eu west");
    /// # }
    /// ```
    pub fn parse_lossy_plus_as_space(s: &str) -> Baggage {
        let mut baggage = Baggage::new();
        for raw in s.split(',') {
            if baggage.is_full() {
                break;
            }
            if let Ok(member) = parse_member(raw, Plus::Space) {
                if baggage.push(member).is_err() {
                    break;
                }
            }
        }
        baggage
    }

    /// The value of the first member with `key` (decoded, see
    /// [Keys](Baggage#keys)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "a=1,a=2".parse().unwrap();
    /// assert_eq!(baggage.get("a"), Some("1"));
    /// assert_eq!(baggage.get("A"), None);
    /// let python: Baggage = "tok%21en%23key=1".parse().unwrap();
    /// assert_eq!(python.get("tok!en#key"), Some("1"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.key() == key)
            .map(|m| m.value())
    }

    /// The members, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "a=1,b=2".parse().unwrap();
    /// let keys: Vec<_> = baggage.iter().map(|m| m.key()).collect();
    /// assert_eq!(keys, ["a", "b"]);
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageMember> {
        self.members.iter()
    }

    /// The number of members.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// assert_eq!("a=1".parse::<Baggage>().unwrap().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// assert!("".parse::<Baggage>().unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The length in bytes of the canonical form, the size the
    /// [limits](Baggage#limits) apply to.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let baggage: Baggage = "a = 1 , b=x y".parse().unwrap_or_default();
    /// assert!(baggage.is_empty()); // "x y" has a space: invalid
    /// let baggage = Baggage::parse_lossy("a = 1 , b=x%20y");
    /// assert_eq!(baggage.to_string(), "a=1,b=x%20y");
    /// assert_eq!(baggage.encoded_len(), 11);
    /// ```
    pub fn encoded_len(&self) -> usize {
        self.len
    }

    /// Sets `key` to `value`. Both are decoded forms, any string (the key
    /// not empty): they are percent-encoded when written, as described under
    /// [Encoding](Baggage#encoding) and [Keys](Baggage#keys). An existing
    /// member with `key` is replaced in place, without its properties, and
    /// any later duplicates are removed; otherwise the member is appended.
    ///
    /// # Errors
    ///
    /// [`BaggageError::InvalidKey`] if `key` is empty;
    /// [`TooManyMembers`](BaggageError::TooManyMembers) or
    /// [`TooLarge`](BaggageError::TooLarge) if the result would exceed the
    /// [limits](Baggage#limits). Nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::{Baggage, BaggageError};
    ///
    /// let mut baggage = Baggage::new();
    /// baggage.insert("tenant", "acme corp").unwrap();
    /// baggage.insert("sum", "1+1=2").unwrap();
    /// assert_eq!(baggage.to_string(), "tenant=acme%20corp,sum=1%2B1%3D2");
    /// baggage.insert("tok!en#key", "x").unwrap(); // a token: written as is
    /// baggage.insert("user name", "y").unwrap(); // not a token: encoded
    /// assert_eq!(baggage.to_string(), "tenant=acme%20corp,sum=1%2B1%3D2,tok!en#key=x,user%20name=y");
    /// assert_eq!(baggage.insert("", "x"), Err(BaggageError::InvalidKey));
    /// assert_eq!(baggage.insert("big", &"x".repeat(9000)), Err(BaggageError::TooLarge));
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), BaggageError> {
        if key.is_empty() {
            return Err(BaggageError::InvalidKey);
        }
        let member = BaggageMember::new(key, value);
        match self.members.iter().position(|m| m.key() == key) {
            Some(first) => {
                let mut members = self.members.to_vec();
                members[first] = member;
                let mut index = 0;
                members.retain(|m| {
                    index += 1;
                    index - 1 <= first || m.key() != key
                });
                let len = canonical_len(&members);
                if len > Baggage::MAX_BYTES {
                    return Err(BaggageError::TooLarge);
                }
                self.members = members.into();
                self.len = len;
                Ok(())
            }
            None => self.push(member),
        }
    }

    /// Removes every member with `key` (decoded); returns whether there was
    /// one.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::Baggage;
    ///
    /// let mut baggage: Baggage = "a=1,b=2,a=3".parse().unwrap();
    /// assert!(baggage.remove("a"));
    /// assert_eq!(baggage.to_string(), "b=2");
    /// assert!(!baggage.remove("a"));
    /// ```
    pub fn remove(&mut self, key: &str) -> bool {
        if !self.members.iter().any(|m| m.key() == key) {
            return false;
        }
        self.members.make_mut().retain(|m| m.key() != key);
        self.len = canonical_len(&self.members);
        true
    }

    fn is_full(&self) -> bool {
        self.members.len() >= Baggage::MAX_MEMBERS
    }

    /// Appends `member` if it fits in the limits.
    pub(crate) fn push(&mut self, member: BaggageMember) -> Result<(), BaggageError> {
        if self.members.len() >= Baggage::MAX_MEMBERS {
            return Err(BaggageError::TooManyMembers);
        }
        let separator = usize::from(!self.members.is_empty());
        let len = self.len + separator + member.encoded_len();
        if len > Baggage::MAX_BYTES {
            return Err(BaggageError::TooLarge);
        }
        self.members.make_mut().push(member);
        self.len = len;
        Ok(())
    }
}

impl FromStr for Baggage {
    type Err = BaggageError;

    /// Parses strictly: any malformed member among those read fails the
    /// whole value. An empty (or all-whitespace) string is an empty baggage.
    /// Members beyond the [limits](Baggage#limits) are dropped unread, not
    /// an error.
    ///
    /// # Errors
    ///
    /// [`BaggageError`] for the first malformed member; never
    /// [`TooManyMembers`](BaggageError::TooManyMembers) or
    /// [`TooLarge`](BaggageError::TooLarge).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut baggage = Baggage::new();
        if s.trim_matches(is_ows).is_empty() {
            return Ok(baggage);
        }
        for raw in s.split(',') {
            if baggage.is_full() {
                break;
            }
            let member = parse_member(raw, Plus::Plus)?;
            if baggage.push(member).is_err() {
                break;
            }
        }
        Ok(baggage)
    }
}

impl fmt::Display for Baggage {
    /// The canonical form: members joined with `,`, keys and values
    /// percent-encoded as described under [Encoding](Baggage#encoding), no
    /// optional whitespace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            fmt::Display::fmt(member, f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.members.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageMember;
    type IntoIter = std::slice::Iter<'a, BaggageMember>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// Bytes of a decoded value written as they are: `baggage-octet`s except
/// `%` (the escape character), `+` (a space to form decoders such as
/// Python's `unquote_plus`) and `=` (where OpenTelemetry's Rust SDK cuts a
/// value). Every other byte is written as `%XX`.
fn is_value_safe(b: u8) -> bool {
    is_baggage_octet(b) && !matches!(b, b'%' | b'+' | b'=')
}

/// Bytes of a decoded key written as they are: token characters except
/// `%`. Every other byte is written as `%XX`.
fn is_key_safe(b: u8) -> bool {
    is_tchar(b) && b != b'%'
}

/// The length of `s` written with [`write_encoded`].
fn encoded_len(s: &str, safe: fn(u8) -> bool) -> usize {
    s.bytes().map(|b| if safe(b) { 1 } else { 3 }).sum()
}

/// Writes `s` with every byte that is not `safe` as `%XX` (upper-case hex),
/// runs of safe bytes in one piece.
fn write_encoded(f: &mut fmt::Formatter<'_>, s: &str, safe: fn(u8) -> bool) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if safe(b) {
            continue;
        }
        // Safe bytes are ASCII, so a run of them lies on character
        // boundaries (an empty run may not).
        if start < i {
            f.write_str(&s[start..i])?;
        }
        f.write_char('%')?;
        f.write_char(char::from(HEX[usize::from(b >> 4)]))?;
        f.write_char(char::from(HEX[usize::from(b & 0xf)]))?;
        start = i + 1;
    }
    f.write_str(&s[start..])
}

fn canonical_len(members: &[BaggageMember]) -> usize {
    members
        .iter()
        .map(BaggageMember::encoded_len)
        .sum::<usize>()
        + members.len().saturating_sub(1)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// How a bare `+` in a key or value reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plus {
    /// As a `+`, per the specification.
    Plus,
    /// As a space, as form decoders read it.
    Space,
}

/// What a `%` not followed by two hex digits means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BadEscape {
    /// The text is invalid (values).
    Invalid,
    /// A literal `%` (keys: `%` is a token character).
    Literal,
}

/// Percent-decodes `raw` (whose bytes the caller has checked); invalid
/// UTF-8 becomes U+FFFD. `None` for a bad escape if bad escapes are
/// invalid.
fn percent_decode(raw: &str, plus: Plus, bad_escape: BadEscape) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    if !bytes.contains(&b'%') && (plus == Plus::Plus || !bytes.contains(&b'+')) {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi << 4) | lo);
                        i += 3;
                        continue;
                    }
                    _ if bad_escape == BadEscape::Invalid => return None,
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus == Plus::Space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// Checks that a raw key is a token and percent-decodes it.
fn decode_key(raw: &str, plus: Plus) -> Result<Cow<'_, str>, BaggageError> {
    if !is_token(raw) {
        return Err(BaggageError::InvalidKey);
    }
    percent_decode(raw, plus, BadEscape::Literal).ok_or(BaggageError::InvalidKey)
}

/// Checks the `baggage-octet`s of a raw value and percent-decodes it.
fn decode_value(raw: &str, plus: Plus) -> Result<Cow<'_, str>, BaggageError> {
    if !raw.bytes().all(is_baggage_octet) {
        return Err(BaggageError::InvalidValue);
    }
    percent_decode(raw, plus, BadEscape::Invalid).ok_or(BaggageError::InvalidValue)
}

/// Parses one comma-separated list member.
fn parse_member(raw: &str, plus: Plus) -> Result<BaggageMember, BaggageError> {
    let mut parts = raw.split(';');
    let key_value = parts.next().unwrap_or_default();
    let (key, value) = key_value
        .split_once('=')
        .ok_or(BaggageError::MissingEquals)?;
    let key = decode_key(key.trim_matches(is_ows), plus)?;
    let value = decode_value(value.trim_matches(is_ows), plus)?;
    let mut properties = String::new();
    for property in parts {
        let property = property.trim_matches(is_ows);
        if !properties.is_empty() {
            properties.push(';');
        }
        match property.split_once('=') {
            Some((k, v)) => {
                let (k, v) = (k.trim_matches(is_ows), v.trim_matches(is_ows));
                if !is_token(k) || !v.bytes().all(is_baggage_octet) {
                    return Err(BaggageError::InvalidProperty);
                }
                properties.push_str(k);
                properties.push('=');
                properties.push_str(v);
            }
            None => {
                if !is_token(property) {
                    return Err(BaggageError::InvalidProperty);
                }
                properties.push_str(property);
            }
        }
    }
    Ok(BaggageMember::from_parts(&key, &value, &properties))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Baggage, BaggageError> {
        s.parse()
    }

    fn props(m: &BaggageMember) -> Vec<(&str, Option<&str>)> {
        m.properties().collect()
    }

    #[test]
    fn spec_examples() {
        // W3C Baggage, "Examples of HTTP headers".
        let single = parse("userId=alice,serverNode=DF%2028,isProduction=false").unwrap();
        assert_eq!(single.get("userId"), Some("alice"));
        assert_eq!(single.get("serverNode"), Some("DF 28"));
        assert_eq!(single.get("isProduction"), Some("false"));
        let spaced = parse("userId =   alice, serverNode = DF%2028, isProduction = false").unwrap();
        assert_eq!(spaced, single);

        // "Definition" example: 3 members with properties.
        let b = parse(
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
        )
        .unwrap();
        let members: Vec<_> = b.iter().collect();
        assert_eq!(members.len(), 3);
        assert_eq!(
            props(members[0]),
            [("property1", None), ("property2", None)]
        );
        assert_eq!(members[1].value(), "value2");
        assert_eq!(props(members[2]), [("propertyKey", Some("propertyValue"))]);
        assert_eq!(
            b.to_string(),
            "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue"
        );
    }

    #[test]
    fn w3c_test_suite_members() {
        let b = parse("SomeKey=SomeValue;SomeProp,SomeKey2=SomeValue2;ValueProp=PropVal").unwrap();
        let m: Vec<_> = b.iter().collect();
        assert_eq!((m[0].key(), m[0].value()), ("SomeKey", "SomeValue"));
        assert_eq!(props(m[0]), [("SomeProp", None)]);
        assert_eq!(props(m[1]), [("ValueProp", Some("PropVal"))]);

        let ows = parse(
            "SomeKey \t = \t SomeValue \t ; \t SomeProp \t , \t SomeKey2 \t = \t SomeValue2 \t ; \t ValueProp \t = \t PropVal",
        )
        .unwrap();
        assert_eq!(ows, b);

        // Values may contain `=`.
        assert_eq!(
            parse("SomeKey=SomeValue=equals").unwrap().get("SomeKey"),
            Some("SomeValue=equals")
        );

        // Percent-encoded value (Python's urllib.parse.quote of "\t \"';=asdf!@#$%^&*()").
        let encoded = "SomeKey=%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29";
        let b = parse(encoded).unwrap();
        assert_eq!(b.get("SomeKey"), Some("\t \"';=asdf!@#$%^&*()"));
        // Our canonical form encodes what is not a `baggage-octet`, and `%`,
        // `+` and `=`.
        assert_eq!(b.to_string(), "SomeKey=%09%20%22'%3B%3Dasdf!@#$%25^&*()");
        assert_eq!(parse(&b.to_string()).unwrap(), b);
        let ows = parse("SomeKey \t = \t %09%20%22%27%3B%3Dasdf \t ").unwrap();
        assert_eq!(ows.get("SomeKey"), Some("\t \"';=asdf"));
    }

    #[test]
    fn limits_from_the_w3c_test_suite() {
        // 64 members are propagated.
        let text = (0..64)
            .map(|x| format!("key{x}=value"))
            .collect::<Vec<_>>()
            .join(",");
        let b = parse(&text).unwrap();
        assert_eq!(b.len(), 64);
        assert_eq!(b.to_string(), text);
        // A baggage-string of exactly 8192 bytes is propagated.
        let long = format!("a={}", "0123456789".repeat(819));
        assert_eq!(long.len(), 8192);
        let b = parse(&long).unwrap();
        assert_eq!(b.encoded_len(), 8192);
        assert_eq!(b.to_string(), long);
        // One more byte and the member is dropped.
        let b = parse(&format!("{long}0")).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn the_first_member_that_does_not_fit_ends_the_baggage() {
        // 65th member dropped.
        let text = (0..65)
            .map(|x| format!("k{x}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let b = parse(&text).unwrap();
        assert_eq!(b.len(), 64);
        assert_eq!(b.get("k64"), None);
        // A big member in the middle ends the list, even if later ones would fit.
        let text = format!("a=1,big={},c=3", "x".repeat(8190));
        let b = parse(&text).unwrap();
        assert_eq!(b.to_string(), "a=1");
        // Members after the limit are not read: no error for them.
        let text = format!(
            "{},%%%",
            (0..64)
                .map(|x| format!("k{x}=v"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse(&text).unwrap().len(), 64);
        // Sizes count the canonical form: a value written with optional
        // whitespace or needless escapes takes its canonical size.
        let b = parse("a  =  %61").unwrap();
        assert_eq!((b.to_string().as_str(), b.encoded_len()), ("a=a", 3));
    }

    #[test]
    fn strict_and_lossy_parsing() {
        let cases: &[(&str, BaggageError)] = &[
            ("a", BaggageError::MissingEquals),
            ("a=1,,b=2", BaggageError::MissingEquals),
            ("=1", BaggageError::InvalidKey),
            ("a b=1", BaggageError::InvalidKey),
            ("a\"=1", BaggageError::InvalidKey),
            ("ключ=1", BaggageError::InvalidKey),
            ("a=x y", BaggageError::InvalidValue),
            ("a=\"x\"", BaggageError::InvalidValue),
            ("a=x\\y", BaggageError::InvalidValue),
            ("a=é", BaggageError::InvalidValue),
            ("a=%", BaggageError::InvalidValue),
            ("a=%4", BaggageError::InvalidValue),
            ("a=%zz", BaggageError::InvalidValue),
            ("a=\u{1}", BaggageError::InvalidValue),
            ("a=1;", BaggageError::InvalidProperty),
            ("a=1;p q", BaggageError::InvalidProperty),
            ("a=1;p=x y", BaggageError::InvalidProperty),
            ("a=1;=x", BaggageError::InvalidProperty),
        ];
        for (input, err) in cases {
            assert_eq!(parse(input), Err(*err), "{input:?}");
            if input.contains(",,") {
                continue;
            }
            let lossy = Baggage::parse_lossy(&format!("before=1,{input},after=2"));
            assert_eq!(lossy.to_string(), "before=1,after=2", "{input:?}");
        }
        // Empty values are allowed.
        assert_eq!(parse("a=").unwrap().get("a"), Some(""));
        assert!(parse(" \t ").unwrap().is_empty());
        assert!(Baggage::parse_lossy(",,, ,").is_empty());
        assert_eq!(Baggage::parse_lossy("a=1,,b=2").to_string(), "a=1,b=2");
    }

    #[test]
    fn insert_and_remove() {
        let mut b = parse("a=1;p,b=2,a=3").unwrap();
        b.insert("a", "new").unwrap();
        assert_eq!(b.to_string(), "a=new,b=2");
        b.insert("c", "x,y;z").unwrap();
        assert_eq!(b.to_string(), "a=new,b=2,c=x%2Cy%3Bz");
        assert_eq!(b.encoded_len(), b.to_string().len());
        assert!(b.remove("b"));
        assert_eq!(b.encoded_len(), b.to_string().len());
        let mut full = Baggage::new();
        for i in 0..64 {
            full.insert(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(
            full.insert("one-more", "v"),
            Err(BaggageError::TooManyMembers)
        );
        // Replacing in a full baggage is fine.
        full.insert("k0", "w").unwrap();
        assert_eq!(full.get("k0"), Some("w"));
    }

    #[test]
    fn round_trip_of_arbitrary_values() {
        let values = [
            "",
            "plain",
            "a b",
            "%",
            "100%",
            "é✓",
            "\u{0}\u{7f}",
            ",;\\\"=",
        ];
        for v in values {
            let mut b = Baggage::new();
            b.insert("k", v).unwrap();
            let text = b.to_string();
            assert!(text.bytes().all(|c| c.is_ascii_graphic()), "{text:?}");
            assert_eq!(parse(&text).unwrap().get("k"), Some(v), "{text:?}");
            assert_eq!(b.encoded_len(), text.len());
        }
    }

    /// Every byte of a written value or key, and whether it is escaped.
    fn escaped_bytes(text: &str) -> Vec<(u8, bool)> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                assert_eq!(hex, hex.to_uppercase(), "{text:?}");
                out.push((u8::from_str_radix(hex, 16).unwrap(), true));
                i += 3;
            } else {
                out.push((bytes[i], false));
                i += 1;
            }
        }
        out
    }

    #[test]
    fn wire_forms_of_values() {
        let table = [
            ("plus", "1+1=2", "1%2B1%3D2"),
            ("space", "DF 28 eu west", "DF%2028%20eu%20west"),
            ("percent", "100%", "100%25"),
            ("escape-like", "%41", "%2541"),
            ("equals", "a=b", "a%3Db"),
            ("comma", "a,b", "a%2Cb"),
            ("semicolon", "a;b", "a%3Bb"),
            ("quotes", "say \"hi\"", "say%20%22hi%22"),
            ("backslash", "C:\\dir", "C:%5Cdir"),
            ("non-ascii", "é✓", "%C3%A9%E2%9C%93"),
            ("controls", "\t\n\u{0}\u{7f}", "%09%0A%00%7F"),
            ("tab-and-space", " x ", "%20x%20"),
            (
                "url",
                "user@example.com/x?y&z#f",
                "user@example.com/x?y&z#f",
            ),
            (
                "punctuation",
                "!$&'()*-./:<>?@[]^_`{|}~",
                "!$&'()*-./:<>?@[]^_`{|}~",
            ),
            ("empty", "", ""),
        ];
        for (key, value, wire) in table {
            let mut b = Baggage::new();
            b.insert(key, value).unwrap();
            assert_eq!(b.to_string(), format!("{key}={wire}"), "{value:?}");
            assert_eq!(b.encoded_len(), b.to_string().len(), "{value:?}");
            let back = parse(&b.to_string()).unwrap();
            assert_eq!(back.get(key), Some(value), "{wire:?}");
            assert_eq!(back, b);
        }
        // Every byte is written as is exactly when it is a `baggage-octet`
        // other than `%`, `+` and `=`.
        let all: String = (0u8..=0x7f).map(char::from).collect::<String>() + "é";
        let mut b = Baggage::new();
        b.insert("k", &all).unwrap();
        let text = b.to_string();
        for (byte, escaped) in escaped_bytes(&text[2..]) {
            let safe = is_baggage_octet(byte) && !b"%+=".contains(&byte);
            assert_eq!(escaped, !safe, "byte {byte:#04x}");
        }
        assert_eq!(parse(&text).unwrap().get("k"), Some(all.as_str()));
    }

    #[test]
    fn keys_are_held_decoded_and_written_as_tokens() {
        // Python's SDK percent-encodes keys (`quote_plus`).
        let b = parse("tok%21en%23key=1").unwrap();
        let member = b.iter().next().unwrap();
        assert_eq!(member.key(), "tok!en#key");
        assert_eq!(b.get("tok!en#key"), Some("1"));
        assert_eq!(b.get("tok%21en%23key"), None);
        // A token needs no escape: written decoded.
        assert_eq!(b.to_string(), "tok!en#key=1");
        assert_eq!(parse("tok!en#key=1").unwrap(), b);

        let table = [
            // (wire, decoded key, written)
            ("plain", "plain", "plain"),
            ("a%20b", "a b", "a%20b"),
            ("k%41", "kA", "kA"),
            ("a+b", "a+b", "a+b"),
            ("100%", "100%", "100%25"),
            ("%zz", "%zz", "%25zz"),
            ("%2541", "%41", "%2541"),
            ("%D0%BA", "к", "%D0%BA"),
            ("%FF", "\u{FFFD}", "%EF%BF%BD"),
            ("a%2Cb%3Dc", "a,b=c", "a%2Cb%3Dc"),
        ];
        for (wire, key, written) in table {
            let b = parse(&format!("{wire}=v")).unwrap();
            assert_eq!(b.iter().next().unwrap().key(), key, "{wire:?}");
            assert_eq!(b.get(key), Some("v"), "{wire:?}");
            assert_eq!(b.to_string(), format!("{written}=v"), "{wire:?}");
            assert_eq!(b.encoded_len(), b.to_string().len(), "{wire:?}");
            assert!(is_token(written), "{written:?}");
            assert_eq!(parse(&b.to_string()).unwrap(), b, "{wire:?}");
        }
        // Two spellings of one key are duplicates: the first wins.
        let b = parse("a=1,%61=2").unwrap();
        assert_eq!(b.get("a"), Some("1"));
        assert_eq!(b.len(), 2);
        // insert and remove take decoded keys.
        let mut b = parse("tok%21en%23key=1,other=2").unwrap();
        b.insert("tok!en#key", "3").unwrap();
        assert_eq!(b.to_string(), "tok!en#key=3,other=2");
        assert!(b.remove("tok!en#key"));
        assert_eq!(b.to_string(), "other=2");
        b.insert("a b", "1").unwrap();
        assert_eq!(b.to_string(), "other=2,a%20b=1");
        assert_eq!(b.insert("", "1"), Err(BaggageError::InvalidKey));
    }

    #[test]
    fn round_trip_of_values_from_other_sdks() {
        // Values as the specification reads them, whoever sent them: written
        // here, then read back, unchanged.
        let values = [
            "1+1=2",
            "DF 28 eu west",
            "+",
            "%2B",
            "a=b=c",
            " leading and trailing ",
            ",;=\\\"",
            "ключ 🎉",
            "\u{1}\u{1f}\u{7f}",
        ];
        for v in values {
            for key in ["k", "tok!en#key", "ключ", "a b"] {
                let mut b = Baggage::new();
                b.insert(key, v).unwrap();
                let text = b.to_string();
                assert!(text.bytes().all(|c| c.is_ascii_graphic()), "{text:?}");
                let (wire_key, wire_value) = text.split_once('=').unwrap();
                assert!(is_token(wire_key), "{text:?}");
                assert!(!wire_value.contains(['+', '=']), "{text:?}");
                let back = parse(&text).unwrap();
                assert_eq!(back.get(key), Some(v), "{text:?}");
                assert_eq!(Baggage::parse_lossy(&text), back);
                // Nothing written here has a bare `+`: the form reading agrees.
                assert_eq!(Baggage::parse_lossy_plus_as_space(&text), back);
            }
        }
    }

    #[test]
    fn plus_as_space_is_an_explicit_reading() {
        let python = "region=DF+28+eu+west,sum=1%2B1%3D2,a+b=1";
        let spec = Baggage::parse_lossy(python);
        assert_eq!(spec.get("region"), Some("DF+28+eu+west"));
        assert_eq!(spec.get("sum"), Some("1+1=2"));
        assert_eq!(spec.get("a+b"), Some("1"));
        let form = Baggage::parse_lossy_plus_as_space(python);
        assert_eq!(form.get("region"), Some("DF 28 eu west"));
        assert_eq!(form.get("sum"), Some("1+1=2"));
        assert_eq!(form.get("a b"), Some("1"));
        assert_eq!(
            form.to_string(),
            "region=DF%2028%20eu%20west,sum=1%2B1%3D2,a%20b=1"
        );
        // Otherwise the same lenient parser, with the same limits.
        assert_eq!(
            Baggage::parse_lossy_plus_as_space("a=1,bad key=2,,c=%zz,d=4").to_string(),
            "a=1,d=4"
        );
        assert!(Baggage::parse_lossy_plus_as_space("").is_empty());
        let huge: String = (0..100).map(|i| format!("k{i}=v+w,")).collect();
        assert_eq!(Baggage::parse_lossy_plus_as_space(&huge).len(), 64);
    }
}
