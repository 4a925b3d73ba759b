//! Performance (placeholder being written).
