//! Variables that travel between services.
//!
//! A variable built with [`propagate`](crate::VarBuilder::propagate) crosses
//! process boundaries: when the current context has a value for it, the
//! propagating layers of `contextvars-tower` (HTTP clients, carriers) and
//! `contextvars-tonic` (gRPC clients) send the value, written with
//! `Display`, in the W3C `baggage` header under the variable's name; a
//! server that *accepts* the name reads it back with `FromStr` into the same
//! variable of the request's context. Code on both sides reads and writes a
//! typed `ContextVar`, not header strings.
//!
//! ```
//! use contextvars::{propagation::AllowList, Context, ContextVar};
//!
//! #[derive(Clone, Debug, PartialEq)]
//! struct Tenant(String);
//! # impl std::fmt::Display for Tenant {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
//! # }
//! # impl std::str::FromStr for Tenant {
//! #     type Err = &'static str;
//! #     fn from_str(s: &str) -> Result<Self, Self::Err> {
//! #         if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
//! #             Ok(Tenant(s.to_owned()))
//! #         } else {
//! #             Err("not a tenant")
//! #         }
//! #     }
//! # }
//! // `Display` and `FromStr` (hidden here) are the codec.
//! static TENANT: ContextVar<Tenant> = ContextVar::builder("tenant").propagate().build();
//!
//! // The caller's side: what a propagating layer sends.
//! let sent = Context::new().run(|| {
//!     TENANT.set(Tenant("acme".into()));
//!     contextvars::propagation::current_values()
//! });
//! assert_eq!(sent, [("tenant", "acme".to_string())]);
//!
//! // The server's side: what a request-context layer does with the
//! // incoming baggage members of the names it accepts.
//! let allow = AllowList::new().accept(&TENANT);
//! let mut ctx = Context::new();
//! let mut dropped = Vec::new();
//! allow.bind(&mut ctx, [("tenant", "acme"), ("user", "ada")], |d| dropped.push(d));
//! assert_eq!(ctx.run(|| TENANT.get()), Tenant("acme".into()));
//! assert!(dropped.is_empty());
//! ```
//!
//! # Rules
//!
//! * **Opt-in twice.** A variable travels only if it is declared with
//!   [`propagate`](crate::VarBuilder::propagate), and a server binds it
//!   only if it accepts its name ([`AllowList::accept`], which
//!   `contextvars-tower`'s `RequestContextLayer::accept` wraps). Names that
//!   are not accepted stay plain baggage.
//! * **Bound values only.** A variable that has no value in the current
//!   context is not sent, not even its default: the receiver has the same
//!   declaration, and the same default.
//! * **Never trusted blindly.** An incoming value is bound only if it
//!   parses with the variable's `FromStr`, is at most
//!   [`max_value_bytes`](AllowList::max_value_bytes) long (decoded), and its
//!   name appears once in the baggage; otherwise nothing is bound for that
//!   name and a [`Dropped`] reports it. A `Dropped` names the variable and
//!   the reason, never the value: it is safe to log.
//! * **Name clashes.** On the way out, a propagated variable's member wins
//!   over a member of the same name in the context's plain baggage (which
//!   is left out): the variable is what the code of this service set.
//! * **Limits.** Sent values count towards the W3C baggage limits (64
//!   members, 8192 bytes), before plain baggage; a value that does not fit
//!   is left out and reported ([`DropReason::NoRoom`]).
//!
//! On the wire a value is an ordinary baggage member, percent-encoded as W3C
//! baggage requires: services in other languages read and write it with
//! their OpenTelemetry SDK's baggage API, as a string.
//!
//! Python's `contextvars` has no counterpart: a `ContextVar` there never
//! leaves its process, and OpenTelemetry's baggage is a map of strings.

use std::any::Any;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use crate::sync::{AtomicUsize, Ordering};
use crate::{current, Context, ContextVar, VarKey};

/// The string codec of a propagated variable, without its type.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    encode: fn(&(dyn Any + Send + Sync)) -> Option<String>,
}

