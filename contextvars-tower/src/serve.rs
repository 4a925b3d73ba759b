//! `axum::serve` with the request context outermost (cargo feature `axum`).

use std::convert::Infallible;

use axum::extract::connect_info::{Connected, IntoMakeServiceWithConnectInfo};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::AddExtension;
use axum::response::Response;
use axum::routing::IntoMakeService;
use axum::serve::{IncomingStream, Listener, Serve};
use axum::ServiceExt as _;
use tower_service::Service;

use crate::ext::RequestContextExt;
use crate::layer::RequestContextLayer;
use crate::service::RequestContextService;

/// Serves `app` as [`axum::serve()`] does, with every request in a context of
/// its own: [`RequestContextLayer`]'s defaults, **outside** everything `app`
/// does, so no route, fallback or middleware of `app` can run before the
/// request has its context, whatever order its layers were added in.
///
/// Pass the application itself (a `Router` after its last `.layer(..)` and
/// `.with_state(..)`, a `MethodRouter`, any tower service of axum requests),
/// not a make-service: the make-service is built here. The returned
/// [`Serve`] is axum's, so `.with_graceful_shutdown(..)` and `.local_addr()`
/// work as usual. For settings use [`serve_with`]; for the client's address
/// as `ConnectInfo`, [`serve_with_connect_info`].
///
/// axum serves HTTP/1.1 with its `http1` feature (on here) and HTTP/2 with
/// its `http2` feature: turn that on in your own dependency on axum.
///
/// # Errors
///
/// As for [`axum::serve()`]: the future resolves to `io::Result<()>` but never
/// fails (errors accepting a connection are retried), and resolves only after
/// a graceful shutdown.
///
/// # Examples
///
/// ```
/// use axum::{routing::get, Router};
/// use contextvars_tower::REQUEST_ID;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::net::{TcpListener, TcpStream};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { REQUEST_ID.get().to_string() }));
///
/// let listener = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(async move {
///     contextvars_tower::serve(listener, app)
///         .with_graceful_shutdown(async { stopped.await.unwrap_or(()) })
///         .await
/// });
///
/// let mut stream = TcpStream::connect(addr).await?;
/// stream
///     .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-request-id: r-1\r\nconnection: close\r\n\r\n")
///     .await?;
/// let mut response = String::new();
/// stream.read_to_string(&mut response).await?;
/// assert!(response.starts_with("HTTP/1.1 200 OK"));
/// assert!(response.ends_with("\r\n\r\nr-1"));
///
/// stop.send(()).unwrap();
/// server.await.unwrap()?;
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn serve<L, S>(
    listener: L,
    app: S,
) -> Serve<L, IntoMakeService<RequestContextService<S>>, RequestContextService<S>>
where
    L: Listener,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    serve_with(listener, app, RequestContextLayer::new())
}

/// [`serve`] with the settings of `layer`: serves `app` as [`axum::serve()`]
/// does, each request in a context of its own, made by `layer` outside
/// everything `app` does.
///
/// # Errors
///
/// As for [`axum::serve()`]: the future resolves to `io::Result<()>` but never
/// fails, and resolves only after a graceful shutdown.
///
/// # Examples
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
/// use http::HeaderName;
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { REQUEST_ID.get().to_string() }));
/// let layer = RequestContextLayer::new()
///     .request_id_header(HeaderName::from_static("x-correlation-id"))
///     .sample_new_traces(false);
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// contextvars_tower::serve_with(listener, app, layer).await
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn serve_with<L, S>(
    listener: L,
    app: S,
    layer: RequestContextLayer,
) -> Serve<L, IntoMakeService<RequestContextService<S>>, RequestContextService<S>>
where
    L: Listener,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    axum::serve(
        listener,
        app.with_request_context_layer(layer).into_make_service(),
    )
}

/// [`serve`], with the client's address in every request as
/// `ConnectInfo<L::Addr>` (for a `TcpListener`, `ConnectInfo<SocketAddr>`),
/// as `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())`
/// does.
///
/// The address is added to the request before the request context is made,
/// so every layer of `app` can extract it, and so can a
/// [`TrustPolicy::peers`](crate::TrustPolicy::peers) policy. For other
/// settings use [`serve_with_layer_and_connect_info`]; for another
/// connect-info type, write it out:
/// `axum::serve(listener, app.with_request_context_layer(layer).into_make_service_with_connect_info::<C>())`
/// (with [`RequestContextExt`] and `axum::ServiceExt` in scope).
///
/// # Errors
///
/// As for [`axum::serve()`]: the future resolves to `io::Result<()>` but never
/// fails, and resolves only after a graceful shutdown.
///
/// # Examples
///
/// ```no_run
/// use std::net::SocketAddr;
/// use axum::{extract::ConnectInfo, routing::get, Router};
/// use contextvars_tower::REQUEST_ID;
///
/// async fn handler(ConnectInfo(client): ConnectInfo<SocketAddr>) -> String {
///     format!("request {} from {client}", REQUEST_ID.get())
/// }
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(handler));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// contextvars_tower::serve_with_connect_info(listener, app).await
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[allow(clippy::type_complexity)]
pub fn serve_with_connect_info<L, S>(
    listener: L,
    app: S,
) -> Serve<
    L,
    IntoMakeServiceWithConnectInfo<RequestContextService<S>, L::Addr>,
    AddExtension<RequestContextService<S>, ConnectInfo<L::Addr>>,
>
where
    L: Listener,
    L::Addr: for<'a> Connected<IncomingStream<'a, L>>,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    serve_with_layer_and_connect_info(listener, app, RequestContextLayer::new())
}

/// [`serve_with`] and [`serve_with_connect_info`] at once: serves `app`
/// with the settings of `layer`, the client's address in every request as
/// `ConnectInfo<L::Addr>`.
///
/// That is what a [`TrustPolicy::peers`](crate::TrustPolicy::peers) policy
/// needs: it reads the address from `ConnectInfo<SocketAddr>`, which
/// [`serve_with`] does not add (every request would then be untrusted).
///
/// # Errors
///
/// As for [`axum::serve()`]: the future resolves to `io::Result<()>` but never
/// fails, and resolves only after a graceful shutdown.
///
/// # Examples
///
/// Request ids taken only from the load balancers in `10.0.0.0/8`:
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use contextvars_tower::{RequestContextLayer, TrustPolicy, REQUEST_ID};
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { REQUEST_ID.get().to_string() }));
/// let layer = RequestContextLayer::new()
///     .trust_incoming_ids(TrustPolicy::peers(["10.0.0.0/8".parse().unwrap()]));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// contextvars_tower::serve_with_layer_and_connect_info(listener, app, layer).await
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[allow(clippy::type_complexity)]
pub fn serve_with_layer_and_connect_info<L, S>(
    listener: L,
    app: S,
    layer: RequestContextLayer,
) -> Serve<
    L,
    IntoMakeServiceWithConnectInfo<RequestContextService<S>, L::Addr>,
    AddExtension<RequestContextService<S>, ConnectInfo<L::Addr>>,
>
where
    L: Listener,
    L::Addr: for<'a> Connected<IncomingStream<'a, L>>,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    axum::serve(
        listener,
        app.with_request_context_layer(layer)
            .into_make_service_with_connect_info::<L::Addr>(),
    )
}
