//! The server-side response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use contextvars::WithContext;
use http::header::Entry;
use http::{HeaderName, Response};
use pin_project_lite::pin_project;

use crate::request_id::RequestId;

pin_project! {
    /// The response future of [`RequestContextService`](crate::RequestContextService).
    ///
    /// Every poll of the inner future runs in the request's context (a
    /// [`WithContext`] that owns it; the inner future is also dropped in
    /// it). On success the request id is added to the response's headers
    /// (unless [disabled](crate::RequestContextLayer::echo_request_id)) and,
    /// if [enabled](crate::RequestContextLayer::response_extension), to its
    /// extensions.
    ///
    /// It is polled by one task: the task that polls it first (in a hyper
    /// or axum server, the connection's task, or the HTTP/2 stream's). The
    /// request's context records that task at the first poll instead of
    /// asking the runtime at every poll
    /// ([`WithContext::task_root`](contextvars::WithContext::task_root)).
    /// Moving an unfinished response future to another task and polling it
    /// there is not supported: `set`s in it could be refused.
    ///
    /// # Panics
    ///
    /// Polling after completion panics, as for the inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextService, ResponseFuture, REQUEST_ID};
    /// use tower::{service_fn, Service};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut svc = RequestContextService::new(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(REQUEST_ID.get().to_string()))
    /// }));
    /// let req = http::Request::builder().header("x-request-id", "r-9").body(()).unwrap();
    /// let future: ResponseFuture<_> = svc.call(req);
    /// let res = future.await.unwrap();
    /// assert_eq!(res.body(), "r-9");
    /// assert_eq!(res.headers()["x-request-id"], "r-9");
    /// # }
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: WithContext<F>,
        // Taken when the response is ready: the echo moves it into the
        // response's headers instead of sharing it (no reference count).
        request_id: Option<RequestId>,
        echo_header: Option<HeaderName>,
        response_extension: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: WithContext<F>,
        request_id: RequestId,
        echo_header: Option<HeaderName>,
        response_extension: bool,
    ) -> ResponseFuture<F> {
        ResponseFuture {
            inner,
            request_id: Some(request_id),
            echo_header,
            response_extension,
        }
    }

    /// The request's context, with the changes the request made so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use contextvars_tower::{RequestContextService, REQUEST_ID};
    /// use tower::{service_fn, Service};
    ///
    /// let mut svc = RequestContextService::new(service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, Infallible>(http::Response::new(()))
    /// }));
    /// let req = http::Request::builder().header("x-request-id", "r-1").body(()).unwrap();
    /// let future = svc.call(req);
    /// assert_eq!(future.context().get(&REQUEST_ID).unwrap().as_str(), "r-1");
    /// ```
    pub fn context(&self) -> &contextvars::Context {
        self.inner.context()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.inner.poll(task_cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Pending => return Poll::Pending,
        };
        let request_id = this
            .request_id
            .take()
            .expect("taken once: the inner future panics if polled after completion");
        if *this.response_extension {
            response.extensions_mut().insert(request_id.clone());
        }
        if let Some(name) = this.echo_header.take() {
            // One lookup: the name is hashed once, and only inserted if absent.
            if let Entry::Vacant(slot) = response.headers_mut().entry(name) {
                slot.insert(request_id.into_header_value());
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("request_id", &self.request_id)
            .field("context", self.inner.context())
            .finish_non_exhaustive()
    }
}