impl Codec {
    pub(crate) const fn of<T: fmt::Display + 'static>() -> Codec {
        Codec {
            encode: encode::<T>,
        }
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Codec")
    }
}

fn encode<T: fmt::Display + 'static>(value: &(dyn Any + Send + Sync)) -> Option<String> {
    value.downcast_ref::<T>().map(T::to_string)
}

/// A propagated variable that has been used in this process.
#[derive(Clone, Copy, Debug)]
struct Registered {
    id: u64,
    name: &'static str,
    codec: Codec,
}

/// Every propagated variable used so far, in the order of first use.
static REGISTRY: RwLock<Vec<Registered>> = RwLock::new(Vec::new());
/// `REGISTRY.len()`, read without the lock: processes without propagated
/// variables never take it.
#[cfg(not(loom))]
static REGISTERED: AtomicUsize = AtomicUsize::new(0);
#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTERED: AtomicUsize = AtomicUsize::new(0);
}

/// Records a propagated variable's id, before the id is published.
pub(crate) fn register(id: u64, name: &'static str, codec: Codec) {
    let mut registry = REGISTRY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.push(Registered { id, name, codec });
    REGISTERED.store(registry.len(), Ordering::Release);
}

/// Forgets an id that lost the race to be a variable's id.
pub(crate) fn unregister(id: u64) {
    let mut registry = REGISTRY
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.retain(|r| r.id != id);
    REGISTERED.store(registry.len(), Ordering::Release);
}

/// The propagated variables that have a value in the current context, as
/// `(name, value written with Display)`, in the order the variables were
/// first used in this process. This is what the propagating layers send.
///
/// A name used by two propagated variables is sent once, for the first of
/// them. Costs nothing (one atomic load) while no propagated variable has
/// been used.
///
/// # Examples
///
/// ```
/// use contextvars::{propagation, Context, ContextVar};
///
/// static REGION: ContextVar<String> = ContextVar::builder("region").propagate().build();
///
/// assert!(propagation::current_values().is_empty());
/// Context::new().run(|| {
///     REGION.set("eu west".to_string());
///     assert_eq!(propagation::current_values(), [("region", "eu west".to_string())]);
/// });
/// ```
pub fn current_values() -> Vec<(&'static str, String)> {
    if REGISTERED.load(Ordering::Acquire) == 0 {
        return Vec::new();
    }
    let registered: Vec<Registered> = REGISTRY
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for var in registered {
        // The binding is cloned out of the context before `Display` runs:
        // user code never runs while the context is borrowed.
        let Some(binding) = current::get(var.id) else {
            continue;
        };
        if out.iter().any(|(name, _)| *name == var.name) {
            continue;
        }
        if let Some(text) = (var.codec.encode)(binding.value()) {
            out.push((var.name, text));
        }
    }
    out
}

impl<T> ContextVar<T> {
    /// Whether the variable was built with
    /// [`propagate`](crate::VarBuilder::propagate).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    /// static LOCAL: ContextVar<String> = ContextVar::new("local");
    /// assert!(TENANT.is_propagated());
    /// assert!(!LOCAL.is_propagated());
    /// ```
    pub fn is_propagated(&self) -> bool {
        self.propagation.is_some()
    }
}

/// Why an incoming or outgoing value of a propagated variable was dropped.
///
/// # Examples
///
/// ```
/// use contextvars::propagation::DropReason;
///
/// assert_eq!(DropReason::Invalid.to_string(), "the value does not parse");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Inbound: the variable's `FromStr` refused the value.
    Invalid,
    /// Inbound: the value is longer than
    /// [`max_value_bytes`](AllowList::max_value_bytes).
    TooLong,
    /// Inbound: the name appears more than once in the baggage, with
    /// possibly different values; none is bound.
    Duplicate,
    /// Outbound: the value does not fit in the W3C baggage limits (64
    /// members, 8192 bytes) after the members written before it.
    NoRoom,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Invalid => "the value does not parse",
            DropReason::TooLong => "the value is too long",
            DropReason::Duplicate => "the name appears more than once",
            DropReason::NoRoom => "no room left in the baggage",
        })
    }
}

