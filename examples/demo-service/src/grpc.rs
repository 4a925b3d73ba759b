//! The backend's gRPC endpoint, `demo.Backend/Work`, and the frontend's
//! client for it: the same work as `POST /work/{order}`, for the orders the
//! frontend sends over gRPC.
//!
//! The server runs behind `contextvars_tonic::GrpcContextLayer` (a context
//! per call, from its metadata), the client with
//! `contextvars_tonic::PropagateInterceptor` (the current request's ids into
//! the call's metadata). The messages are prost messages declared by hand
//! and the service glue is written out, as `tonic-build` would generate it
//! from
//!
//! ```text
//! service Backend { rpc Work (WorkRequest) returns (WorkReply); }
//! message WorkRequest { uint64 order = 1; }
//! message WorkReply { string request_id = 1; string trace_id = 2; string parent_span_id = 3; string tenant = 4; }
//! ```
//!
//! so that building the demo needs no `protoc`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use contextvars_tonic::{GrpcContextLayer, PropagateInterceptor};
use contextvars_tower::{REQUEST_ID, TRACE};
use http::uri::PathAndQuery;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tracing::info;

use crate::{backend_layer, Backend, BackendReply, Fault, Received, INJECTED_TIMEOUT, TENANT};

#[derive(Clone, PartialEq, prost::Message)]
struct WorkRequest {
    #[prost(uint64, tag = "1")]
    order: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WorkReply {
    #[prost(string, tag = "1")]
    request_id: String,
    #[prost(string, tag = "2")]
    trace_id: String,
    /// Empty when the call's trace had no parent.
    #[prost(string, tag = "3")]
    parent_span_id: String,
    /// The tenant the call carried; empty if none.
    #[prost(string, tag = "4")]
    tenant: String,
}

const WORK: &str = "/demo.Backend/Work";

/// `demo.Backend`: routes calls by path, as generated code does.
#[derive(Clone)]
struct BackendService {
    state: Arc<Backend>,
}

impl NamedService for BackendService {
    const NAME: &'static str = "demo.Backend";
}

impl tower::Service<http::Request<Body>> for BackendService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            if req.uri().path() != WORK {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let method = tower::service_fn(move |request| work(state.clone(), request));
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<WorkReply, WorkRequest>::default());
            Ok(grpc.unary(method, req).await)
        })
    }
}

/// `Work`: what `POST /work/{order}` does, with the call's metadata in place
/// of the request's headers.
async fn work(
    state: Arc<Backend>,
    request: Request<WorkRequest>,
) -> Result<Response<WorkReply>, Status> {
    let metadata = |key: &str| {
        request
            .metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let order = request.get_ref().order;
    state.received.lock().unwrap().insert(
        order,
        Received {
            request_id: metadata("x-request-id"),
            traceparent: metadata("traceparent"),
        },
    );
    info!(order, step = "backend", via = "grpc", "backend work");
    if state.faults && Fault::of(order) == Some(Fault::Timeout) {
        tokio::time::sleep(INJECTED_TIMEOUT * 3).await;
    }
    let trace = TRACE.get();
    Ok(Response::new(WorkReply {
        request_id: REQUEST_ID.get().to_string(),
        trace_id: trace.trace_id().to_string(),
        parent_span_id: trace
            .parent_span_id()
            .map_or_else(String::new, |id| id.to_string()),
        tenant: TENANT.get_opt().map_or_else(String::new, |t| t.to_string()),
    }))
}

/// Serves `demo.Backend` on `listener`, every call in a context of its own.
pub(crate) async fn serve(listener: TcpListener, state: Arc<Backend>) -> Result<(), String> {
    Server::builder()
        .layer(GrpcContextLayer::with_settings(backend_layer()))
        .add_service(BackendService { state })
        .serve_with_incoming(TcpListenerStream::new(listener))
        .await
        .map_err(|err| err.to_string())
}

/// The frontend's client: one HTTP/2 connection (made at the first call),
/// every call carrying the current request's ids in its metadata.
#[derive(Clone)]
pub(crate) struct BackendClient {
    grpc: tonic::client::Grpc<InterceptedService<Channel, PropagateInterceptor>>,
}

impl BackendClient {
    pub(crate) fn new(url: String) -> Result<BackendClient, String> {
        let channel = Endpoint::from_shared(url)
            .map_err(|err| err.to_string())?
            .connect_lazy();
        let channel = InterceptedService::new(channel, PropagateInterceptor::new());
        Ok(BackendClient {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    /// `Work(order)`, as the backend's reply to `POST /work/{order}`.
    pub(crate) async fn work(mut self, order: u64) -> Result<BackendReply, Status> {
        self.grpc
            .ready()
            .await
            .map_err(|err| Status::unavailable(err.to_string()))?;
        let reply = self
            .grpc
            .unary(
                Request::new(WorkRequest { order }),
                PathAndQuery::from_static(WORK),
                ProstCodec::<WorkRequest, WorkReply>::default(),
            )
            .await?
            .into_inner();
        Ok(BackendReply {
            request_id: reply.request_id,
            trace_id: reply.trace_id,
            parent_span_id: Some(reply.parent_span_id).filter(|id| !id.is_empty()),
            via: "grpc".to_owned(),
            tenant: Some(reply.tenant).filter(|t| !t.is_empty()),
        })
    }
}
