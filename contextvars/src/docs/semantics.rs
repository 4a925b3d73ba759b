//! Semantics (placeholder being written).