/// A value of a propagated variable that was not bound (inbound) or not
/// sent (outbound).
///
/// It carries the variable's name (a name the service itself declared) and
/// the reason, never the value, so that it can be logged as is.
///
/// # Examples
///
/// ```
/// use contextvars::{propagation::{AllowList, DropReason}, Context, ContextVar};
///
/// static ATTEMPT: ContextVar<u32> = ContextVar::builder("attempt").propagate().build();
///
/// let allow = AllowList::new().accept(&ATTEMPT);
/// let mut dropped = Vec::new();
/// allow.bind(&mut Context::new(), [("attempt", "two\r\n")], |d| dropped.push(d));
/// assert_eq!(dropped[0].name(), "attempt");
/// assert_eq!(dropped[0].reason(), DropReason::Invalid);
/// assert_eq!(
///     dropped[0].to_string(),
///     "context variable `attempt`: value dropped: the value does not parse",
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dropped {
    name: &'static str,
    reason: DropReason,
}

impl Dropped {
    /// A report for the variable `name`. For integrations that write or
    /// read propagated values themselves.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::{DropReason, Dropped};
    ///
    /// let dropped = Dropped::new("tenant", DropReason::NoRoom);
    /// assert_eq!(dropped.name(), "tenant");
    /// ```
    pub fn new(name: &'static str, reason: DropReason) -> Dropped {
        Dropped { name, reason }
    }

    /// The variable's name (its baggage key).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::{DropReason, Dropped};
    ///
    /// assert_eq!(Dropped::new("tenant", DropReason::TooLong).name(), "tenant");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Why the value was dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::{DropReason, Dropped};
    ///
    /// assert_eq!(Dropped::new("tenant", DropReason::TooLong).reason(), DropReason::TooLong);
    /// ```
    pub fn reason(&self) -> DropReason {
        self.reason
    }
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "context variable `{}`: value dropped: {}",
            self.name, self.reason
        )
    }
}

impl std::error::Error for Dropped {}

/// One accepted variable, with its type erased.
trait Accepted: Send + Sync {
    fn name(&self) -> &'static str;
    fn key(&self) -> VarKey;
    /// Parses `value` and binds it in `ctx`; false if it does not parse.
    fn bind(&self, ctx: &mut Context, value: &str) -> bool;
}

struct Typed<T: 'static>(&'static ContextVar<T>);

impl<T> Accepted for Typed<T>
where
    T: FromStr + Send + Sync + fmt::Debug + 'static,
{
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn key(&self) -> VarKey {
        self.0.key()
    }

    fn bind(&self, ctx: &mut Context, value: &str) -> bool {
        match value.parse::<T>() {
            Ok(value) => {
                ctx.bind(self.0, value);
                true
            }
            Err(_) => false,
        }
    }
}

/// The propagated variables a server lets incoming requests set: a typed
/// allow-list of variables, each matched by its name.
///
/// Servers use it through their request-context layer
/// (`contextvars_tower::RequestContextLayer::accept`); integrations with
/// other transports call [`bind`](AllowList::bind) with the incoming
/// baggage members.
///
/// # Examples
///
/// ```
/// use contextvars::{propagation::{AllowList, DropReason}, Context, ContextVar};
///
/// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
/// static PRIORITY: ContextVar<u8> = ContextVar::builder("priority").propagate().build();
///
/// let allow = AllowList::new().accept(&TENANT).accept(&PRIORITY);
/// let mut ctx = Context::new();
/// let mut dropped = Vec::new();
/// let incoming = [("tenant", "acme"), ("priority", "high"), ("session", "s-1")];
/// allow.bind(&mut ctx, incoming, |d| dropped.push(d.reason()));
/// ctx.run(|| {
///     assert_eq!(TENANT.get(), "acme");
///     assert_eq!(PRIORITY.get_opt(), None); // "high" is not a u8
/// });
/// assert_eq!(dropped, [DropReason::Invalid]); // "session" is not accepted: ignored
/// ```
#[derive(Clone)]
pub struct AllowList {
    accepted: Vec<Arc<dyn Accepted>>,
    max_value_bytes: usize,
}

