//! The server-side layer.

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use crate::headers::X_REQUEST_ID;
use crate::service::RequestContextService;
use crate::w3c::TraceFlags;

/// Settings shared by a [`RequestContextLayer`] and its services.
#[derive(Clone, Debug)]
pub(crate) struct ServerConfig {
    pub(crate) request_id_header: HeaderName,
    pub(crate) echo_request_id: bool,
    pub(crate) new_trace_flags: TraceFlags,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_id_header: X_REQUEST_ID,
            echo_request_id: true,
            new_trace_flags: TraceFlags::SAMPLED,
        }
    }
}

/// Runs every request in a context of its own, with
/// [`REQUEST_ID`](crate::REQUEST_ID), [`TRACE`](crate::TRACE) and
/// [`BAGGAGE`](crate::BAGGAGE) set from its headers: the server half of this
/// crate. Makes [`RequestContextService`]s.
///
/// What happens to each request is described on [`RequestContextService`].
///
/// **Layer order: this layer must be the outermost one.** Every layer that
/// reads or sets context variables goes inside it; a layer outside it runs
/// before the request has a context, where `set` panics. In axum the
/// **last** `.layer(..)` call is the outermost, so add this layer last; in
/// `ServiceBuilder` the first is the outermost. To avoid placing it by hand,
/// wrap the finished application with
/// [`with_request_context_layer`](crate::RequestContextExt::with_request_context_layer)
/// or serve it with `contextvars_tower::serve_with` (feature `axum`). See
/// the [crate docs](crate#layer-order).
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
///
/// // Layer order: the last `.layer(..)` is the outermost, so this one comes
/// // after every other layer.
/// let app: Router = Router::new()
///     .route("/", get(|| async { format!("request {}", REQUEST_ID.get()) }))
///     .layer(RequestContextLayer::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestContextLayer {
    config: Arc<ServerConfig>,
}

impl RequestContextLayer {
    /// A layer with the default settings: request id in `x-request-id`,
    /// echoed in the response; new traces sampled.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let layer = RequestContextLayer::new();
    /// # drop(layer);
    /// ```
    pub fn new() -> RequestContextLayer {
        RequestContextLayer::default()
    }

    /// Reads and echoes the request id in header `name` instead of
    /// `x-request-id`.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    /// use http::HeaderName;
    ///
    /// let layer = RequestContextLayer::new()
    ///     .request_id_header(HeaderName::from_static("x-correlation-id"));
    /// # drop(layer);
    /// ```
    pub fn request_id_header(mut self, name: HeaderName) -> RequestContextLayer {
        Arc::make_mut(&mut self.config).request_id_header = name;
        self
    }

    /// Whether to add the request id to responses that do not have the
    /// header yet (default: `true`).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let quiet = RequestContextLayer::new().echo_request_id(false);
    /// # drop(quiet);
    /// ```
    pub fn echo_request_id(mut self, echo: bool) -> RequestContextLayer {
        Arc::make_mut(&mut self.config).echo_request_id = echo;
        self
    }

    /// Whether traces started here (requests without a valid `traceparent`)
    /// have the `sampled` flag (default: `true`, see
    /// [`TraceContext::new_root`](crate::TraceContext::new_root)).
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::RequestContextLayer;
    ///
    /// let layer = RequestContextLayer::new().sample_new_traces(false);
    /// # drop(layer);
    /// ```
    pub fn sample_new_traces(mut self, sampled: bool) -> RequestContextLayer {
        Arc::make_mut(&mut self.config).new_trace_flags = TraceFlags::NONE.with_sampled(sampled);
        self
    }
}

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContextService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContextService::with_config(inner, self.config.clone())
    }
}
