//! Wrapping a whole application from the outside.

use tower_layer::Layer;

use crate::layer::RequestContextLayer;
use crate::service::RequestContextService;

/// Wraps a whole service in a [`RequestContextService`] from the outside:
/// `app.with_request_context()`. Implemented for every type.
///
/// Called on a finished axum `Router` (after its last `.layer(..)`,
/// `.fallback(..)` and `.with_state(..)`), it puts the request context
/// around everything the router does — routes, fallbacks and every layer,
/// whatever order they were added in — so no middleware can run before the
/// request has its context. That is the order [`RequestContextLayer`] needs
/// and the one `Router::layer` makes easy to get wrong (the **last**
/// `.layer(..)` call is the outermost layer). [`serve`] (cargo
/// feature `axum`) does the same, and serves the result.
///
/// To serve the result with `axum::serve` yourself, turn it into a
/// make-service with `axum::ServiceExt::into_make_service` (or
/// `into_make_service_with_connect_info`).
///
/// # Examples
///
/// ```
/// use axum::{body::Body, middleware::{self, Next}, extract::Request, response::Response};
/// use axum::{routing::get, Router};
/// use contextvars::ContextVar;
/// use contextvars_tower::RequestContextExt;
/// use tower::ServiceExt;
///
/// static USER: ContextVar<String> = ContextVar::new("user");
///
/// async fn auth(request: Request, next: Next) -> Response {
///     USER.set("ada".to_string()); // runs inside the request's context
///     next.run(request).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new()
///     .route("/", get(|| async { USER.get().to_string() }))
///     .layer(middleware::from_fn(auth)) // any layers, in any order
///     .with_request_context(); // outermost, by construction
///
/// let request = http::Request::get("/").body(Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert!(response.headers().contains_key("x-request-id"));
/// let body = axum::body::to_bytes(response.into_body(), 64).await.unwrap();
/// assert_eq!(body, "ada");
/// # }
/// ```
#[cfg_attr(feature = "axum", doc = "[`serve`]: crate::serve")]
#[cfg_attr(not(feature = "axum"), doc = "[`serve`]: crate#cargo-features")]
pub trait RequestContextExt: Sized {
    /// Wraps `self` in a [`RequestContextService`] with the default
    /// settings of [`RequestContextLayer::new`]: the request context is
    /// outside everything `self` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use contextvars_tower::{RequestContextExt, RequestContextService, REQUEST_ID};
    ///
    /// let app: RequestContextService<Router> = Router::new()
    ///     .route("/", get(|| async { REQUEST_ID.get().to_string() }))
    ///     .with_request_context();
    /// // Served with `axum::serve(listener, axum::ServiceExt::into_make_service(app))`,
    /// // or `contextvars_tower::serve(listener, router)` (feature `axum`).
    /// # drop(app);
    /// ```
    fn with_request_context(self) -> RequestContextService<Self> {
        RequestContextService::new(self)
    }

    /// Wraps `self` in the [`RequestContextService`] that `layer` makes, with
    /// its settings: the configured form of
    /// [`with_request_context`](RequestContextExt::with_request_context).
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::{body::Body, routing::get, Router};
    /// use contextvars_tower::{RequestContextExt, RequestContextLayer, REQUEST_ID};
    /// use http::HeaderName;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = Router::new()
    ///     .route("/", get(|| async { REQUEST_ID.get().to_string() }))
    ///     .with_request_context_layer(
    ///         RequestContextLayer::new()
    ///             .request_id_header(HeaderName::from_static("x-correlation-id")),
    ///     );
    ///
    /// let request = http::Request::get("/")
    ///     .header("x-correlation-id", "c-7")
    ///     .body(Body::empty())
    ///     .unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["x-correlation-id"], "c-7");
    /// # }
    /// ```
    fn with_request_context_layer(self, layer: RequestContextLayer) -> RequestContextService<Self> {
        layer.layer(self)
    }
}

impl<S> RequestContextExt for S {}
