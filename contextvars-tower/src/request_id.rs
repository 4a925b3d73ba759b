//! Request ids.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

use crate::w3c::TraceId;

/// Why a string is not a valid [`RequestId`].
///
/// The message never contains the input, so it is safe to log.
///
/// # Examples
///
/// ```
/// use contextvars_tower::{InvalidRequestId, RequestId};
///
/// assert_eq!(RequestId::new(""), Err(InvalidRequestId::Empty));
/// assert_eq!(RequestId::new(&"a".repeat(129)), Err(InvalidRequestId::TooLong));
/// assert_eq!(RequestId::new("a\r\nb"), Err(InvalidRequestId::InvalidByte { index: 1 }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidRequestId {
    /// No characters.
    Empty,
    /// More than [`RequestId::MAX_LEN`] bytes.
    TooLong,
    /// A byte that is not visible ASCII (0x21–0x7E), at this index: a space,
    /// a control character such as CR or LF, DEL, or any non-ASCII byte.
    InvalidByte {
        /// Index of the first such byte.
        index: usize,
    },
}

impl fmt::Display for InvalidRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidRequestId::Empty => f.write_str("invalid request id: empty"),
            InvalidRequestId::TooLong => write!(
                f,
                "invalid request id: longer than {} bytes",
                RequestId::MAX_LEN
            ),
            InvalidRequestId::InvalidByte { index } => {
                write!(f, "invalid request id: byte {index} is not visible ASCII")
            }
        }
    }
}

impl std::error::Error for InvalidRequestId {}

/// A request id: 1 to 128 bytes of visible ASCII (0x21–0x7E).
///
/// That excludes spaces, CR, LF and every other control character, and
/// non-ASCII bytes, so a `RequestId` can go into a log line or a header as
/// is, without escaping and without log injection. It is the value of
/// [`REQUEST_ID`](crate::REQUEST_ID), and what the server layer reads from
/// `x-request-id`. Cloning is cheap (a reference count).
///
/// # Examples
///
/// ```
/// use contextvars_tower::RequestId;
///
/// let id: RequestId = "req-42".parse().unwrap();
/// assert_eq!(id.as_str(), "req-42");
/// assert!("req 42".parse::<RequestId>().is_err());
///
/// let fresh = RequestId::new_v7();
/// assert_eq!(fresh.as_str().len(), 36);
/// ```
// Held as the header value it travels as: taking an id from a request's
// header and echoing it copies nothing.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The longest request id accepted, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validates `id`.
    ///
    /// # Errors
    ///
    /// [`InvalidRequestId`] if `id` is empty, longer than
    /// [`MAX_LEN`](RequestId::MAX_LEN) bytes, or has a byte outside
    /// 0x21–0x7E.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    ///
    /// assert!(RequestId::new("0190b6a4-5f3c-7b2a-9d4e-8f1a2b3c4d5e").is_ok());
    /// assert!(RequestId::new("naïve").is_err());
    /// ```
    pub fn new(id: &str) -> Result<RequestId, InvalidRequestId> {
        RequestId::from_bytes(id.as_bytes())
    }

    /// Validates raw bytes, such as a header value.
    ///
    /// # Errors
    ///
    /// As [`new`](RequestId::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    ///
    /// assert_eq!(RequestId::from_bytes(b"abc").unwrap().as_str(), "abc");
    /// assert!(RequestId::from_bytes(b"\xff").is_err());
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<RequestId, InvalidRequestId> {
        validate(bytes)?;
        Ok(RequestId(
            HeaderValue::from_bytes(bytes).expect("visible ASCII is a valid header value"),
        ))
    }

    /// Takes a request id from a header value, without copying it.
    ///
    /// # Errors
    ///
    /// As [`RequestId::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    /// use http::HeaderValue;
    ///
    /// let header = HeaderValue::from_static("req-1");
    /// assert_eq!(RequestId::from_header_value(&header).unwrap().as_str(), "req-1");
    /// assert!(RequestId::from_header_value(&HeaderValue::from_static("a b")).is_err());
    /// ```
    pub fn from_header_value(value: &HeaderValue) -> Result<RequestId, InvalidRequestId> {
        validate(value.as_bytes())?;
        Ok(RequestId(value.clone()))
    }

    /// A new UUIDv7 (RFC 9562) request id, in the usual 36-character form:
    /// unique, and sortable by creation time. Ids made by one process are
    /// strictly increasing, across threads: the 12 bits after the version
    /// count the ids of each millisecond. On Linux the millisecond is read
    /// from the coarse real-time clock (`CLOCK_REALTIME_COARSE`, the time of
    /// the last scheduler tick: a few milliseconds behind at most), which
    /// takes a few nanoseconds where the precise clock takes tens. The other
    /// 62 bits are random (not from a cryptographic generator: ids are
    /// unique, not secret).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    ///
    /// let a = RequestId::new_v7();
    /// let b = RequestId::new_v7();
    /// assert!(a < b);
    /// assert_eq!(&a.as_str()[14..15], "7"); // the version digit
    /// ```
    pub fn new_v7() -> RequestId {
        let mut digits = [0; uuid::fmt::Hyphenated::LENGTH];
        let (high, low) = crate::uuid_v7::next();
        uuid::Uuid::from_u64_pair(high, low)
            .hyphenated()
            .encode_lower(&mut digits);
        RequestId::from_owned_digits(digits)
    }

    /// A request id made here (not received), from visible ASCII.
    ///
    /// The bytes are moved into a buffer of their own rather than copied
    /// into a `Vec`, so that the clones the layer hands out (request and
    /// response headers and extensions, the context variable) share it
    /// without allocating again.
    fn from_owned_digits<const N: usize>(digits: [u8; N]) -> RequestId {
        debug_assert!(validate(&digits).is_ok());
        RequestId(
            HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(digits))
                .expect("visible ASCII is a valid header value"),
        )
    }

    /// The id.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    ///
    /// assert_eq!(RequestId::new("x").unwrap().as_str(), "x");
    /// ```
    pub fn as_str(&self) -> &str {
        // Validated visible ASCII, so valid UTF-8; `from_utf8` checks ASCII
        // a word at a time, `HeaderValue::to_str` a byte at a time.
        std::str::from_utf8(self.0.as_bytes()).expect("a request id is validated visible ASCII")
    }

    /// The id as a header value (always valid). Shares the id's bytes: no
    /// allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    ///
    /// let id = RequestId::new("req-1").unwrap();
    /// assert_eq!(id.to_header_value(), "req-1");
    /// ```
    pub fn to_header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The id as a header value, without a new reference to its bytes.
    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

