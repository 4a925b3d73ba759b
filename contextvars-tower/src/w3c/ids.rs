//! Trace ids, span ids and trace flags.

use std::fmt;
use std::str::FromStr;

use crate::random;

/// Why a [`TraceId`], [`SpanId`] or [`TraceFlags`] could not be parsed.
///
/// The message never contains the input, so it is safe to log.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::{ParseIdError, TraceId};
///
/// assert_eq!("4BF92F3577B34DA6A3CE929D0E0E4736".parse::<TraceId>(), Err(ParseIdError::NotLowercaseHex));
/// assert_eq!("00000000000000000000000000000000".parse::<TraceId>(), Err(ParseIdError::AllZero));
/// assert_eq!("4bf9".parse::<TraceId>(), Err(ParseIdError::WrongLength));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseIdError {
    /// Not the expected number of characters (32 for a trace id, 16 for a
    /// span id, 2 for flags).
    WrongLength,
    /// A character other than `0`-`9` and `a`-`f` (the W3C grammar allows
    /// lowercase hex only).
    NotLowercaseHex,
    /// All zeros: the W3C invalid value.
    AllZero,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseIdError::WrongLength => "wrong number of characters",
            ParseIdError::NotLowercaseHex => "not lowercase hexadecimal",
            ParseIdError::AllZero => "all zeros, the invalid id",
        })
    }
}

impl std::error::Error for ParseIdError {}

/// Decodes exactly `N` bytes of lowercase hex.
pub(crate) fn decode_hex<const N: usize>(s: &[u8]) -> Result<[u8; N], ParseIdError> {
    if s.len() != 2 * N {
        return Err(ParseIdError::WrongLength);
    }
    let mut out = [0u8; N];
    // Looked up without a branch per digit; an invalid one sets high bits.
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        invalid |= hi | lo;
        *byte = (hi << 4) | lo;
    }
    if invalid > 0xf {
        return Err(ParseIdError::NotLowercaseHex);
    }
    Ok(out)
}

/// The value of each lowercase hex digit; `0xff` for every other byte.
const HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Encodes `N` bytes as `2 * N` lowercase hex digits (`M` = `2 * N`).
pub(crate) fn encode_hex<const N: usize, const M: usize>(bytes: &[u8; N]) -> [u8; M] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    assert_eq!(M, 2 * N, "two digits per byte");
    let mut out = [0u8; M];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

fn write_hex<const N: usize, const M: usize>(
    f: &mut fmt::Formatter<'_>,
    bytes: &[u8; N],
) -> fmt::Result {
    let digits: [u8; M] = encode_hex(bytes);
    f.write_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"))
}

const fn all_zero(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != 0 {
            return false;
        }
        i += 1;
    }
    true
}

/// A W3C trace id: 16 bytes, never all zero.
///
/// Displayed and parsed as 32 lowercase hex characters, the `trace-id` field
/// of a `traceparent` header.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::TraceId;
///
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(id.to_bytes()[0], 0x4b);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId([u8; 16]);

impl TraceId {
    /// The id with these bytes, or `None` if they are all zero (the W3C
    /// invalid value).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceId;
    ///
    /// assert!(TraceId::from_bytes([0; 16]).is_none());
    /// let id = TraceId::from_bytes([1; 16]).unwrap();
    /// assert_eq!(id.to_string(), "01010101010101010101010101010101");
    /// ```
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        if all_zero(&bytes) {
            None
        } else {
            Some(TraceId(bytes))
        }
    }

    /// The 16 bytes of the id.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceId;
    ///
    /// let id = TraceId::from_bytes([7; 16]).unwrap();
    /// assert_eq!(id.to_bytes(), [7; 16]);
    /// ```
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// A new random id: all 128 bits come from the crate's id generator (see
    /// [Limitations](crate#limitations): random, not cryptographically
    /// secure).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceId;
    ///
    /// assert_ne!(TraceId::random(), TraceId::random());
    /// ```
    pub fn random() -> TraceId {
        loop {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&random::next_u64().to_be_bytes());
            bytes[8..].copy_from_slice(&random::next_u64().to_be_bytes());
            if let Some(id) = TraceId::from_bytes(bytes) {
                return id;
            }
        }
    }
}

