//! Request-id policy: where new ids come from, whose ids are taken, and what
//! the layer reports when it rejects an incoming value.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, HeaderValue};

use crate::carrier::Extractor;
use crate::request_id::{InvalidRequestId, RequestId};
use crate::w3c::{BaggageError, ParseTraceParentError, ParseTraceStateError};
use contextvars::propagation::{DropReason, Dropped};

/// Makes the request ids of requests that do not bring a usable one: the
/// id generator of a [`RequestContextLayer`](crate::RequestContextLayer)
/// (set with [`make_request_id`](crate::RequestContextLayer::make_request_id)).
///
/// The default generator makes UUIDv7s ([`RequestId::new_v7`]). Any
/// `Fn() -> RequestId + Send + Sync + 'static` is a `MakeRequestId`, so a
/// closure will do; implement the trait on a type of your own for a
/// generator with state, such as a counter. The generator is shared by
/// every clone of the layer and called from any thread, hence `&self` and
/// `Sync`: keep its state in atomics or behind a lock.
///
/// It is called at most once per request, only when the request runs with
/// a new id: the request has no request id header, or its id was
/// rejected (invalid, repeated, or not [trusted](TrustPolicy)), and no
/// trusted `traceparent` supplies one.
///
/// # Examples
///
/// UUIDv4 ids, as tower-http's `MakeRequestUuid` makes (with the `uuid`
/// crate and its `v4` feature):
///
/// ```
/// use contextvars_tower::{RequestContextLayer, RequestId};
///
/// let layer = RequestContextLayer::new()
///     .make_request_id(|| RequestId::new(&uuid::Uuid::new_v4().to_string()).unwrap());
/// # drop(layer);
/// ```
///
/// A ULID-like id (a millisecond timestamp, then random bits, in
/// Crockford's base 32: 26 characters that sort by time):
///
/// ```
/// use std::time::{SystemTime, UNIX_EPOCH};
/// use contextvars_tower::{RequestContextLayer, RequestId};
///
/// fn ulid_like() -> RequestId {
///     const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
///     let millis = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
///     // Any source of random bits; here the standard library's per-process keys.
///     let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), millis);
///     let value = (millis << 80) | u128::from(random);
///     let text: String = (0..26)
///         .rev()
///         .map(|i| char::from(ALPHABET[((value >> (i * 5)) & 31) as usize]))
///         .collect();
///     RequestId::new(&text).expect("base 32 is visible ASCII")
/// }
///
/// let layer = RequestContextLayer::new().make_request_id(ulid_like);
/// # drop(layer);
/// assert_eq!(ulid_like().as_str().len(), 26);
/// ```
///
/// Ids from a counter, with a prefix naming the instance:
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use contextvars_tower::{MakeRequestId, RequestContextLayer, RequestId, REQUEST_ID};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// struct Counter {
///     instance: &'static str,
///     next: AtomicU64,
/// }
///
/// impl MakeRequestId for Counter {
///     fn make_request_id(&self) -> RequestId {
///         let n = self.next.fetch_add(1, Ordering::Relaxed);
///         RequestId::new(&format!("{}-{n}", self.instance)).expect("visible ASCII")
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = RequestContextLayer::new()
///     .make_request_id(Counter { instance: "api-1", next: AtomicU64::new(0) });
/// let svc = layer.layer(service_fn(|_req: http::Request<()>| async {
///     Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get().to_string()))
/// }));
/// let first = svc.clone().oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(first.headers()["x-request-id"], "api-1-0");
/// let second = svc.oneshot(http::Request::new(())).await.unwrap();
/// assert_eq!(second.into_body(), "api-1-1");
/// # }
/// ```
pub trait MakeRequestId: Send + Sync + 'static {
    /// A new request id.
    fn make_request_id(&self) -> RequestId;
}

impl<F> MakeRequestId for F
where
    F: Fn() -> RequestId + Send + Sync + 'static,
{
    fn make_request_id(&self) -> RequestId {
        self()
    }
}

