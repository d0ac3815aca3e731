//! Request counters by verb, resource and client, for tests and `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestKey {
    pub verb: String,
    /// `plural` or `plural.group`, with `/subresource` when one was addressed; empty for
    /// non-resource paths.
    pub resource: String,
    /// The User-Agent's product token (e.g. `kubectl`, `kube-rs`), or `unknown`.
    pub client: String,
}

#[derive(Default)]
pub struct Metrics {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
    /// Watch requests by full User-Agent: tells apart processes of one client (the replicas of
    /// one platform name themselves in it).
    watches_by_agent: Mutex<BTreeMap<String, u64>>,
    writes: AtomicU64,
}

/// A point-in-time copy of the request counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestCounts {
    pub by_key: BTreeMap<RequestKey, u64>,
    pub watches_by_agent: BTreeMap<String, u64>,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.by_key.values().sum()
    }
    /// Sum over every client and resource for one verb.
    pub fn verb(&self, verb: &str) -> u64 {
        self.by_key
            .iter()
            .filter(|(k, _)| k.verb == verb)
            .map(|(_, v)| v)
            .sum()
    }
    /// Sum for one verb on one resource (`plural` or `plural.group`).
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.by_key
            .iter()
            .filter(|(k, _)| k.verb == verb && k.resource == resource)
            .map(|(_, v)| v)
            .sum()
    }
    /// Sum for one client (User-Agent product).
    pub fn client(&self, client: &str) -> u64 {
        self.by_key
            .iter()
            .filter(|(k, _)| k.client == client)
            .map(|(_, v)| v)
            .sum()
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn record(&self, verb: &str, resource: &str, client: &str) {
        let key = RequestKey {
            verb: verb.to_string(),
            resource: resource.to_string(),
            client: client.to_string(),
        };
        *self.counts.lock().entry(key).or_insert(0) += 1;
    }

    pub fn record_watch(&self, user_agent: &str) {
        *self
            .watches_by_agent
            .lock()
            .entry(user_agent.to_string())
            .or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            by_key: self.counts.lock().clone(),
            watches_by_agent: self.watches_by_agent.lock().clone(),
        }
    }

    pub fn reset(&self) {
        self.counts.lock().clear();
        self.watches_by_agent.lock().clear();
    }

    pub fn objects_changed(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn prometheus(&self, objects: &[(String, usize)]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP apiserver_request_total Requests served by the simulated API server.\n",
        );
        out.push_str("# TYPE apiserver_request_total counter\n");
        for (k, v) in self.counts.lock().iter() {
            let _ = writeln!(
                out,
                "apiserver_request_total{{verb=\"{}\",resource=\"{}\",client=\"{}\"}} {v}",
                escape(&k.verb),
                escape(&k.resource),
                escape(&k.client)
            );
        }
        out.push_str("# HELP apiserver_storage_objects Objects stored per resource.\n");
        out.push_str("# TYPE apiserver_storage_objects gauge\n");
        for (res, n) in objects {
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{}\"}} {n}",
                escape(res)
            );
        }
        out.push_str("# HELP apiserver_object_writes_total Writes to the object store.\n");
        out.push_str("# TYPE apiserver_object_writes_total counter\n");
        let _ = writeln!(
            out,
            "apiserver_object_writes_total {}",
            self.writes.load(Ordering::Relaxed)
        );
        out
    }
}

/// The client name for counting: the product part of the User-Agent (`kubectl/v1.32 (...)` →
/// `kubectl`), or the token's name when no User-Agent is sent.
pub fn client_name(user_agent: Option<&str>) -> String {
    match user_agent.map(str::trim).filter(|s| !s.is_empty()) {
        Some(ua) => ua.split(['/', ' ']).next().unwrap_or("unknown").to_string(),
        None => "unknown".to_string(),
    }
}
