//! The kubedb-dbaas control plane: REST API, authentication and authorization, audit, wiring.

pub mod app;
pub mod auth;
pub mod backup_watch;
pub mod catalog;
pub mod cli;
pub mod clusters;
pub mod config;
pub mod context;
pub mod demo;
pub mod error;
pub mod extract;
pub mod health_check;
pub mod keys;
pub mod leader;
pub mod listener;
pub mod live_metrics;
pub mod metrics;
pub mod metrics_history;
pub mod observed;
pub mod ops;
pub mod ratelimit;
pub mod read_cache;
pub mod reconciler;
pub mod routes;
pub mod serve;
pub mod signals;
pub mod state;
pub mod watchers;
pub mod workflows;

pub use config::Config;
pub use serve::{start, Running};

#[cfg(test)]
mod layering {
    /// What the application state is built from (and the context workflows run over) never
    /// reaches back into what is built on the state: no import circle through `state`.
    #[test]
    fn the_state_and_what_it_is_built_from_import_nothing_above_them() {
        let upper = [
            "crate::state",
            "crate::ops",
            "crate::workflows",
            "crate::routes",
            "crate::app",
            "crate::clusters",
            "crate::watchers",
            "crate::reconciler",
            "crate::catalog",
            "crate::serve",
        ];
        let lower = [
            "context.rs",
            "signals.rs",
            "metrics.rs",
            "config.rs",
            "ratelimit.rs",
            "read_cache.rs",
            "observed.rs",
            "keys.rs",
            "error.rs",
            "auth/tokens.rs",
            "auth/password.rs",
            "auth/client_ip.rs",
        ];
        let src = |f: &str| {
            std::fs::read_to_string(format!("{}/src/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        for f in lower {
            let text = src(f);
            for u in upper {
                assert!(!text.contains(u), "{f} imports {u}");
            }
        }
        let state = src("state.rs");
        for u in &upper[1..] {
            assert!(!state.contains(u), "state.rs imports {u}");
        }
    }
}
