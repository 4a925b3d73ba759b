//! Request context for tower services.