/// Why an [`IpNetwork`] could not be parsed or made.
///
/// The message never contains the input.
///
/// # Examples
///
/// ```
/// use contextvars_tower::{InvalidIpNetwork, IpNetwork};
///
/// assert_eq!("10.0.0.0/33".parse::<IpNetwork>(), Err(InvalidIpNetwork::PrefixTooLong));
/// assert_eq!("10.0.0.0/x".parse::<IpNetwork>(), Err(InvalidIpNetwork::InvalidPrefix));
/// assert_eq!("10.0.0/8".parse::<IpNetwork>(), Err(InvalidIpNetwork::InvalidAddress));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidIpNetwork {
    /// The address part is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// The part after `/` is not a decimal number.
    InvalidPrefix,
    /// The prefix length is over 32 (IPv4) or 128 (IPv6).
    PrefixTooLong,
}

impl fmt::Display for InvalidIpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidIpNetwork::InvalidAddress => "invalid IP network: invalid address",
            InvalidIpNetwork::InvalidPrefix => "invalid IP network: invalid prefix length",
            InvalidIpNetwork::PrefixTooLong => {
                "invalid IP network: prefix length over 32 (IPv4) or 128 (IPv6)"
            }
        })
    }
}

impl std::error::Error for InvalidIpNetwork {}

/// An IPv4 or IPv6 network: an address and a prefix length, written in
/// CIDR notation (`10.0.0.0/8`, `fd00::/8`); a lone address is a network of
/// one (`192.0.2.7` is `192.0.2.7/32`). The peers of a
/// [`TrustPolicy::peers`] policy.
///
/// The bits of the address after the prefix are ignored: `10.1.2.3/8` is
/// `10.0.0.0/8`. IPv4 addresses mapped into IPv6 (`::ffff:10.0.0.1`, as a
/// dual-stack socket reports IPv4 peers) are matched as the IPv4 address
/// they carry.
///
/// # Examples
///
/// ```
/// use std::net::IpAddr;
/// use contextvars_tower::IpNetwork;
///
/// let private: IpNetwork = "10.0.0.0/8".parse().unwrap();
/// assert!(private.contains("10.20.30.40".parse::<IpAddr>().unwrap()));
/// assert!(private.contains("::ffff:10.0.0.1".parse::<IpAddr>().unwrap()));
/// assert!(!private.contains("11.0.0.1".parse::<IpAddr>().unwrap()));
///
/// let host: IpNetwork = "::1".parse().unwrap();
/// assert_eq!(host.prefix_len(), 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNetwork {
    /// The network of `addr`'s first `prefix_len` bits.
    ///
    /// # Errors
    ///
    /// [`InvalidIpNetwork::PrefixTooLong`] if `prefix_len` is over 32 for
    /// an IPv4 address or over 128 for an IPv6 address.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use contextvars_tower::IpNetwork;
    ///
    /// let net = IpNetwork::new(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16).unwrap();
    /// assert!(net.contains(IpAddr::V4(Ipv4Addr::new(192, 168, 7, 1))));
    /// assert!(IpNetwork::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40).is_err());
    /// ```
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<IpNetwork, InvalidIpNetwork> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix_len > max {
            return Err(InvalidIpNetwork::PrefixTooLong);
        }
        Ok(IpNetwork { addr, prefix_len })
    }

    /// The address, as given.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::IpNetwork;
    ///
    /// let net: IpNetwork = "10.1.2.3/8".parse().unwrap();
    /// assert_eq!(net.addr().to_string(), "10.1.2.3");
    /// ```
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length, in bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::IpNetwork;
    ///
    /// assert_eq!("10.0.0.0/8".parse::<IpNetwork>().unwrap().prefix_len(), 8);
    /// assert_eq!("10.0.0.1".parse::<IpNetwork>().unwrap().prefix_len(), 32);
    /// ```
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `addr` is in this network. An IPv4 address is never in an
    /// IPv6 network, nor the reverse, except that IPv4-mapped IPv6
    /// addresses (`::ffff:a.b.c.d`) are taken as their IPv4 address.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use contextvars_tower::IpNetwork;
    ///
    /// let net: IpNetwork = "fd00::/8".parse().unwrap();
    /// assert!(net.contains("fd12::1".parse::<IpAddr>().unwrap()));
    /// assert!(!net.contains("fe80::1".parse::<IpAddr>().unwrap()));
    /// assert!(!net.contains("10.0.0.1".parse::<IpAddr>().unwrap()));
    /// ```
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr.to_canonical(), addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                // A network written as IPv4-mapped IPv6 keeps its prefix
                // relative to 128 bits.
                let prefix = match self.addr {
                    IpAddr::V4(_) => u32::from(self.prefix_len),
                    IpAddr::V6(_) => u32::from(self.prefix_len).saturating_sub(96),
                };
                let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let prefix = u32::from(self.prefix_len);
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = InvalidIpNetwork;

    /// Parses `address/prefix-length`, or an address alone (a network of one
    /// address).
    ///
    /// # Errors
    ///
    /// [`InvalidIpNetwork`] if the address or the prefix length is invalid.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| InvalidIpNetwork::InvalidAddress)?;
        let prefix_len = match prefix {
            None if addr.is_ipv4() => 32,
            None => 128,
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix
                    .parse()
                    .map_err(|_| InvalidIpNetwork::PrefixTooLong)?
            }
            Some(_) => return Err(InvalidIpNetwork::InvalidPrefix),
        };
        IpNetwork::new(addr, prefix_len)
    }
}

