//! Fault injection shared by the API server (latency, errors, cut watches) and the simulated
//! operator (forced phases, failed OpsRequests). Set by flags and by the admin endpoint.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// One API-level rule: requests matching `verb`/`resource` (None = any) get `latency` added and
/// fail with probability `error_rate` in the given way.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ApiFault {
    pub verb: Option<String>,
    pub resource: Option<String>,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub error: Option<FaultKind>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 500 InternalError
    ServerError,
    /// 429 TooManyRequests with Retry-After
    TooManyRequests,
    /// the request hangs past any sane client timeout (held for `timeout_hold`)
    Timeout,
    /// the connection is closed without an answer
    Drop,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FaultSettings {
    #[serde(default)]
    pub api: Vec<ApiFault>,
    /// Cut every watch stream after this many seconds (0/None = never).
    #[serde(default)]
    pub cut_watches_after_secs: Option<u64>,
    /// `"namespace/name"` of a database → phase forced on it (`Critical`, `NotReady`).
    #[serde(default)]
    pub force_db_phase: HashMap<String, String>,
    /// `"namespace/name"` of an OpsRequest, or `"*"` for all → failure reason.
    #[serde(default)]
    pub fail_ops_requests: HashMap<String, String>,
    /// `"namespace/name"` of OpsRequests (or `"*"` for all) held in `Progressing` (the database
    /// stays `Paused`) until removed: a test looks at the in-between state without racing the
    /// steps, a benchmark keeps operations running as long as it needs.
    #[serde(default)]
    pub hold_ops_requests: std::collections::HashSet<String>,
    /// The embedded S3 server answers 503 to everything while set (a failing bucket).
    #[serde(default)]
    pub s3_unavailable: bool,
    /// `"namespace/name"` of a BackupConfiguration, or `"*"` for all → reason its backups fail.
    #[serde(default)]
    pub fail_backups: HashMap<String, String>,
}

#[derive(Debug, Default)]
pub struct Faults {
    settings: RwLock<FaultSettings>,
}

impl Faults {
    pub fn new(settings: FaultSettings) -> Self {
        Self {
            settings: RwLock::new(settings),
        }
    }
    pub fn get(&self) -> FaultSettings {
        self.settings.read().clone()
    }
    pub fn set(&self, settings: FaultSettings) {
        *self.settings.write() = settings;
    }
    pub fn update(&self, f: impl FnOnce(&mut FaultSettings)) {
        f(&mut self.settings.write());
    }
    pub fn forced_phase(&self, namespace: &str, name: &str) -> Option<String> {
        self.settings
            .read()
            .force_db_phase
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }
    pub fn ops_failure(&self, namespace: &str, name: &str) -> Option<String> {
        let s = self.settings.read();
        s.fail_ops_requests
            .get(&format!("{namespace}/{name}"))
            .or_else(|| s.fail_ops_requests.get("*"))
            .cloned()
    }
    pub fn ops_held(&self, namespace: &str, name: &str) -> bool {
        let s = self.settings.read();
        s.hold_ops_requests.contains("*")
            || s.hold_ops_requests.contains(&format!("{namespace}/{name}"))
    }
    pub fn s3_unavailable(&self) -> bool {
        self.settings.read().s3_unavailable
    }
    pub fn backup_failure(&self, namespace: &str, backup_configuration: &str) -> Option<String> {
        let s = self.settings.read();
        s.fail_backups
            .get(&format!("{namespace}/{backup_configuration}"))
            .or_else(|| s.fail_backups.get("*"))
            .cloned()
    }
    pub fn watch_cut(&self) -> Option<Duration> {
        self.settings
            .read()
            .cut_watches_after_secs
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
    }
}
