//! Security regressions: operations.