impl From<IpAddr> for IpNetwork {
    /// The network of this one address.
    fn from(addr: IpAddr) -> IpNetwork {
        let prefix_len = if addr.is_ipv4() { 32 } else { 128 };
        IpNetwork { addr, prefix_len }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// How a request's remote address is found in its extensions.
type PeerAddrFn = fn(&Extensions) -> Option<SocketAddr>;

/// The remote address axum puts into each request's extensions as
/// `ConnectInfo<SocketAddr>` (with `into_make_service_with_connect_info`,
/// or `contextvars_tower::serve_with_layer_and_connect_info`).
#[cfg(feature = "axum")]
fn axum_connect_info(extensions: &Extensions) -> Option<SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}

#[cfg(not(feature = "axum"))]
fn axum_connect_info(_: &Extensions) -> Option<SocketAddr> {
    None
}

#[derive(Clone)]
enum Trust {
    All,
    Nothing,
    Peers {
        networks: Arc<[IpNetwork]>,
        peer_addr: PeerAddrFn,
    },
    Header {
        name: HeaderName,
        value: HeaderValue,
    },
}

/// Whose incoming request ids a [`RequestContextLayer`](crate::RequestContextLayer)
/// takes (set with
/// [`trust_incoming_ids`](crate::RequestContextLayer::trust_incoming_ids)).
///
/// A request id travels from the client in the request id header
/// (`x-request-id`), or, when that is absent or invalid, as the trace id of
/// the request's `traceparent`. A request whose ids are **trusted** runs
/// with the first valid one; a request whose ids are **not trusted** runs
/// with a new id from the layer's [generator](MakeRequestId), and its
/// request id header is replaced with it, so no code inside the layer ever
/// sees the client's value. The policy decides only where the request id
/// comes from: a valid `traceparent` continues the caller's trace either
/// way, and baggage is read either way.
///
/// * [`TrustPolicy::all`] (the default): every request's ids are trusted.
///   Request ids are only correlation keys, validated so that they are
///   safe to log and echo; taking the caller's id is what makes a request
///   traceable across services, and what `x-request-id` middleware does
///   everywhere (tower-http's `SetRequestIdLayer` keeps any id it finds).
/// * [`TrustPolicy::nothing`]: every request gets a new id; incoming ids
///   are ignored (and reported as [`RejectReason::Untrusted`]). For a
///   service exposed to clients whose ids must not reach its logs.
/// * [`TrustPolicy::peers`]: trusted only from peers whose address is in
///   the given networks, such as the load balancer in front of the
///   service. The address is read from the request's extensions (axum's
///   `ConnectInfo<SocketAddr>` by default, see
///   [`peer_addr_from`](TrustPolicy::peer_addr_from)); a request without
///   one is not trusted.
/// * [`TrustPolicy::header`]: trusted only when a header added by a trusted
///   proxy is present with the configured value, for when peer addresses
///   say nothing (several proxy hops, a service mesh). The proxy must
///   remove that header from what clients send; use a secret value.
///
/// Carriers read with [`RequestContextLayer::extract`](crate::RequestContextLayer::extract)
/// have no peer address: under [`TrustPolicy::peers`] their ids are never
/// trusted.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use contextvars_tower::{RequestContextLayer, TrustPolicy, REQUEST_ID};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = RequestContextLayer::new().trust_incoming_ids(TrustPolicy::nothing());
/// let svc = layer.layer(service_fn(|req: http::Request<()>| async move {
///     // The request header holds the new id too.
///     assert_eq!(req.headers()["x-request-id"], REQUEST_ID.get().as_str());
///     Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get().to_string()))
/// }));
/// let req = http::Request::builder().header("x-request-id", "from-client").body(()).unwrap();
/// let id = svc.oneshot(req).await.unwrap().into_body();
/// assert_ne!(id, "from-client");
/// assert_eq!(id.len(), 36); // a UUIDv7
/// # }
/// ```
#[derive(Clone)]
pub struct TrustPolicy(Trust);

impl TrustPolicy {
    /// Trusts every request's ids: the default.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy};
    ///
    /// let layer = RequestContextLayer::new().trust_incoming_ids(TrustPolicy::all());
    /// # drop(layer);
    /// ```
    pub const fn all() -> TrustPolicy {
        TrustPolicy(Trust::All)
    }