impl AllowList {
    /// The default of [`max_value_bytes`](AllowList::max_value_bytes): 256.
    pub const DEFAULT_MAX_VALUE_BYTES: usize = 256;

    /// An empty list: nothing incoming sets a variable.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::AllowList;
    ///
    /// assert!(AllowList::new().is_empty());
    /// ```
    pub const fn new() -> AllowList {
        AllowList {
            accepted: Vec::new(),
            max_value_bytes: AllowList::DEFAULT_MAX_VALUE_BYTES,
        }
    }

    /// Lets incoming baggage set `var`: the member named as the variable is
    /// parsed with `T`'s `FromStr` and bound.
    ///
    /// This also registers the variable for this process, so that decoding
    /// works, and the variable is sent on, before any code of the process has
    /// used it. Accepting the same variable again changes nothing.
    ///
    /// # Panics
    ///
    /// If `var` was not built with
    /// [`propagate`](crate::VarBuilder::propagate), or another accepted
    /// variable has the same name: both are mistakes in the server's setup,
    /// reported when it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{propagation::AllowList, ContextVar};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    ///
    /// let allow = AllowList::new().accept(&TENANT);
    /// assert!(allow.contains("tenant"));
    /// ```
    #[track_caller]
    pub fn accept<T>(mut self, var: &'static ContextVar<T>) -> AllowList
    where
        T: FromStr + Send + Sync + fmt::Debug + 'static,
    {
        assert!(
            var.is_propagated(),
            "`accept`: the context variable `{}` is not built with `propagate()`",
            var.name()
        );
        let key = var.key(); // assigns the id, which registers the variable
        if let Some(other) = self.accepted.iter().find(|a| a.name() == var.name()) {
            assert!(
                other.key() == key,
                "`accept`: two context variables named `{}`",
                var.name()
            );
            return self;
        }
        self.accepted.push(Arc::new(Typed(var)));
        self
    }

    /// The longest value, in bytes after percent-decoding, that is parsed
    /// (default: [`DEFAULT_MAX_VALUE_BYTES`](AllowList::DEFAULT_MAX_VALUE_BYTES),
    /// 256). Longer values are dropped unparsed ([`DropReason::TooLong`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{propagation::{AllowList, DropReason}, Context, ContextVar};
    ///
    /// static NOTE: ContextVar<String> = ContextVar::builder("note").propagate().build();
    ///
    /// let allow = AllowList::new().accept(&NOTE).max_value_bytes(4);
    /// let mut dropped = Vec::new();
    /// allow.bind(&mut Context::new(), [("note", "hello")], |d| dropped.push(d.reason()));
    /// assert_eq!(dropped, [DropReason::TooLong]);
    /// ```
    pub fn max_value_bytes(mut self, limit: usize) -> AllowList {
        self.max_value_bytes = limit;
        self
    }

    /// Whether a variable named `name` is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::AllowList;
    ///
    /// assert!(!AllowList::new().contains("tenant"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.accepted.iter().any(|a| a.name() == name)
    }

