//! Security regressions: abuse.