    /// Trusts no request's ids: every request gets a new one.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy};
    ///
    /// let layer = RequestContextLayer::new().trust_incoming_ids(TrustPolicy::nothing());
    /// # drop(layer);
    /// ```
    pub fn nothing() -> TrustPolicy {
        TrustPolicy(Trust::Nothing)
    }

    /// Trusts the ids of requests whose remote address is in one of
    /// `networks`; an empty list trusts nothing.
    ///
    /// The remote address is axum's `ConnectInfo<SocketAddr>` request
    /// extension (with the crate feature `axum`), which axum adds when the
    /// application is served with `into_make_service_with_connect_info` (or
    /// `contextvars_tower::serve_with_layer_and_connect_info`, feature
    /// `axum`). Other servers put
    /// the address elsewhere: name it with
    /// [`peer_addr_from`](TrustPolicy::peer_addr_from). A request without
    /// an address is not trusted.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::{IpNetwork, RequestContextLayer, TrustPolicy};
    ///
    /// let proxies: Vec<IpNetwork> = ["10.0.0.0/8", "fd00::/8"]
    ///     .into_iter()
    ///     .map(|net| net.parse().unwrap())
    ///     .collect();
    /// let layer = RequestContextLayer::new().trust_incoming_ids(TrustPolicy::peers(proxies));
    /// # drop(layer);
    /// ```
    pub fn peers(networks: impl IntoIterator<Item = IpNetwork>) -> TrustPolicy {
        TrustPolicy(Trust::Peers {
            networks: networks.into_iter().collect(),
            peer_addr: axum_connect_info,
        })
    }

    /// Where a [`peers`](TrustPolicy::peers) policy finds a request's
    /// remote address: `peer_addr` reads it from the request's extensions.
    /// Has no effect on the other policies.
    ///
    /// # Examples
    ///
    /// A server that stores the address in an extension of its own:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::net::SocketAddr;
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy, REQUEST_ID};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// #[derive(Clone, Copy)]
    /// struct Peer(SocketAddr);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let policy = TrustPolicy::peers(["127.0.0.0/8".parse().unwrap()])
    ///     .peer_addr_from(|extensions| extensions.get::<Peer>().map(|peer| peer.0));
    /// let svc = RequestContextLayer::new().trust_incoming_ids(policy).layer(service_fn(
    ///     |_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get())) },
    /// ));
    ///
    /// let mut req = http::Request::builder().header("x-request-id", "r-1").body(()).unwrap();
    /// req.extensions_mut().insert(Peer("127.0.0.1:50000".parse().unwrap()));
    /// assert_eq!(svc.clone().oneshot(req).await.unwrap().body().as_str(), "r-1");
    ///
    /// let mut req = http::Request::builder().header("x-request-id", "r-2").body(()).unwrap();
    /// req.extensions_mut().insert(Peer("192.0.2.1:50000".parse().unwrap()));
    /// assert_ne!(svc.oneshot(req).await.unwrap().body().as_str(), "r-2");
    /// # }
    /// ```
    pub fn peer_addr_from(
        mut self,
        peer_addr: fn(&Extensions) -> Option<SocketAddr>,
    ) -> TrustPolicy {
        if let Trust::Peers {
            peer_addr: slot, ..
        } = &mut self.0
        {
            *slot = peer_addr;
        }
        self
    }

