//! Integration tests over real loopback HTTP: axum servers on 127.0.0.1,
//! hyper clients.

mod baggage_interop;
mod common;
mod entry_points;
mod header_limits;
mod hostile_inputs;
mod id_policy;
mod isolation;
mod misordered_middleware;
mod panicking_handler;
mod plain_spawn_in_handler;
mod propagation;
mod tower_http_interop;
mod typed_vars;
