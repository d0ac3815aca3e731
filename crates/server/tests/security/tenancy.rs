//! Security regressions: tenancy.
