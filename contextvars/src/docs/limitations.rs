//! Limitations (placeholder being written).
