//! Security regressions: hardening.
