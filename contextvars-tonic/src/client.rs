//! The client side: the current context into outgoing metadata.

use contextvars_tower::PropagateLayer;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::metadata::MetadataInjector;

/// A tonic [`Interceptor`] that writes the current context into the
/// metadata of every outgoing call: the client half of this crate.
///
/// It writes what [`PropagateLayer`] writes into HTTP headers
/// ([`PropagateLayer::inject`] lists every field): `traceparent` with a new
/// span id per call, `tracestate`, the request id (`x-request-id` by
/// default) and the baggage it is configured to send (none by default).
/// Entries the call's metadata already has are left alone.
///
/// Use it with the generated client's `with_interceptor`, or with
/// [`InterceptedService`](tonic::service::interceptor::InterceptedService)
/// around any channel. The interceptor runs when the call is made, in the
/// caller's context: from a handler served under
/// [`GrpcContextLayer`](crate::GrpcContextLayer) or
/// `contextvars_tower::RequestContextLayer`, the values of the call or
/// request being served.
///
/// [`PropagateLayer`] itself is a tower layer that works around a tonic
/// `Channel` too (`ServiceBuilder::new().layer(PropagateLayer::new()).service(channel)`):
/// either way, the same metadata.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tonic::PropagateInterceptor;
/// use contextvars_tower::{PropagateLayer, RequestId, BAGGAGE, REQUEST_ID};
/// use tonic::service::Interceptor;
///
/// let mut interceptor = PropagateInterceptor::with_settings(PropagateLayer::new().forward_baggage(["tenant"]));
/// let request = Context::new().run(|| {
///     REQUEST_ID.set(RequestId::new("req-1").unwrap());
///     BAGGAGE.set("tenant=acme,secret=x".parse().unwrap());
///     interceptor.call(tonic::Request::new(())).unwrap()
/// });
/// let metadata = request.metadata();
/// assert_eq!(metadata.get("x-request-id").unwrap(), "req-1");
/// assert_eq!(metadata.get("baggage").unwrap(), "tenant=acme");
/// assert!(metadata.get("traceparent").unwrap().to_str().unwrap().starts_with("00-"));
/// ```
///
/// Around a channel: a generated client takes the same
/// (`GreeterClient::with_interceptor(channel, PropagateInterceptor::new())`).
///
/// ```no_run
/// use contextvars_tonic::PropagateInterceptor;
/// use tonic::service::interceptor::InterceptedService;
/// use tonic::transport::Endpoint;
///
/// let channel = Endpoint::from_static("http://127.0.0.1:50051").connect_lazy();
/// let grpc = tonic::client::Grpc::new(InterceptedService::new(channel, PropagateInterceptor::new()));
/// # drop(grpc);
/// ```
#[derive(Clone, Debug, Default)]
pub struct PropagateInterceptor {
    layer: PropagateLayer,
}

impl PropagateInterceptor {
    /// An interceptor with the default settings of [`PropagateLayer::new`]:
    /// the trace and the request id, no baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars_tonic::PropagateInterceptor;
    ///
    /// let interceptor = PropagateInterceptor::new();
    /// # drop(interceptor);
    /// ```
    pub fn new() -> PropagateInterceptor {
        PropagateInterceptor::default()
    }

    /// An interceptor with the settings of `layer`: the request id's
    /// metadata key, the baggage allowed out, the exported variables, the
    /// sampling of new traces.
    ///
    /// # Examples
    ///
    /// ```
    /// use contextvars::ContextVar;
    /// use contextvars_tonic::PropagateInterceptor;
    /// use contextvars_tower::PropagateLayer;
    ///
    /// static TENANT: ContextVar<String> = ContextVar::new("tenant");
    ///
    /// let interceptor = PropagateInterceptor::with_settings(
    ///     PropagateLayer::new().forward_baggage(["user-id"]).export_var("tenant", &TENANT),
    /// );
    /// # drop(interceptor);
    /// ```
    pub fn with_settings(layer: PropagateLayer) -> PropagateInterceptor {
        PropagateInterceptor { layer }
    }
}

impl Interceptor for PropagateInterceptor {
    /// Writes the current context into the request's metadata; never
    /// refuses a call.
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        self.layer
            .inject_into(&mut MetadataInjector(request.metadata_mut()));
        Ok(request)
    }
}
