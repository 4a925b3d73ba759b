//! Additional documentation: semantics, performance and limitations.
//!
//! This module contains no code.

pub mod limitations;
pub mod performance;
pub mod semantics;
