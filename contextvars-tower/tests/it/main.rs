//! Integration tests over real loopback HTTP: axum servers on 127.0.0.1,
//! hyper clients.

mod common;
mod hostile_inputs;
mod isolation;
mod propagation;
mod tower_http_interop;
