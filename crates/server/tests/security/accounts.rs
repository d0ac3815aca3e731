//! Security regressions: accounts.
