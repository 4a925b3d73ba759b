//! Bindings: a variable's key and its value, as a context stores them.
//!
//! A value is stored in one of two ways, chosen at compile time from its
//! type. The primitive types that fit in two words (integers up to `u128`,
//! `bool`, `char`, floats, `()`) are stored inline, in the binding itself:
//! setting one allocates nothing, and reading one by value is a copy. Every
//! other type is stored once behind an `Arc`, shared by every copy of the
//! context. Either way the binding hands out `&dyn Any` to the value, so the
//! map view ([`Binding::value`], [`Binding::downcast_ref`]) works the same.

use std::any::{Any, TypeId};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The type-erased form of a stored value.
pub(crate) trait Value: Any + Send + Sync + fmt::Debug {}

impl<T: Any + Send + Sync + fmt::Debug> Value for T {}

/// Identifies a variable in a [`Context`](crate::Context), whatever its type.
///
/// Keys compare equal only when they belong to the same variable; the name is
/// carried for display.
///
/// # Examples
///
/// ```
/// use contextvars::ContextVar;
///
/// static A: ContextVar<u8> = ContextVar::new("same");
/// static B: ContextVar<u8> = ContextVar::new("same");
/// assert_eq!(A.key(), A.key());
/// assert_ne!(A.key(), B.key());
/// assert_eq!(A.key().name(), "same");
/// ```
#[derive(Clone, Copy)]
pub struct VarKey {
    /// Unique; the top bit is [`NOT_INHERITED`]. A `bool` field here would
    /// make every `Option<Binding>` carry its tag in the padding after it,
    /// and moving bindings slower.
    id: u64,
    name: &'static str,
}

/// The bit of a variable's id that marks it not inherited. Ids come from a
/// counter that never gets near it.
pub(crate) const NOT_INHERITED: u64 = 1 << 63;

impl VarKey {
    pub(crate) const fn new(id: u64, name: &'static str) -> VarKey {
        VarKey { id, name }
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// assert_eq!(V.key().name(), "v");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_inherited(&self) -> bool {
        self.id & NOT_INHERITED == 0
    }
}

impl PartialEq for VarKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for VarKey {}

impl Hash for VarKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl PartialOrd for VarKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VarKey {
    /// Keys order by the time their variable was first used.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}

impl fmt::Debug for VarKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Generates [`Stored`] with one inline variant per primitive type, and the
/// conversions between a `T` and its inline form.
macro_rules! stored {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A stored value: inline for the primitive types below, else shared.
        #[derive(Clone)]
        enum Stored {
            Shared(Arc<dyn Value>),
            $($variant($ty),)*
        }

        impl Stored {
            /// `value` stored inline if its type is one of the inline types,
            /// else behind a new `Arc`.
            #[inline(always)]
            fn new<T: Value>(value: T) -> Stored {
                match Stored::inline(&value) {
                    Some(stored) => stored,
                    None => Stored::Shared(Arc::new(value)),
                }
            }

            /// A copy of `value` in its inline form, if its type is one of
            /// the inline types (all `Copy`). The type tests are on
            /// constants and fold away when the function is compiled for `T`.
            #[inline(always)]
            fn inline<T: 'static>(value: &T) -> Option<Stored> {
                $(
                    if TypeId::of::<T>() == TypeId::of::<$ty>() {
                        return (value as &dyn Any)
                            .downcast_ref::<$ty>()
                            .map(|v| Stored::$variant(*v));
                    }
                )*
                None
            }

            /// Whether values of type `T` are stored inline.
            #[inline(always)]
            fn is_inline<T: 'static>() -> bool {
                false $(|| TypeId::of::<T>() == TypeId::of::<$ty>())*
            }