impl FromStr for TraceId {
    type Err = ParseIdError;

    /// Parses 32 lowercase hex characters, not all zero.
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] for any other input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::from_bytes(decode_hex(s.as_bytes())?).ok_or(ParseIdError::AllZero)
    }
}

impl fmt::Display for TraceId {
    /// 32 lowercase hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex::<16, 32>(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// A W3C span id (the `parent-id` field of `traceparent`): 8 bytes, never
/// all zero.
///
/// Displayed and parsed as 16 lowercase hex characters.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::SpanId;
///
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// assert!("0000000000000000".parse::<SpanId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId([u8; 8]);

impl SpanId {
    /// The id with these bytes, or `None` if they are all zero (the W3C
    /// invalid value).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::SpanId;
    ///
    /// assert!(SpanId::from_bytes([0; 8]).is_none());
    /// assert_eq!(SpanId::from_bytes([0xab; 8]).unwrap().to_string(), "abababababababab");
    /// ```
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<SpanId> {
        if all_zero(&bytes) {
            None
        } else {
            Some(SpanId(bytes))
        }
    }

    /// The 8 bytes of the id.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::SpanId;
    ///
    /// assert_eq!(SpanId::from_bytes([3; 8]).unwrap().to_bytes(), [3; 8]);
    /// ```
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// A new random id (see [`TraceId::random`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::SpanId;
    ///
    /// assert_ne!(SpanId::random(), SpanId::random());
    /// ```
    pub fn random() -> SpanId {
        loop {
            if let Some(id) = SpanId::from_bytes(random::next_u64().to_be_bytes()) {
                return id;
            }
        }
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;

    /// Parses 16 lowercase hex characters, not all zero.
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] for any other input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanId::from_bytes(decode_hex(s.as_bytes())?).ok_or(ParseIdError::AllZero)
    }
}

impl fmt::Display for SpanId {
    /// 16 lowercase hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex::<8, 16>(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The 8-bit `trace-flags` field of `traceparent`.
///
/// Level 1 of W3C Trace Context defines one flag, [`SAMPLED`](TraceFlags::SAMPLED)
/// (`0x01`); Level 2 adds [`RANDOM`](TraceFlags::RANDOM) (`0x02`: the trace
/// id's rightmost 7 bytes are random). The other bits are reserved. Parsing
/// keeps all 8 bits; see [`TraceContext::from_parent`](crate::TraceContext::from_parent)
/// for which bits are propagated.
///
/// # Examples
///
/// ```
/// use contextvars_tower::w3c::TraceFlags;
///
/// let flags: TraceFlags = "01".parse().unwrap();
/// assert!(flags.is_sampled());
/// assert_eq!(flags, TraceFlags::SAMPLED);
/// assert_eq!(TraceFlags::default().to_string(), "00");
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: TraceFlags = TraceFlags(0);
    /// The caller may have recorded trace data (`0x01`).
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// Trace Context Level 2: the trace id's rightmost 7 bytes are random
    /// (`0x02`).
    pub const RANDOM: TraceFlags = TraceFlags(0x02);

    /// Flags from their 8 bits, reserved bits included.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert_eq!(TraceFlags::from_bits(0x09).bits(), 0x09);
    /// assert!(TraceFlags::from_bits(0x09).is_sampled());
    /// ```
    pub const fn from_bits(bits: u8) -> TraceFlags {
        TraceFlags(bits)
    }