    /// The names of the accepted variables, in the order they were accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{propagation::AllowList, ContextVar};
    ///
    /// static A: ContextVar<u8> = ContextVar::builder("a").propagate().build();
    /// static B: ContextVar<u8> = ContextVar::builder("b").propagate().build();
    /// let allow = AllowList::new().accept(&A).accept(&B);
    /// assert_eq!(allow.names().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.accepted.iter().map(|a| a.name())
    }

    /// Whether no variable is accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::propagation::AllowList;
    ///
    /// assert!(AllowList::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Binds in `ctx` the accepted variables found among `members`, the
    /// incoming baggage as `(key, value)` pairs, both percent-decoded; calls
    /// `dropped` for each accepted name whose value is not bound. Members
    /// with names that are not accepted are ignored.
    ///
    /// For each accepted name: absent, nothing happens; present more than
    /// once, nothing is bound ([`DropReason::Duplicate`]); longer than
    /// [`max_value_bytes`](AllowList::max_value_bytes), nothing is bound
    /// ([`DropReason::TooLong`]); refused by the variable's `FromStr`,
    /// nothing is bound ([`DropReason::Invalid`]); else the parsed value is
    /// bound, replacing any value `ctx` had.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{propagation::{AllowList, DropReason}, Context, ContextVar};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    ///
    /// let allow = AllowList::new().accept(&TENANT);
    /// let mut ctx = Context::new();
    /// let mut dropped = Vec::new();
    /// allow.bind(&mut ctx, [("tenant", "acme"), ("tenant", "evil")], |d| dropped.push(d.reason()));
    /// assert!(!ctx.contains(&TENANT));
    /// assert_eq!(dropped, [DropReason::Duplicate]);
    /// ```
    pub fn bind<'a, I>(&self, ctx: &mut Context, members: I, mut dropped: impl FnMut(Dropped))
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        if self.accepted.is_empty() {
            return;
        }
        // At most one found value per accepted name; `Err` once a name is
        // seen twice.
        let mut found: Vec<Option<Result<&'a str, ()>>> = vec![None; self.accepted.len()];
        for (key, value) in members {
            if let Some(i) = self.accepted.iter().position(|a| a.name() == key) {
                found[i] = match found[i] {
                    None => Some(Ok(value)),
                    Some(_) => Some(Err(())),
                };
            }
        }
        for (accepted, found) in self.accepted.iter().zip(found) {
            let reason = match found {
                None => continue,
                Some(Err(())) => DropReason::Duplicate,
                Some(Ok(value)) if value.len() > self.max_value_bytes => DropReason::TooLong,
                Some(Ok(value)) => {
                    if accepted.bind(ctx, value) {
                        continue;
                    }
                    DropReason::Invalid
                }
            };
            dropped(Dropped::new(accepted.name(), reason));
        }
    }
}

impl Default for AllowList {
    fn default() -> Self {
        AllowList::new()
    }
}