            /// The value, if it is an inline `T`: one test of the variant,
            /// the type tests folding away when compiled for `T`.
            #[inline(always)]
            fn inline_ref<T: 'static>(&self) -> Option<&T> {
                $(
                    if TypeId::of::<T>() == TypeId::of::<$ty>() {
                        return match self {
                            Stored::$variant(value) => (value as &dyn Any).downcast_ref::<T>(),
                            _ => None,
                        };
                    }
                )*
                None
            }

            /// The value, type-erased.
            #[inline]
            fn as_any(&self) -> &(dyn Any + Send + Sync) {
                match self {
                    Stored::Shared(value) => &**value,
                    $(Stored::$variant(value) => value,)*
                }
            }

            fn as_debug(&self) -> &dyn fmt::Debug {
                match self {
                    Stored::Shared(value) => &**value,
                    $(Stored::$variant(value) => value,)*
                }
            }

            /// The value behind an `Arc`: the shared one, or a new one for
            /// an inline value.
            fn into_shared(self) -> Arc<dyn Any + Send + Sync> {
                match self {
                    Stored::Shared(value) => value,
                    $(Stored::$variant(value) => Arc::new(value),)*
                }
            }

            /// Whether both hold the very same value: the same shared
            /// allocation, or equal inline values (bit for bit, so that a NaN
            /// is itself).
            fn same(&self, other: &Stored) -> bool {
                match (self, other) {
                    (Stored::Shared(a), Stored::Shared(b)) => Arc::ptr_eq(a, b),
                    $((Stored::$variant(a), Stored::$variant(b)) => Bits::bits(a) == Bits::bits(b),)*
                    _ => false,
                }
            }
        }
    };
}

stored! {
    U8(u8), U16(u16), U32(u32), U64(u64), U128(u128), Usize(usize),
    I8(i8), I16(i16), I32(i32), I64(i64), I128(i128), Isize(isize),
    F32(f32), F64(f64), Bool(bool), Char(char), Unit(()),
}

/// A value taken out of a context for a reader that runs user code while
/// it holds it: a copy of an inline value, or a reference count of a shared
/// one. Holding it keeps the value alive whatever the reader writes to the
/// context meanwhile.
pub(crate) struct Held {
    value: Stored,
    part: Option<&'static PartOf>,
}

impl Held {
    /// The value, which the binding it was taken from held as a `T`.
    #[inline(always)]
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        if Stored::is_inline::<T>() {
            self.value.inline_ref::<T>()
        } else {
            part_of(self.part, self.value.as_any()).downcast_ref::<T>()
        }
    }

    /// The shared value, if it is a `T` not stored inline: the `Arc` it is
    /// stored in, or, for a part of values bound together, a clone in a new
    /// one.
    #[inline(always)]
    pub(crate) fn into_shared<T: Send + Sync + 'static>(self) -> Option<Arc<T>> {
        match self.value {
            Stored::Shared(value) => match self.part {
                None => (value as Arc<dyn Any + Send + Sync>).downcast().ok(),
                Some(part) => part_arc(part, &*value).downcast().ok(),
            },
            _ => None,
        }
    }
}

/// How a binding reaches its value when it is one part of values bound
/// together by [`Context::bind_all`](crate::Context::bind_all): the binding
/// then stores the whole tuple (one `Arc` for all of them), and this
/// picks its part out. One per tuple type and index, in static memory.
pub(crate) struct PartOf {
    /// The part, from the whole tuple.
    get: fn(&(dyn Any + Send + Sync)) -> &dyn Value,
    /// A clone of the part in an `Arc` of its own, from the whole tuple.
    arc: fn(&(dyn Any + Send + Sync)) -> Arc<dyn Any + Send + Sync>,
}

/// The value itself, or its part.
#[inline(always)]
fn part_of<'a>(
    part: Option<&'static PartOf>,
    whole: &'a (dyn Any + Send + Sync),
) -> &'a (dyn Any + Send + Sync) {
    match part {
        None => whole,
        Some(part) => part_get(part, whole),
    }
}

/// [`PartOf::get`], out of line: the reads of values bound one by one,
/// the common case, stay as small as they were.
#[cold]
#[inline(never)]
fn part_get<'a>(part: &'static PartOf, whole: &'a (dyn Any + Send + Sync)) -> &'a dyn Value {
    (part.get)(whole)
}

/// [`PartOf::arc`], out of line (see [`part_get`]).
#[cold]
#[inline(never)]
fn part_arc(part: &'static PartOf, whole: &(dyn Any + Send + Sync)) -> Arc<dyn Any + Send + Sync> {
    (part.arc)(whole)
}

/// A tuple of values bound together: its parts by index.
pub(crate) trait Parts: Value {
    /// Part `i`.
    fn part(&self, i: u8) -> &dyn Value;
    /// A clone of part `i`, in an `Arc` of its own.
    fn part_arc(&self, i: u8) -> Arc<dyn Any + Send + Sync>;
}

