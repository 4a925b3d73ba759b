//! Outbound propagation for [reqwest] through [reqwest-middleware]
//! (feature `reqwest`): [`PropagateMiddleware`] writes the current context
//! into every request a `ClientWithMiddleware` sends, as
//! [`PropagateLayer`] does for tower clients.
//!
//! [reqwest]: https://docs.rs/reqwest
//! [reqwest-middleware]: https://docs.rs/reqwest-middleware
//!
//! ```
//! use contextvars::ContextVar;
//! use contextvars_tower::reqwest::PropagateMiddleware;
//! use contextvars_tower::PropagateLayer;
//! use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
//!
//! static TENANT: ContextVar<String> = ContextVar::new("tenant");
//!
//! fn client() -> ClientWithMiddleware {
//!     ClientBuilder::new(reqwest::Client::new())
//!         .with(PropagateMiddleware::from(
//!             PropagateLayer::new()
//!                 .forward_baggage(["user-id"])      // from incoming baggage
//!                 .export_var("tenant", &TENANT),    // from a context variable
//!         ))
//!         .build()
//! }
//!
//! async fn call_backend(client: &ClientWithMiddleware) -> reqwest_middleware::Result<String> {
//!     // From a handler under `RequestContextLayer`: carries the request's
//!     // id, trace (a new span id per call) and allowed baggage.
//!     Ok(client.get("http://127.0.0.1:1/").send().await?.text().await?)
//! }
//! # let _ = call_backend;
//! # drop(client());
//! ```
//!
//! # When the headers are written
//!
//! When the middleware runs, that is when the request's future is first
//! polled, in the context current there. A request sent from a handler (or
//! from work spawned with a copy of its context, such as
//! `contextvars_tokio::spawn`) carries that request's values. A request
//! sent from plain `tokio::spawn`, or outside of any request, has no
//! [`TRACE`](crate::TRACE): each such call starts a trace of its own, and
//! sends no request id and only [exported variables](PropagateLayer::export_var)
//! that have a default.
//!
//! Headers already on the request are left alone, so a header set with
//! `RequestBuilder::header` wins. Middleware order matters: put
//! `PropagateMiddleware` **after** (inside) a retry middleware to give every
//! attempt a span id of its own; before it, all attempts share one.
//!
//! # Python → Rust
//!
//! | Python | here |
//! |---|---|
//! | `opentelemetry-instrumentation-requests` / `-httpx` (`RequestsInstrumentor().instrument()`) | `ClientBuilder::new(client).with(PropagateMiddleware::new())` |
//! | a `requests` or `httpx` hook calling `opentelemetry.propagate.inject(request.headers)` | [`PropagateMiddleware`], which calls [`PropagateLayer::inject`] |

use http::Extensions;
use reqwest_middleware::{Middleware, Next, Result};

use crate::PropagateLayer;

/// A [`reqwest_middleware::Middleware`] that writes the current context into
/// every outbound request's headers with [`PropagateLayer::inject`]:
/// `traceparent` (a new span id per request), `tracestate`, the request id
/// and the allowed baggage. Configure it with a [`PropagateLayer`]:
/// `PropagateMiddleware::from(layer)`.
///
/// The outbound call's [`TraceContext`](crate::TraceContext) is also
/// inserted into the middleware `Extensions`, for middleware that runs after
/// this one (a logger, for instance). Errors of the rest of the chain pass
/// through unchanged; the middleware itself never fails.
///
/// # Examples
///
/// ```
/// use axum::routing::get;
/// use contextvars_tower::reqwest::PropagateMiddleware;
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
/// use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
///
/// // A handler that calls another service: the call carries this
/// // request's id and trace.
/// async fn handler(client: ClientWithMiddleware) -> String {
///     match client.get("http://127.0.0.1:1/").send().await {
///         Ok(response) => response.status().to_string(),
///         Err(_) => format!("backend unreachable (request {})", REQUEST_ID.get()),
///     }
/// }
///
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(PropagateMiddleware::new())
///     .build();
/// // Layer order: `RequestContextLayer` is the router's last (outermost)
/// // layer.
/// let app: axum::Router = axum::Router::new()
///     .route("/", get(move || handler(client.clone())))
///     .layer(RequestContextLayer::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub struct PropagateMiddleware {
    layer: PropagateLayer,
}

impl PropagateMiddleware {
    /// A middleware with the default settings of [`PropagateLayer::new`]:
    /// the trace and the request id (in `x-request-id`), and no baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::reqwest::PropagateMiddleware;
    ///
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(PropagateMiddleware::new())
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn new() -> PropagateMiddleware {
        PropagateMiddleware::default()
    }

    /// The settings: what is propagated, and under which header names.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::Context;
    /// use contextvars_tower::reqwest::PropagateMiddleware;
    /// use contextvars_tower::PropagateLayer;
    ///
    /// let middleware = PropagateMiddleware::from(PropagateLayer::new().forward_baggage(["user-id"]));
    /// let mut headers = http::HeaderMap::new();
    /// Context::new().run(|| middleware.layer().inject(&mut headers));
    /// assert!(headers.contains_key("traceparent"));
    /// ```
    pub fn layer(&self) -> &PropagateLayer {
        &self.layer
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
impl From<PropagateLayer> for PropagateMiddleware {
    /// A middleware that propagates what `layer` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tower::reqwest::PropagateMiddleware;
    /// use contextvars_tower::PropagateLayer;
    /// use http::HeaderName;
    ///
    /// let middleware = PropagateMiddleware::from(
    ///     PropagateLayer::new().request_id_header(HeaderName::from_static("x-correlation-id")),
    /// );
    /// # drop(middleware);
    /// ```
    fn from(layer: PropagateLayer) -> PropagateMiddleware {
        PropagateMiddleware { layer }
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[async_trait::async_trait]
impl Middleware for PropagateMiddleware {
    async fn handle(
        &self,
        mut req: ::reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<::reqwest::Response> {
        let outbound = self.layer.inject(req.headers_mut());
        extensions.insert(outbound);
        next.run(req, extensions).await
    }
}
