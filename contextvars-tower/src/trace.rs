//! The trace context of the current unit of work.

use std::fmt;

use crate::w3c::{SpanId, TraceFlags, TraceId, TraceParent, TraceState};

/// Where the current work sits in a distributed trace: the value of
/// [`TRACE`](crate::TRACE).
///
/// It holds the trace id, this hop's own span id, the caller's span id if
/// the trace came from a caller, the trace flags and the `tracestate`. The
/// server layer makes one per request ([`from_parent`](TraceContext::from_parent)
/// when the request has a valid `traceparent`, [`new_root`](TraceContext::new_root)
/// otherwise); the client layer makes a [`child`](TraceContext::child) for
/// every outbound call.
///
/// # Examples
///
/// ```
/// use contextvars_tower::TraceContext;
/// use contextvars_tower::w3c::{TraceParent, TraceState};
///
/// let incoming: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap();
/// let hop = TraceContext::from_parent(&incoming, TraceState::new());
/// assert_eq!(hop.trace_id(), incoming.trace_id());
/// assert_eq!(hop.parent_span_id(), Some(incoming.parent_id()));
/// assert_ne!(hop.span_id(), incoming.parent_id()); // this hop's own span
/// assert!(hop.is_sampled());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    flags: TraceFlags,
    trace_state: TraceState,
}

impl TraceContext {
    /// The flags a hop propagates: `sampled` and Level 2's `random`. The
    /// reserved bits are cleared, as the specification requires of anyone
    /// who sends a `traceparent`.
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// assert_eq!(TraceContext::PROPAGATED_FLAGS.bits(), 0x03);
    /// ```
    pub const PROPAGATED_FLAGS: TraceFlags =
        TraceFlags::from_bits(TraceFlags::SAMPLED.bits() | TraceFlags::RANDOM.bits());

    /// Starts a new trace: random trace id and span id, no parent, empty
    /// `tracestate`, and the `sampled` flag set.
    ///
    /// `sampled` is set so that downstream services that follow their
    /// caller's decision (OpenTelemetry's default parent-based sampler) record
    /// the requests this trace makes, and logs correlated by trace id are
    /// complete. Use [`with_flags`](TraceContext::with_flags) for another
    /// choice.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let root = TraceContext::new_root();
    /// assert!(root.is_sampled());
    /// assert_eq!(root.parent_span_id(), None);
    /// assert_ne!(root.trace_id(), TraceContext::new_root().trace_id());
    /// ```
    pub fn new_root() -> TraceContext {
        TraceContext {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_span_id: None,
            flags: TraceFlags::SAMPLED,
            trace_state: TraceState::new(),
        }
    }

    /// Continues the trace of an incoming `traceparent`: same trace id, a new
    /// random span id for this hop, the caller's span id as parent, and the
    /// caller's flags ([`PROPAGATED_FLAGS`](TraceContext::PROPAGATED_FLAGS)
    /// only).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    /// use contextvars_tower::w3c::{TraceParent, TraceState};
    ///
    /// let incoming: TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0b".parse().unwrap();
    /// let state: TraceState = "congo=t61rcWkgMzE".parse().unwrap();
    /// let hop = TraceContext::from_parent(&incoming, state.clone());
    /// assert_eq!(hop.flags().bits(), 0x03); // 0x08 is reserved
    /// assert_eq!(hop.trace_state(), &state);
    /// ```
    pub fn from_parent(parent: &TraceParent, trace_state: TraceState) -> TraceContext {
        TraceContext {
            trace_id: parent.trace_id(),
            span_id: SpanId::random(),
            parent_span_id: Some(parent.parent_id()),
            flags: parent.flags().intersection(TraceContext::PROPAGATED_FLAGS),
            trace_state,
        }
    }

    /// A child of this span, such as an outbound call: same trace id, flags
    /// and `tracestate`, a new random span id, and this span as parent.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let parent = TraceContext::new_root();
    /// let child = parent.child();
    /// assert_eq!(child.trace_id(), parent.trace_id());
    /// assert_eq!(child.parent_span_id(), Some(parent.span_id()));
    /// assert_ne!(child.span_id(), parent.span_id());
    /// ```
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_span_id: Some(self.span_id),
            flags: self.flags,
            trace_state: self.trace_state.clone(),
        }
    }

    /// The same context with other flags.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// let unsampled = TraceContext::new_root().with_flags(TraceFlags::NONE);
    /// assert!(!unsampled.is_sampled());
    /// ```
    pub fn with_flags(mut self, flags: TraceFlags) -> TraceContext {
        self.flags = flags;
        self
    }

    /// The same context with another `tracestate`, for a vendor that adds
    /// its own entry (see [`TraceState::insert`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    /// use contextvars_tower::w3c::TraceState;
    ///
    /// let mut state = TraceState::new();
    /// state.insert("rojo", "00f067aa0ba902b7").unwrap();
    /// let ctx = TraceContext::new_root().with_trace_state(state);
    /// assert_eq!(ctx.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
    /// ```
    pub fn with_trace_state(mut self, trace_state: TraceState) -> TraceContext {
        self.trace_state = trace_state;
        self
    }

    /// The trace id, shared by every hop of the trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let ctx = TraceContext::new_root();
    /// assert_eq!(ctx.trace_id().to_string().len(), 32);
    /// ```
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This hop's own span id: the `parent-id` its callees receive.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let ctx = TraceContext::new_root();
    /// assert_eq!(ctx.traceparent().parent_id(), ctx.span_id());
    /// ```
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The caller's span id (the incoming `parent-id`), if this hop continues
    /// a trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// assert_eq!(TraceContext::new_root().parent_span_id(), None);
    /// ```
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.parent_span_id
    }

    /// The trace flags.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    /// use contextvars_tower::w3c::TraceFlags;
    ///
    /// assert_eq!(TraceContext::new_root().flags(), TraceFlags::SAMPLED);
    /// ```
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether the `sampled` flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// assert!(TraceContext::new_root().is_sampled());
    /// ```
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// The `tracestate`, as received.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// assert!(TraceContext::new_root().trace_state().is_empty());
    /// ```
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// The `traceparent` that names this span as parent: what a callee of
    /// this span receives.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::TraceContext;
    ///
    /// let ctx = TraceContext::new_root();
    /// let header = ctx.traceparent().to_string();
    /// assert_eq!(header, format!("00-{}-{}-01", ctx.trace_id(), ctx.span_id()));
    /// ```
    pub fn traceparent(&self) -> TraceParent {
        TraceParent::new(self.trace_id, self.span_id, self.flags)
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TraceContext");
        s.field("trace_id", &format_args!("{}", self.trace_id))
            .field("span_id", &format_args!("{}", self.span_id));
        if let Some(parent) = self.parent_span_id {
            s.field("parent_span_id", &format_args!("{parent}"));
        }
        s.field("flags", &format_args!("{}", self.flags));
        if !self.trace_state.is_empty() {
            s.field("trace_state", &format_args!("{}", self.trace_state));
        }
        s.finish()
    }
}