fn validate(bytes: &[u8]) -> Result<(), InvalidRequestId> {
    if bytes.is_empty() {
        return Err(InvalidRequestId::Empty);
    }
    if bytes.len() > RequestId::MAX_LEN {
        return Err(InvalidRequestId::TooLong);
    }
    match bytes.iter().position(|b| !matches!(b, 0x21..=0x7e)) {
        Some(index) => Err(InvalidRequestId::InvalidByte { index }),
        None => Ok(()),
    }
}

impl From<TraceId> for RequestId {
    /// The trace id's 32 hex characters, so that request id and trace id
    /// agree.
    ///
    /// ```
    /// use contextvars_tower::RequestId;
    /// use contextvars_tower::w3c::TraceId;
    ///
    /// let trace_id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    /// assert_eq!(RequestId::from(trace_id).as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    fn from(trace_id: TraceId) -> RequestId {
        let digits: [u8; 32] = crate::w3c::encode_hex(&trace_id.to_bytes());
        RequestId::from_owned_digits(digits)
    }
}

impl FromStr for RequestId {
    type Err = InvalidRequestId;

    /// As [`RequestId::new`].
    ///
    /// # Errors
    ///
    /// As [`RequestId::new`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestId::new(s)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert!(RequestId::new(&"a".repeat(128)).is_ok());
        assert_eq!(
            RequestId::new(&"a".repeat(129)),
            Err(InvalidRequestId::TooLong)
        );
        let all_visible: String = (0x21u8..=0x7e).map(char::from).collect();
        assert_eq!(RequestId::new(&all_visible).unwrap().as_str(), all_visible);
        for b in (0u8..=0x20).chain([0x7f, 0x80, 0xc3, 0xff]) {
            assert_eq!(
                RequestId::from_bytes(&[b'a', b]),
                Err(InvalidRequestId::InvalidByte { index: 1 }),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn v7_ids_are_valid_and_ordered() {
        let ids: Vec<RequestId> = (0..100).map(|_| RequestId::new_v7()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for id in &ids {
            assert!(RequestId::new(id.as_str()).is_ok());
            assert_eq!(
                uuid::Uuid::parse_str(id.as_str())
                    .unwrap()
                    .get_version_num(),
                7
            );
        }
    }
}
