//! Every log line carries the current values of chosen context variables.