    /// Trusts the ids of requests that have exactly one `name` header,
    /// equal to `value`: a header that a trusted proxy adds.
    ///
    /// The proxy must remove any `name` header that clients send, or a
    /// client can claim to be the proxy; a secret `value` (compared in
    /// constant time) keeps clients from guessing it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextLayer, TrustPolicy, REQUEST_ID};
    /// use http::{HeaderName, HeaderValue};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let policy = TrustPolicy::header(
    ///     HeaderName::from_static("x-via-edge"),
    ///     HeaderValue::from_static("s3cr3t"),
    /// );
    /// let svc = RequestContextLayer::new().trust_incoming_ids(policy).layer(service_fn(
    ///     |_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get())) },
    /// ));
    ///
    /// let via_edge = http::Request::builder()
    ///     .header("x-request-id", "r-1")
    ///     .header("x-via-edge", "s3cr3t")
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(svc.clone().oneshot(via_edge).await.unwrap().body().as_str(), "r-1");
    ///
    /// let direct = http::Request::builder().header("x-request-id", "r-2").body(()).unwrap();
    /// assert_ne!(svc.oneshot(direct).await.unwrap().body().as_str(), "r-2");
    /// # }
    /// ```
    pub fn header(name: HeaderName, value: HeaderValue) -> TrustPolicy {
        TrustPolicy(Trust::Header { name, value })
    }

    /// Whether this is the default, [`all`](TrustPolicy::all).
    pub(crate) fn trusts_all(&self) -> bool {
        matches!(self.0, Trust::All)
    }

    /// Whether the ids of a request with these headers and extensions are
    /// trusted.
    pub(crate) fn trusts_request(&self, headers: &HeaderMap, extensions: &Extensions) -> bool {
        match &self.0 {
            Trust::All => true,
            Trust::Nothing => false,
            Trust::Peers {
                networks,
                peer_addr,
            } => peer_addr(extensions)
                .is_some_and(|addr| networks.iter().any(|net| net.contains(addr.ip()))),
            Trust::Header { name, value } => {
                let mut values = headers.get_all(name).iter();
                match (values.next(), values.next()) {
                    (Some(found), None) => secret_eq(found.as_bytes(), value.as_bytes()),
                    _ => false,
                }
            }
        }
    }

    /// Whether the ids of a carrier with these fields are trusted: there is
    /// no peer address.
    pub(crate) fn trusts_fields<E: Extractor + ?Sized>(&self, carrier: &E) -> bool {
        match &self.0 {
            Trust::All => true,
            Trust::Nothing | Trust::Peers { .. } => false,
            Trust::Header { name, value } => {
                let mut values = carrier
                    .fields()
                    .filter(|(field, _)| field.eq_ignore_ascii_case(name.as_str()));
                match (values.next(), values.next()) {
                    (Some((_, found)), None) => secret_eq(found, value.as_bytes()),
                    _ => false,
                }
            }
        }
    }
}

/// `a == b`, in a time that depends on their lengths only.
fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Default for TrustPolicy {
    /// [`TrustPolicy::all`].
    fn default() -> Self {
        TrustPolicy::all()
    }
}

impl fmt::Debug for TrustPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Trust::All => f.write_str("TrustPolicy::All"),
            Trust::Nothing => f.write_str("TrustPolicy::Nothing"),
            Trust::Peers { networks, .. } => f
                .debug_tuple("TrustPolicy::Peers")
                .field(&&networks[..])
                .finish(),
            // The value may be a secret.
            Trust::Header { name, .. } => f.debug_tuple("TrustPolicy::Header").field(name).finish(),
        }
    }
}