/// Implements [`Parts`] for a tuple of `Clone` values.
macro_rules! parts {
    ($($ty:ident $i:tt),+) => {
        impl<$($ty: Value + Clone),+> Parts for ($($ty,)+) {
            fn part(&self, i: u8) -> &dyn Value {
                match i {
                    $($i => &self.$i,)+
                    _ => unreachable!("a binding refers to a part of its tuple"),
                }
            }

            fn part_arc(&self, i: u8) -> Arc<dyn Any + Send + Sync> {
                match i {
                    $($i => Arc::new(self.$i.clone()),)+
                    _ => unreachable!("a binding refers to a part of its tuple"),
                }
            }
        }
    };
}

parts!(A 0, B 1);
parts!(A 0, B 1, C 2);
parts!(A 0, B 1, C 2, D 3);

/// The [`PartOf`] of part `I` of tuple type `G`.
struct PartAt<G, const I: u8>(std::marker::PhantomData<G>);

impl<G: Parts, const I: u8> PartAt<G, I> {
    const PART: PartOf = PartOf {
        get: |whole| whole_as::<G>(whole).part(I),
        arc: |whole| whole_as::<G>(whole).part_arc(I),
    };
}

/// The whole tuple a part binding stores.
fn whole_as<G: Parts>(whole: &(dyn Any + Send + Sync)) -> &G {
    whole
        .downcast_ref::<G>()
        .unwrap_or_else(|| unreachable!("a part binding stores its whole tuple"))
}

/// The bits of an inline value, for [`Stored::same`].
trait Bits {
    fn bits(&self) -> u128;
}

macro_rules! bits_as {
    ($($ty:ty),*) => { $(impl Bits for $ty {
        #[allow(clippy::cast_sign_loss, clippy::cast_lossless)]
        fn bits(&self) -> u128 { *self as u128 }
    })* };
}

bits_as!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char);

impl Bits for f32 {
    fn bits(&self) -> u128 {
        u128::from(self.to_bits())
    }
}

impl Bits for f64 {
    fn bits(&self) -> u128 {
        u128::from(self.to_bits())
    }
}

impl Bits for () {
    fn bits(&self) -> u128 {
        0
    }
}

/// One variable and its value in a [`Context`](crate::Context).
///
/// Yielded by [`Context::iter`](crate::Context::iter). The value is type-erased: recover it with
/// [`downcast_ref`](Binding::downcast_ref) or [`downcast`](Binding::downcast),
/// or print it with `{:?}`.
///
/// # Examples
///
/// ```
/// use contextvars::{copy_context, ContextVar};
///
/// static V: ContextVar<String> = ContextVar::new("v");
/// V.set("x".to_string());
/// let binding = copy_context().iter().next().unwrap();
/// assert_eq!(binding.name(), "v");
/// assert_eq!(binding.downcast_ref::<String>().map(String::as_str), Some("x"));
/// assert_eq!(format!("{binding:?}"), r#"v: "x""#);
/// ```
#[derive(Clone)]
pub struct Binding {
    key: VarKey,
    /// `Some` for a part of values bound together (`value` is then the
    /// whole tuple). In what would be the padding between the key and the
    /// value: no larger a binding.
    part: Option<&'static PartOf>,
    value: Stored,
}

impl Binding {
    /// Binds `value` to `key`: inline for the inline types, else in a new
    /// `Arc`.
    #[inline]
    pub(crate) fn new<T: Value>(key: VarKey, value: T) -> Self {
        Binding {
            key,
            part: None,
            value: Stored::new(value),
        }
    }

    /// Binds the shared `value` to `key` (an inline type is copied out of
    /// it, to be stored as every value of its type is).
    #[inline]
    pub(crate) fn shared<T: Value>(key: VarKey, value: Arc<T>) -> Self {
        let value = match Stored::inline(&*value) {
            Some(stored) => stored,
            None => Stored::Shared(value),
        };
        Binding {
            key,
            part: None,
            value,
        }
    }

    /// Binds part `I` of the tuple `whole`, a `T`, to `key`: a value of an
    /// inline type is copied out, to be stored as every value of its type
    /// is; any other refers to its part of `whole`.
    #[inline]
    pub(crate) fn part<T: Value, G: Parts, const I: u8>(key: VarKey, whole: Arc<G>) -> Self {
        let part: &'static PartOf = &PartAt::<G, I>::PART;
        if Stored::is_inline::<T>() {
            let value: &(dyn Any + Send + Sync) = whole.part(I);
            if let Some(value) = value.downcast_ref::<T>().and_then(Stored::inline) {
                return Binding {
                    key,
                    part: None,
                    value,
                };
            }
        }
        let whole: Arc<dyn Value> = whole;
        Binding {
            key,
            part: Some(part),
            value: Stored::Shared(whole),
        }
    }

