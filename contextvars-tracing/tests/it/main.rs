//! Integration tests of `contextvars-tracing`, one module per concept.

mod common;
mod hostile;
mod json;
mod log_kv;
mod one_key;
#[cfg(feature = "opentelemetry")]
mod otel;
mod tasks;
mod text;
mod threads;