/// The incoming value a [`Rejection`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IncomingField {
    /// The request id header (`x-request-id` by default).
    RequestId,
    /// `traceparent`.
    TraceParent,
    /// `tracestate`.
    TraceState,
    /// `baggage`.
    Baggage,
    /// The whole header section (or carrier), over
    /// [`max_header_bytes`](crate::RequestContextLayer::max_header_bytes):
    /// none of its fields was read.
    HeaderList,
    /// The `baggage` member of an
    /// [accepted](crate::RequestContextLayer::accept) propagated variable,
    /// by the variable's name: its value was not bound, and the member (every
    /// member of that name) was taken out of [`BAGGAGE`](crate::BAGGAGE).
    Variable(&'static str),
}

impl fmt::Display for IncomingField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IncomingField::RequestId => "request id",
            IncomingField::TraceParent => "traceparent",
            IncomingField::TraceState => "tracestate",
            IncomingField::Baggage => "baggage",
            IncomingField::HeaderList => "header list",
            IncomingField::Variable(name) => return write!(f, "context variable `{name}`"),
        })
    }
}

/// Why an incoming value was rejected: the details of a [`Rejection`].
/// None of them holds any part of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The request's ids are not trusted ([`TrustPolicy`]): its request id
    /// header was ignored.
    Untrusted,
    /// The field appears more than once, which it may not (request id,
    /// `traceparent`).
    Repeated,
    /// A byte that is not visible ASCII, a space or a tab, so not text.
    NotText,
    /// An invalid request id.
    InvalidRequestId(InvalidRequestId),
    /// An invalid `traceparent`.
    InvalidTraceParent(ParseTraceParentError),
    /// An invalid `tracestate`: all of it discarded.
    InvalidTraceState(ParseTraceStateError),
    /// A `tracestate` without a valid `traceparent`: discarded, as the
    /// specification requires.
    NoTraceParent,
    /// `baggage` members dropped: the first malformed one, or the limits
    /// ([`TooManyMembers`](BaggageError::TooManyMembers),
    /// [`TooLarge`](BaggageError::TooLarge)). The valid members that fit
    /// are kept.
    BaggageMembersDropped(BaggageError),
    /// The header section is over
    /// [`max_header_bytes`](crate::RequestContextLayer::max_header_bytes).
    HeaderListTooLarge,
    /// The value of an accepted propagated variable
    /// ([`IncomingField::Variable`]) does not parse, is too long, or its
    /// name appears more than once.
    Variable(DropReason),
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::Untrusted => f.write_str("not trusted"),
            RejectReason::Repeated => f.write_str("more than one field"),
            RejectReason::NotText => f.write_str("not visible ASCII"),
            RejectReason::InvalidRequestId(err) => fmt::Display::fmt(err, f),
            RejectReason::InvalidTraceParent(err) => fmt::Display::fmt(err, f),
            RejectReason::InvalidTraceState(err) => fmt::Display::fmt(err, f),
            RejectReason::NoTraceParent => f.write_str("no valid traceparent"),
            RejectReason::BaggageMembersDropped(err) => {
                write!(f, "members dropped ({err})")
            }
            RejectReason::HeaderListTooLarge => f.write_str("header list too large"),
            RejectReason::Variable(reason) => fmt::Display::fmt(reason, f),
        }
    }
}

/// An incoming value that a [`RequestContextLayer`](crate::RequestContextLayer)
/// rejected (or partly dropped) and replaced: which field, and why. It
/// never holds any part of the value, so it is safe to log.
///
/// Given to the hook set with
/// [`on_reject`](crate::RequestContextLayer::on_reject), at most once per
/// field and request.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use contextvars_tower::{IncomingField, InvalidRequestId, RejectReason, RequestContextLayer};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let layer = RequestContextLayer::new().on_reject(move |r| sink.lock().unwrap().push(*r));
///
/// let headers = http::HeaderMap::from_iter([(
///     http::HeaderName::from_static("x-request-id"),
///     http::HeaderValue::from_static("a\tb"),
/// )]);
/// let _ctx = layer.extract(&headers);
/// let rejection = seen.lock().unwrap()[0];
/// assert_eq!(rejection.field(), IncomingField::RequestId);
/// assert_eq!(
///     rejection.reason(),
///     RejectReason::InvalidRequestId(InvalidRequestId::InvalidByte { index: 1 }),
/// );
/// assert_eq!(rejection.to_string(), "incoming request id rejected: invalid request id: byte 1 is not visible ASCII");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rejection {
    field: IncomingField,
    reason: RejectReason,
}