    /// The value, if it is of type `T` and stored inline.
    #[inline(always)]
    pub(crate) fn inline_ref<T: 'static>(&self) -> Option<&T> {
        self.value.inline_ref()
    }

    /// A copy of this binding, when the caller knows its value is a `T`: an
    /// inline value is copied from its known variant, with no dispatch on
    /// the others.
    #[inline(always)]
    pub(crate) fn clone_as<T: 'static>(&self) -> Binding {
        match self.inline_copy_as::<T>() {
            Some(value) => Binding {
                key: self.key,
                part: None,
                value,
            },
            None => self.clone(),
        }
    }

    /// The value, held for a reader (see [`Held`]), when the caller knows it
    /// is a `T`: the inline copy is made from the known variant, with no
    /// dispatch on the others.
    #[inline(always)]
    pub(crate) fn hold<T: 'static>(&self) -> Held {
        if let Some(stored) = self.inline_copy_as::<T>() {
            return Held {
                value: stored,
                part: None,
            };
        }
        let value = match &self.value {
            Stored::Shared(value) => Stored::Shared(Arc::clone(value)),
            other => other.clone(),
        };
        Held {
            value,
            part: self.part,
        }
    }

    /// A copy of the value, if it is an inline `T`, made from its known
    /// variant: the type tests fold away when compiled for `T`.
    #[inline(always)]
    fn inline_copy_as<T: 'static>(&self) -> Option<Stored> {
        if !Stored::is_inline::<T>() {
            return None;
        }
        self.value.inline_ref::<T>().and_then(Stored::inline)
    }

    /// Whether values of type `T` are stored inline (and so can be copied
    /// out without running any user code).
    #[inline(always)]
    pub(crate) fn is_inline<T: 'static>() -> bool {
        Stored::is_inline::<T>()
    }

    /// The variable.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// assert!(copy_context().iter().next().unwrap().key().is(&V));
    /// ```
    #[inline]
    pub fn key(&self) -> VarKey {
        self.key
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// assert_eq!(copy_context().iter().next().unwrap().name(), "v");
    /// ```
    pub fn name(&self) -> &'static str {
        self.key.name()
    }

    /// The value, type-erased.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let b = copy_context().iter().next().unwrap();
    /// assert!(b.value().is::<u8>());
    /// ```
    #[inline]
    pub fn value(&self) -> &(dyn Any + Send + Sync) {
        part_of(self.part, self.value.as_any())
    }

    /// The value, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let b = copy_context().iter().next().unwrap();
    /// assert_eq!(b.downcast_ref::<u8>(), Some(&1));
    /// assert_eq!(b.downcast_ref::<u16>(), None);
    /// ```
    #[inline]
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.value().downcast_ref()
    }

    /// The value, if it is a `T`, behind an `Arc`: the shared one, or a new
    /// one for a value stored inline.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::{copy_context, ContextVar};
    ///
    /// static V: ContextVar<u8> = ContextVar::new("v");
    /// V.set(1);
    /// let b = copy_context().iter().next().unwrap();
    /// assert_eq!(b.downcast::<u8>().as_deref(), Some(&1));
    /// ```
    pub fn downcast<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        if !self.value().is::<T>() {
            return None;
        }
        self.clone().into_value().downcast().ok()
    }

    /// The value behind an `Arc` (a new one for an inline value, and a
    /// clone in a new one for a part of values bound together).
    pub(crate) fn into_value(self) -> Arc<dyn Any + Send + Sync> {
        match self.part {
            None => self.value.into_shared(),
            Some(part) => part_arc(part, self.value.as_any()),
        }
    }

    pub(crate) fn debug_value(&self) -> &dyn fmt::Debug {
        match self.part {
            None => self.value.as_debug(),
            Some(part) => part_get(part, self.value.as_any()),
        }
    }

    /// Whether both bindings hold the very same value: the same shared
    /// allocation (and the same part of it), or equal inline values.
    pub(crate) fn same_value(&self, other: &Binding) -> bool {
        let same_part = match (self.part, other.part) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            _ => false,
        };
        self.key == other.key && same_part && self.value.same(&other.value)
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.key.name(), self.debug_value())
    }
}
