//! kmodules conditions on JSON objects, and KubeDB's phase derivation (kubedb-api §2.7).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

pub fn now_str(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A condition list being edited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions(pub Vec<Value>);

impl Conditions {
    pub fn from_status(status: &Value) -> Self {
        Conditions(
            status
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )
    }

    pub fn get(&self, t: &str) -> Option<&Value> {
        self.0.iter().find(|c| c["type"] == t)
    }

    /// `Some(true|false)` for True/False, `None` when absent or Unknown.
    pub fn is(&self, t: &str) -> Option<bool> {
        match self.get(t)?["status"].as_str()? {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        }
    }

    pub fn since(&self, t: &str) -> Option<DateTime<Utc>> {
        self.get(t)?["lastTransitionTime"]
            .as_str()
            .and_then(parse_time)
    }

    /// Sets a condition; the transition time moves only when the status changes.
    pub fn set(
        &mut self,
        t: &str,
        status: bool,
        reason: &str,
        message: &str,
        generation: i64,
        now: DateTime<Utc>,
    ) {
        let s = if status { "True" } else { "False" };
        match self.0.iter_mut().find(|c| c["type"] == t) {
            Some(c) => {
                if c["status"] != s {
                    c["lastTransitionTime"] = json!(now_str(now));
                }
                c["status"] = json!(s);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
                c["observedGeneration"] = json!(generation);
            }
            None => self.0.push(json!({
                "type": t,
                "status": s,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": now_str(now),
            })),
        }
    }

    pub fn remove(&mut self, t: &str) {
        self.0.retain(|c| c["type"] != t);
    }
}

/// The phase KubeDB derives from the conditions, in its order of precedence.
pub fn derive_phase(c: &Conditions) -> Option<&'static str> {
    if c.is("HealthCheckPaused") == Some(true) {
        return Some("Unknown");
    }
    if c.is("Halted") == Some(true) {
        return Some("Halted");
    }
    if c.is("DataRestoreStarted") == Some(true) {
        match c.is("DataRestored") {
            None => return Some("DataRestoring"),
            Some(false) => return Some("NotReady"),
            Some(true) => {}
        }
    }
    if c.is("Provisioned") == Some(true) {
        if c.is("AcceptingConnection") == Some(false) {
            return Some("NotReady");
        }
        if c.is("ReplicaReady") == Some(false) || c.is("Ready") == Some(false) {
            return Some("Critical");
        }
        if c.is("Ready") == Some(true) {
            return Some("Ready");
        }
    }
    if c.is("ProvisioningStarted") == Some(true) {
        return Some("Provisioning");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_follows_kubedb_precedence() {
        let now = Utc::now();
        let mut c = Conditions::default();
        assert_eq!(derive_phase(&c), None);
        c.set("ProvisioningStarted", true, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("Provisioning"));
        for t in [
            "ReplicaReady",
            "AcceptingConnection",
            "Ready",
            "Provisioned",
        ] {
            c.set(t, true, "r", "m", 1, now);
        }
        assert_eq!(derive_phase(&c), Some("Ready"));
        c.set("ReplicaReady", false, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("Critical"));
        c.set("AcceptingConnection", false, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("NotReady"));
        c.set("DataRestoreStarted", true, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("DataRestoring"));
        c.set("Halted", true, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("Halted"));
        c.set("HealthCheckPaused", true, "r", "m", 1, now);
        assert_eq!(derive_phase(&c), Some("Unknown"));
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let t0 = parse_time("2026-01-01T00:00:00Z").expect("time");
        let t1 = parse_time("2026-01-01T00:05:00Z").expect("time");
        let mut c = Conditions::default();
        c.set("Ready", true, "a", "b", 1, t0);
        c.set("Ready", true, "a", "b", 2, t1);
        assert_eq!(c.since("Ready"), Some(t0));
        c.set("Ready", false, "a", "b", 2, t1);
        assert_eq!(c.since("Ready"), Some(t1));
        c.remove("Ready");
        assert!(c.get("Ready").is_none());
    }
}
