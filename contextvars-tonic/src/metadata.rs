//! gRPC metadata as a carrier of the context.

use contextvars_tower::carrier::{Extractor, Injector};
use tonic::metadata::{KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};

/// A call's [`MetadataMap`] read as a [`carrier`](contextvars_tower::carrier):
/// the context of a call, from metadata, with the same validation as the
/// server layer, through
/// [`RequestContextLayer::extract`](contextvars_tower::RequestContextLayer::extract).
///
/// Every entry is a field: ASCII entries with their value, binary (`-bin`)
/// entries with their base64 text, which count towards the size limit but
/// never match a name the context is read from.
///
/// [`GrpcContextLayer`](crate::GrpcContextLayer) already gives every call a
/// context of its own; this is for code that receives metadata some other
/// way.
///
/// # Examples
///
/// ```
/// use contextvars_tonic::MetadataExtractor;
/// use contextvars_tower::{RequestContextLayer, REQUEST_ID};
///
/// let mut request = tonic::Request::new(());
/// request.metadata_mut().insert("x-request-id", "call-1".parse().unwrap());
/// let ctx = RequestContextLayer::new().extract(&MetadataExtractor(request.metadata()));
/// assert_eq!(ctx.run(|| REQUEST_ID.get()).as_str(), "call-1");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MetadataExtractor<'a>(pub &'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => (key.as_str(), value.as_encoded_bytes()),
            KeyAndValueRef::Binary(key, value) => (key.as_str(), value.as_encoded_bytes()),
        })
    }
}

/// A call's [`MetadataMap`] written as a [`carrier`](contextvars_tower::carrier):
/// the current context into outgoing metadata, through
/// [`PropagateLayer::inject_into`](contextvars_tower::PropagateLayer::inject_into),
/// as [`PropagateInterceptor`](crate::PropagateInterceptor) does.
///
/// Fields are ASCII metadata entries. A name that is not a valid ASCII
/// metadata key (or ends with `-bin`), or a value that is not a valid
/// metadata value, is not written; the names and values the context is
/// written as always are.
///
/// # Examples
///
/// ```
/// use contextvars::Context;
/// use contextvars_tonic::MetadataInjector;
/// use contextvars_tower::{PropagateLayer, RequestId, REQUEST_ID};
///
/// let mut request = tonic::Request::new(());
/// Context::new().run(|| {
///     REQUEST_ID.set(RequestId::new("call-2").unwrap());
///     PropagateLayer::new().inject_into(&mut MetadataInjector(request.metadata_mut()));
/// });
/// assert_eq!(request.metadata().get("x-request-id").unwrap(), "call-2");
/// assert!(request.metadata().contains_key("traceparent"));
/// ```
#[derive(Debug)]
pub struct MetadataInjector<'a>(pub &'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, name: &str, value: String) {
        let Ok(key) = MetadataKey::from_bytes(name.as_bytes()) else {
            return;
        };
        if let Ok(value) = MetadataValue::try_from(value) {
            self.0.insert(key, value);
        }
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_entries_are_fields_that_never_match() {
        let mut map = MetadataMap::new();
        map.insert("x-request-id", "r-1".parse().unwrap());
        map.insert_bin("x-request-id-bin", MetadataValue::from_bytes(b"\0\xff"));
        let extractor = MetadataExtractor(&map);
        let fields: Vec<(&str, &[u8])> = extractor.fields().collect();
        assert_eq!(
            fields,
            [
                ("x-request-id", &b"r-1"[..]),
                ("x-request-id-bin", &b"AP8"[..])
            ]
        );
    }

    #[test]
    fn invalid_names_and_values_are_not_written() {
        let mut map = MetadataMap::new();
        let mut injector = MetadataInjector(&mut map);
        injector.set("Bad Name", "v".into());
        injector.set("trace-bin", "v".into());
        injector.set("x-ok", "a\nb".into());
        injector.set("x-ok", "fine".into());
        assert!(injector.contains("X-OK"));
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("x-ok").unwrap(), "fine");
    }
}