    /// The 8 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert_eq!(TraceFlags::SAMPLED.bits(), 1);
    /// ```
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert!(TraceFlags::from_bits(0x03).is_sampled());
    /// assert!(!TraceFlags::from_bits(0x02).is_sampled());
    /// ```
    pub const fn is_sampled(self) -> bool {
        self.0 & TraceFlags::SAMPLED.0 != 0
    }

    /// The same flags with the `sampled` bit set or cleared.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert_eq!(TraceFlags::NONE.with_sampled(true), TraceFlags::SAMPLED);
    /// assert_eq!(TraceFlags::from_bits(0x03).with_sampled(false).bits(), 0x02);
    /// ```
    pub const fn with_sampled(self, sampled: bool) -> TraceFlags {
        if sampled {
            TraceFlags(self.0 | TraceFlags::SAMPLED.0)
        } else {
            TraceFlags(self.0 & !TraceFlags::SAMPLED.0)
        }
    }

    /// The flags in both `self` and `mask`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert_eq!(TraceFlags::from_bits(0xff).intersection(TraceFlags::SAMPLED), TraceFlags::SAMPLED);
    /// ```
    pub const fn intersection(self, mask: TraceFlags) -> TraceFlags {
        TraceFlags(self.0 & mask.0)
    }
}

impl FromStr for TraceFlags {
    type Err = ParseIdError;

    /// Parses 2 lowercase hex characters; every value is valid.
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] for any other input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let [bits] = decode_hex::<1>(s.as_bytes())?;
        Ok(TraceFlags(bits))
    }
}

impl fmt::Display for TraceFlags {
    /// 2 lowercase hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips_the_spec_example() {
        let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            id.to_bytes(),
            [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36
            ]
        );
    }

    #[test]
    fn ids_reject_bad_input() {
        let cases: &[(&str, ParseIdError)] = &[
            ("", ParseIdError::WrongLength),
            ("4bf92f3577b34da6a3ce929d0e0e473", ParseIdError::WrongLength),
            (
                "4bf92f3577b34da6a3ce929d0e0e47361",
                ParseIdError::WrongLength,
            ),
            (
                "4BF92F3577B34DA6A3CE929D0E0E4736",
                ParseIdError::NotLowercaseHex,
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473g",
                ParseIdError::NotLowercaseHex,
            ),
            (
                ".bf92f3577b34da6a3ce929d0e0e4736",
                ParseIdError::NotLowercaseHex,
            ),
            (
                "+bf92f3577b34da6a3ce929d0e0e4736",
                ParseIdError::NotLowercaseHex,
            ),
            ("00000000000000000000000000000000", ParseIdError::AllZero),
        ];
        for (input, err) in cases {
            assert_eq!(input.parse::<TraceId>(), Err(*err), "{input:?}");
        }
        // A multi-byte character of the right byte length.
        assert_eq!(
            "é4bf92f3577b34da6a3ce929d0e0e47".parse::<TraceId>(),
            Err(ParseIdError::NotLowercaseHex)
        );
        assert_eq!(
            "0000000000000000".parse::<SpanId>(),
            Err(ParseIdError::AllZero)
        );
        assert_eq!(
            "00F067AA0BA902B7".parse::<SpanId>(),
            Err(ParseIdError::NotLowercaseHex)
        );
        assert_eq!("0".parse::<TraceFlags>(), Err(ParseIdError::WrongLength));
        assert_eq!(
            "0G".parse::<TraceFlags>(),
            Err(ParseIdError::NotLowercaseHex)
        );
    }

    #[test]
    fn every_flag_value_parses_and_displays() {
        for bits in 0..=255u8 {
            let text = format!("{bits:02x}");
            let flags: TraceFlags = text.parse().unwrap();
            assert_eq!(flags.bits(), bits);
            assert_eq!(flags.to_string(), text);
        }
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| TraceId::random()).collect();
        assert_eq!(ids.len(), 1000);
        let spans: std::collections::HashSet<_> = (0..1000).map(|_| SpanId::random()).collect();
        assert_eq!(spans.len(), 1000);
    }
}