impl fmt::Debug for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowList")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("max_value_bytes", &self.max_value_bytes)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::copy_context;

    static TENANT: ContextVar<String> = ContextVar::builder("tenant").propagate().build();
    static SHARD: ContextVar<u16> = ContextVar::builder("shard")
        .default(|| 7)
        .not_inherited()
        .propagate()
        .build();
    static LOCAL: ContextVar<String> = ContextVar::new("local");
    static CLASH_A: ContextVar<u8> = ContextVar::builder("clash").propagate().build();
    static CLASH_B: ContextVar<u8> = ContextVar::builder("clash").propagate().build();

    #[test]
    fn builder_options_compose_with_propagate() {
        assert!(SHARD.is_propagated());
        assert!(!SHARD.is_inherited());
        assert_eq!(SHARD.get(), 7);
        assert!(!LOCAL.is_propagated());
    }

    #[test]
    fn only_bound_propagated_values_are_sent() {
        Context::new().run(|| {
            // A default is not a value of the context.
            assert_eq!(SHARD.get(), 7);
            LOCAL.set("secret".into());
            assert!(current_values().iter().all(|(name, _)| *name != "shard"));
            assert!(current_values().iter().all(|(name, _)| *name != "local"));
            SHARD.set(3);
            TENANT.set("a b,c;d=é".into());
            let sent = current_values();
            assert!(sent.contains(&("shard", "3".to_string())));
            // Values are sent as `Display` writes them; encoding for the wire
            // is the transport's job.
            assert!(sent.contains(&("tenant", "a b,c;d=é".to_string())));
        });
    }

    #[test]
    fn a_copy_sends_what_the_original_had() {
        let ctx = Context::new();
        ctx.run(|| TENANT.set("acme".into()));
        let copy = ctx.copy();
        copy.run(|| assert_eq!(current_values(), [("tenant", "acme".to_string())]));
        // The caller's context is untouched.
        assert!(copy_context().get(&TENANT).is_none());
    }

    #[test]
    fn a_name_of_two_variables_is_sent_once() {
        Context::new().run(|| {
            CLASH_B.set(2);
            CLASH_A.set(1);
            let clash: Vec<_> = current_values()
                .into_iter()
                .filter(|(name, _)| *name == "clash")
                .collect();
            assert_eq!(clash.len(), 1);
        });
    }

    #[test]
    #[should_panic(expected = "two context variables named `clash`")]
    fn accepting_two_variables_of_one_name_panics() {
        let _ = AllowList::new().accept(&CLASH_A).accept(&CLASH_B);
    }

    #[test]
    #[should_panic(expected = "`local` is not built with `propagate()`")]
    fn accepting_a_local_variable_panics() {
        let _ = AllowList::new().accept(&LOCAL);
    }

    #[test]
    fn accepting_twice_is_accepting_once() {
        let allow = AllowList::new().accept(&TENANT).accept(&TENANT);
        assert_eq!(allow.names().collect::<Vec<_>>(), ["tenant"]);
    }

    #[test]
    fn accept_registers_a_variable_never_used() {
        static FRESH: ContextVar<u64> = ContextVar::builder("fresh").propagate().build();
        let allow = AllowList::new().accept(&FRESH);
        let mut ctx = Context::new();
        allow.bind(&mut ctx, [("fresh", "42")], |d| panic!("{d}"));
        ctx.run(|| {
            assert_eq!(FRESH.get(), 42);
            assert_eq!(current_values(), [("fresh", "42".to_string())]);
        });
    }

    #[test]
    fn hostile_values_are_dropped_and_reported_by_name_only() {
        let allow = AllowList::new()
            .accept(&TENANT)
            .accept(&SHARD)
            .max_value_bytes(16);
        let mut ctx = Context::new();
        let mut dropped = Vec::new();
        let long = "x".repeat(17);
        let members = [
            ("tenant", long.as_str()),
            ("shard", "-1"),
            ("local", "injected"),
        ];
        allow.bind(&mut ctx, members, |d| dropped.push(d));
        assert_eq!(
            dropped,
            [
                Dropped::new("tenant", DropReason::TooLong),
                Dropped::new("shard", DropReason::Invalid),
            ]
        );
        assert!(ctx.is_empty());
        for d in &dropped {
            assert!(!d.to_string().contains("xxx") && !d.to_string().contains("-1"));
        }
        // Exactly at the limit is accepted.
        let exact = "y".repeat(16);
        allow.bind(&mut ctx, [("tenant", exact.as_str())], |d| panic!("{d}"));
        assert_eq!(ctx.get(&TENANT).as_deref(), Some(&exact));
    }

    #[test]
    fn a_duplicated_name_binds_nothing_and_keeps_the_old_value() {
        let allow = AllowList::new().accept(&TENANT);
        let mut ctx = Context::new();
        ctx.bind(&TENANT, "before".into());
        let mut dropped = Vec::new();
        allow.bind(
            &mut ctx,
            [("tenant", "a"), ("x", "y"), ("tenant", "a")],
            |d| dropped.push(d.reason()),
        );
        assert_eq!(dropped, [DropReason::Duplicate]);
        assert_eq!(
            ctx.get(&TENANT).as_deref().map(String::as_str),
            Some("before")
        );
    }

    #[test]
    fn racing_first_uses_register_one_id() {
        static RACED: ContextVar<u8> = ContextVar::builder("raced").propagate().build();
        let threads: Vec<_> = (0..8).map(|_| std::thread::spawn(|| RACED.key())).collect();
        let keys: Vec<VarKey> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]));
        let registered = REGISTRY.read().unwrap();
        assert_eq!(registered.iter().filter(|r| r.name == "raced").count(), 1);
    }
}