impl Rejection {
    pub(crate) fn new(field: IncomingField, reason: RejectReason) -> Rejection {
        Rejection { field, reason }
    }

    /// The field rejected.
    ///
    /// # Examples
    ///
    /// See [`Rejection`].
    pub fn field(&self) -> IncomingField {
        self.field
    }

    /// Why.
    ///
    /// # Examples
    ///
    /// See [`Rejection`].
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "incoming {} rejected: {}", self.field, self.reason)
    }
}

impl From<Dropped> for Rejection {
    /// The rejection of an accepted variable's incoming value.
    fn from(dropped: Dropped) -> Rejection {
        Rejection::new(
            IncomingField::Variable(dropped.name()),
            RejectReason::Variable(dropped.reason()),
        )
    }
}

/// The hook of [`RequestContextLayer::on_reject`](crate::RequestContextLayer::on_reject).
pub(crate) type RejectHook = Arc<dyn Fn(&Rejection) + Send + Sync>;

/// The rejections of one request, at most one per field: no allocation.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    items: [Option<Rejection>; 5],
    len: usize,
}

impl Rejections {
    pub(crate) fn push(&mut self, field: IncomingField, reason: RejectReason) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(Rejection::new(field, reason));
            self.len += 1;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rejection> {
        self.items[..self.len].iter().flatten()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        assert!(net("0.0.0.0/0").contains(ip("255.1.2.3")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("::/0").contains(ip("::1")));
        assert!(net("192.0.2.0/24").contains(ip("192.0.2.255")));
        assert!(!net("192.0.2.0/24").contains(ip("192.0.3.0")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.6")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.1.1.1")));
        assert!(!net("::ffff:10.0.0.0/104").contains(ip("11.1.1.1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert_eq!(
            "::/129".parse::<IpNetwork>(),
            Err(InvalidIpNetwork::PrefixTooLong)
        );
        assert_eq!(
            "1.2.3.4/999".parse::<IpNetwork>(),
            Err(InvalidIpNetwork::PrefixTooLong)
        );
        assert_eq!(
            "1.2.3.4/".parse::<IpNetwork>(),
            Err(InvalidIpNetwork::InvalidPrefix)
        );
        assert_eq!(
            "1.2.3.4/+8".parse::<IpNetwork>(),
            Err(InvalidIpNetwork::InvalidPrefix)
        );
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn carriers_have_no_peer_address() {
        let mut fields = std::collections::HashMap::new();
        fields.insert("x-request-id".to_owned(), "r".to_owned());
        assert!(TrustPolicy::all().trusts_fields(&fields));
        assert!(!TrustPolicy::nothing().trusts_fields(&fields));
        assert!(!TrustPolicy::peers([net("0.0.0.0/0"), net("::/0")]).trusts_fields(&fields));
    }

    #[test]
    fn header_policy_needs_exactly_one_equal_field() {
        let policy = TrustPolicy::header(
            HeaderName::from_static("x-edge"),
            HeaderValue::from_static("k"),
        );
        let ext = Extensions::new();
        let mut headers = HeaderMap::new();
        assert!(!policy.trusts_request(&headers, &ext));
        headers.append("x-edge", HeaderValue::from_static("kk"));
        assert!(!policy.trusts_request(&headers, &ext));
        headers.insert("x-edge", HeaderValue::from_static("k"));
        assert!(policy.trusts_request(&headers, &ext));
        headers.append("x-edge", HeaderValue::from_static("k"));
        assert!(!policy.trusts_request(&headers, &ext));
        // A carrier: the same rule, names compared ignoring case.
        let mut fields = std::collections::HashMap::new();
        assert!(!policy.trusts_fields(&fields));
        fields.insert("X-Edge".to_owned(), "k".to_owned());
        assert!(policy.trusts_fields(&fields));
        fields.insert("X-Edge".to_owned(), "K".to_owned());
        assert!(!policy.trusts_fields(&fields));
        // The value may be a secret: not in the debug output.
        assert!(!format!("{policy:?}").contains("\"k\""));
    }
}
