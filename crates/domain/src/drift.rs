//! Drift: what a database's record asks for (its desired state) against what the cluster was last
//! seen running, and which remedy puts each difference back. Pure: the reconciler feeds it the
//! watch cache's observations and carries out what it decides.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::Size;
use crate::model::Database;
use crate::status::{DatabaseStatus, OperationType};
use crate::versions::compare_versions;

/// What the platform does about drift: put it back, or only say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    #[default]
    Heal,
    Report,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "heal" => Some(Policy::Heal),
            "report" => Some(Policy::Report),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Policy::Heal => "heal",
            Policy::Report => "report",
        }
    }
}

/// What the watch cache last saw of a database's KubeDB object and of the children the platform
/// made for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seen {
    pub replicas: Option<i64>,
    pub size: Option<Size>,
    pub storage_gb: Option<i64>,
    /// The catalog name in `spec.version`.
    pub version: Option<String>,
    pub halted: bool,
    pub deletion_policy: Option<String>,
    /// On its way out: nothing to compare.
    pub being_deleted: bool,
    /// Whether the database's NetworkPolicy exists; `None` while unknown (not listed yet).
    pub network_policy: Option<bool>,
    /// The auth Secret the platform made (the one the object names), when it is the platform's.
    pub auth_secret: Option<String>,
    /// Whether that Secret exists; `None` while unknown.
    pub auth_secret_present: Option<bool>,
}

/// What can drift, in the order remedies run (operations queue in this order too).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Halted,
    DeletionPolicy,
    NetworkPolicy,
    AuthSecret,
    Replicas,
    Size,
    StorageGb,
    Version,
}

impl Field {
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Halted => "halted",
            Field::DeletionPolicy => "deletion_policy",
            Field::NetworkPolicy => "network_policy",
            Field::AuthSecret => "auth_secret",
            Field::Replicas => "replicas",
            Field::Size => "size",
            Field::StorageGb => "storage_gb",
            Field::Version => "version",
        }
    }
}

/// How a difference is put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Queue this day-2 operation towards the record's desired state.
    Operation(OperationType),
    /// Re-apply the object or spec field directly: no OpsRequest restores it.
    Reapply,
    /// Leave it as it is; the text says why it cannot be put back safely.
    ReportOnly(&'static str),
}

/// One difference between the record and the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub field: Field,
    pub desired: String,
    pub observed: String,
    pub remedy: Remedy,
}

/// The `deletionPolicy` the platform sets: `Halt` while paused, else `DoNotTerminate` with
/// deletion protection, `Delete` without.
pub fn desired_deletion_policy(db: &Database) -> &'static str {
    if db.status == DatabaseStatus::Paused {
        "Halt"
    } else if db.deletion_protection {
        "DoNotTerminate"
    } else {
        "Delete"
    }
}

/// The members the KubeDB object carries: the record's replicas for a highly available database,
/// one otherwise.
pub fn desired_members(db: &Database) -> i64 {
    if db.high_availability {
        db.replicas.max(1)
    } else {
        1
    }
}

/// Whether drift is looked for at all: only a database no operation owns and that runs (or is
/// paused) by the platform's will. Failed, provisioning, changing and deleted ones are not.
pub fn watched(status: DatabaseStatus) -> bool {
    matches!(status, DatabaseStatus::Running | DatabaseStatus::Paused)
}

/// How a catalog name orders against another: `None` when they are of different distributions
/// (`percona-8.0.36` against `8.0.36`) and so do not order at all.
fn version_order(a: &str, b: &str) -> Option<Ordering> {
    let dist = |s: &str| {
        s.find(|c: char| c.is_ascii_digit())
            .map_or(s.to_string(), |i| s[..i].to_string())
    };
    (dist(a) == dist(b)).then(|| compare_versions(a, b))
}

/// Every difference between `db`'s desired state and what was `seen`, ordered by [`Field`].
/// Nothing for a database that is not [`watched`] or whose object is being deleted. While the
/// database is (or has been made) halted its shape is not compared: KubeDB runs no pods, and no
/// OpsRequest runs on a halted database.
pub fn compare(db: &Database, seen: &Seen) -> Vec<Drift> {
    let mut out = Vec::new();
    if !watched(db.status) || seen.being_deleted {
        return out;
    }
    let mut push = |field, desired: String, observed: String, remedy| {
        out.push(Drift {
            field,
            desired,
            observed,
            remedy,
        })
    };
    let paused = db.status == DatabaseStatus::Paused;
    if seen.halted != paused {
        push(
            Field::Halted,
            paused.to_string(),
            seen.halted.to_string(),
            Remedy::Reapply,
        );
    }
    let policy = desired_deletion_policy(db);
    if let Some(p) = seen.deletion_policy.as_deref().filter(|p| *p != policy) {
        push(
            Field::DeletionPolicy,
            policy.into(),
            p.into(),
            Remedy::Reapply,
        );
    }
    if seen.network_policy == Some(false) {
        push(
            Field::NetworkPolicy,
            "present".into(),
            "missing".into(),
            Remedy::Reapply,
        );
    }
    if let (Some(name), Some(false)) = (&seen.auth_secret, seen.auth_secret_present) {
        push(
            Field::AuthSecret,
            format!("Secret {name}"),
            "missing".into(),
            Remedy::ReportOnly(
                "the platform keeps no copy of the password; rotate the credentials to make a new Secret",
            ),
        );
    }
    if paused || seen.halted {
        return out;
    }
    let members = desired_members(db);
    if let Some(r) = seen.replicas.filter(|r| *r != members) {
        let remedy = if db.high_availability {
            Remedy::Operation(OperationType::ScaleHorizontal)
        } else {
            Remedy::ReportOnly("a standalone database is not scaled horizontally")
        };
        push(Field::Replicas, members.to_string(), r.to_string(), remedy);
    }
    if let Some(s) = seen.size.filter(|s| *s != db.size) {
        push(
            Field::Size,
            db.size.as_str().into(),
            s.as_str().into(),
            Remedy::Operation(OperationType::ScaleVertical),
        );
    }
    if let Some(g) = seen.storage_gb.filter(|g| *g != db.storage_gb) {
        let remedy = if g < db.storage_gb {
            Remedy::Operation(OperationType::ExpandStorage)
        } else {
            Remedy::ReportOnly("volumes never shrink")
        };
        push(
            Field::StorageGb,
            db.storage_gb.to_string(),
            g.to_string(),
            remedy,
        );
    }
    if let Some(v) = seen.version.as_deref().filter(|v| *v != db.version) {
        let remedy = match version_order(v, &db.version) {
            Some(Ordering::Less) => Remedy::Operation(OperationType::UpgradeVersion),
            Some(_) => Remedy::ReportOnly(
                "the cluster runs a newer version; versions are never downgraded",
            ),
            None => {
                Remedy::ReportOnly("the cluster runs another distribution; it is not switched back")
            }
        };
        push(Field::Version, db.version.clone(), v.into(), remedy);
    }
    out
}

/// One difference as the tracker remembers it.
#[derive(Debug, Clone)]
struct Noted {
    observed: String,
    first_seen: DateTime<Utc>,
    handled: bool,
    /// Remedies tried and failed so far, and when to try again.
    failures: u32,
    retry_at: Option<DateTime<Utc>>,
}

/// The longest wait before a failed remedy is tried again.
const MAX_RETRY_WAIT: Duration = Duration::minutes(15);

/// What [`Tracker::assess`] found for one database.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// Stable and not handled yet: report (and heal) these now.
    pub due: Vec<Drift>,
    /// When to look again: the earliest moment a difference seen but not yet stable becomes so.
    pub recheck_at: Option<DateTime<Utc>>,
}

/// Remembers which differences were seen since when and which were already dealt with, so that
/// only drift that lasts (KubeDB passes through states of its own) is acted on, and each is
/// reported once, not on every pass. A difference whose observed value changes starts over.
#[derive(Debug)]
pub struct Tracker {
    grace: Duration,
    noted: HashMap<String, BTreeMap<Field, Noted>>,
}

impl Tracker {
    /// A difference is stable once seen for `grace`.
    pub fn new(grace: Duration) -> Tracker {
        Tracker {
            grace,
            noted: HashMap::new(),
        }
    }

    /// Notes the database's current differences at `now` (forgetting those that went away) and
    /// returns the stable ones not yet handled.
    pub fn assess(&mut self, id: &str, drifts: Vec<Drift>, now: DateTime<Utc>) -> Assessment {
        if drifts.is_empty() {
            self.noted.remove(id);
            return Assessment::default();
        }
        let noted = self.noted.entry(id.to_string()).or_default();
        noted.retain(|f, n| {
            drifts
                .iter()
                .any(|d| d.field == *f && d.observed == n.observed)
        });
        let mut out = Assessment::default();
        for d in drifts {
            let n = noted.entry(d.field).or_insert_with(|| Noted {
                observed: d.observed.clone(),
                first_seen: now,
                handled: false,
                failures: 0,
                retry_at: None,
            });
            if n.handled {
                continue;
            }
            let stable_at = n.retry_at.unwrap_or(n.first_seen + self.grace);
            if now >= stable_at {
                out.due.push(d);
            } else {
                out.recheck_at = Some(out.recheck_at.map_or(stable_at, |r| r.min(stable_at)));
            }
        }
        out
    }

    /// These were reported (and healed where the policy says so): not again while they last.
    pub fn handled(&mut self, id: &str, drifts: &[Drift]) {
        if let Some(noted) = self.noted.get_mut(id) {
            for d in drifts {
                if let Some(n) = noted.get_mut(&d.field).filter(|n| n.observed == d.observed) {
                    n.handled = true;
                }
            }
        }
    }

    /// Dealing with these failed (the cluster refused, an operation could not be queued): they
    /// stay due, and come back after a wait that doubles with every failure (from the grace
    /// period up to 15 minutes).
    /// Returns when the first of them is due again.
    pub fn failed(
        &mut self,
        id: &str,
        drifts: &[Drift],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut first: Option<DateTime<Utc>> = None;
        if let Some(noted) = self.noted.get_mut(id) {
            for d in drifts {
                if let Some(n) = noted.get_mut(&d.field).filter(|n| n.observed == d.observed) {
                    let wait = self
                        .grace
                        .checked_mul(1 << n.failures.min(16))
                        .unwrap_or(MAX_RETRY_WAIT)
                        .min(MAX_RETRY_WAIT)
                        .max(Duration::seconds(1));
                    n.failures += 1;
                    n.retry_at = Some(now + wait);
                    first = Some(first.map_or(now + wait, |f| f.min(now + wait)));
                }
            }
        }
        first
    }

    /// Starts over for a database (an operation runs on it: what it sees now is its doing).
    pub fn forget(&mut self, id: &str) {
        self.noted.remove(id);
    }

    /// Keeps only the databases `keep` names (the others are gone).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.noted.retain(|id, _| keep(id));
    }

    /// How many databases have differences noted.
    pub fn len(&self) -> usize {
        self.noted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.noted.is_empty()
    }
}

/// A KubeDB object carrying the platform's labels that no record accounts for.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    pub provider_id: String,
    /// The KubeDB kind (`Postgres`, …).
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// What its labels say.
    pub database_id: Option<String>,
    pub domain: Option<String>,
    pub project: Option<String>,
    /// `no_database_id`, `no_record`, `record_deleted`, `record_elsewhere` or `owner_mismatch`.
    pub reason: String,
    pub first_seen_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::model::CurrentState;
    use crate::quota::Usage;
    use serde_json::json;

    fn db(status: DatabaseStatus) -> Database {
        let now = Utc::now();
        Database {
            id: "db-1".into(),
            name: "orders".into(),
            domain: "acme".into(),
            project: "web".into(),
            engine: Engine::Postgres,
            version: "16.10".into(),
            size: Size::Small,
            storage_gb: 20,
            replicas: 3,
            ready_replicas: 3,
            status,
            health_status: None,
            kubedb_phase: Some("Ready".into()),
            backup_enabled: false,
            backup_schedule: "daily".into(),
            backup_retention_days: 7,
            high_availability: true,
            monitoring_enabled: false,
            deletion_protection: false,
            endpoint: None,
            port: None,
            service_type: None,
            loadbalancer_ip: None,
            labels: Default::default(),
            annotations: Default::default(),
            provider_id: Some("p-1".into()),
            namespace: Some("ns".into()),
            kubedb_resource_name: Some("orders".into()),
            current: CurrentState::default(),
            upgrade_policy: None,
            conditions: json!([]),
            reserved: Usage::of_database(Size::Small, 20, 3),
            created_at: now,
            updated_at: now,
        }
    }

    fn seen() -> Seen {
        Seen {
            replicas: Some(3),
            size: Some(Size::Small),
            storage_gb: Some(20),
            version: Some("16.10".into()),
            halted: false,
            deletion_policy: Some("Delete".into()),
            being_deleted: false,
            network_policy: Some(true),
            auth_secret: None,
            auth_secret_present: None,
        }
    }

    fn fields(d: &[Drift]) -> Vec<(Field, Remedy)> {
        d.iter().map(|d| (d.field, d.remedy)).collect()
    }

    #[test]
    fn what_the_record_asks_for_is_no_drift() {
        assert!(compare(&db(DatabaseStatus::Running), &seen()).is_empty());
        let mut paused = seen();
        paused.halted = true;
        paused.deletion_policy = Some("Halt".into());
        assert!(compare(&db(DatabaseStatus::Paused), &paused).is_empty());
        let mut protected = db(DatabaseStatus::Running);
        protected.deletion_protection = true;
        let mut s = seen();
        s.deletion_policy = Some("DoNotTerminate".into());
        assert!(compare(&protected, &s).is_empty());
        // unknown children and an unreadable size are not drift
        let mut s = seen();
        s.network_policy = None;
        s.size = None;
        assert!(compare(&db(DatabaseStatus::Running), &s).is_empty());
    }

    #[test]
    fn each_difference_names_its_remedy() {
        let running = db(DatabaseStatus::Running);
        let mut s = seen();
        s.replicas = Some(5);
        s.size = Some(Size::Medium);
        s.storage_gb = Some(10);
        s.version = Some("16.2".into());
        s.deletion_policy = Some("WipeOut".into());
        s.network_policy = Some(false);
        let d = compare(&running, &s);
        assert_eq!(
            fields(&d),
            vec![
                (Field::DeletionPolicy, Remedy::Reapply),
                (Field::NetworkPolicy, Remedy::Reapply),
                (
                    Field::Replicas,
                    Remedy::Operation(OperationType::ScaleHorizontal)
                ),
                (Field::Size, Remedy::Operation(OperationType::ScaleVertical)),
                (
                    Field::StorageGb,
                    Remedy::Operation(OperationType::ExpandStorage)
                ),
                (
                    Field::Version,
                    Remedy::Operation(OperationType::UpgradeVersion)
                ),
            ]
        );
        assert_eq!((d[2].desired.as_str(), d[2].observed.as_str()), ("3", "5"));
        assert_eq!(
            (d[0].desired.as_str(), d[0].observed.as_str()),
            ("Delete", "WipeOut")
        );
    }

    #[test]
    fn what_cannot_be_put_back_safely_is_only_reported() {
        let running = db(DatabaseStatus::Running);
        let mut s = seen();
        s.storage_gb = Some(50);
        s.version = Some("17.9".into());
        s.auth_secret = Some("orders-auth".into());
        s.auth_secret_present = Some(false);
        let d = compare(&running, &s);
        assert!(
            d.iter().all(|d| matches!(d.remedy, Remedy::ReportOnly(_))),
            "{d:?}"
        );
        assert_eq!(
            d.iter().map(|d| d.field).collect::<Vec<_>>(),
            vec![Field::AuthSecret, Field::StorageGb, Field::Version]
        );
        let mut s = seen();
        s.version = Some("percona-16.1".into());
        assert!(matches!(
            compare(&running, &s)[0].remedy,
            Remedy::ReportOnly(_)
        ));
        let mut standalone = db(DatabaseStatus::Running);
        standalone.high_availability = false;
        standalone.replicas = 1;
        let mut s = seen();
        s.replicas = Some(2);
        assert!(matches!(
            compare(&standalone, &s)[0].remedy,
            Remedy::ReportOnly(_)
        ));
    }

    #[test]
    fn halting_is_compared_both_ways_and_hides_the_shape() {
        let mut s = seen();
        s.halted = true;
        s.deletion_policy = Some("Halt".into());
        s.replicas = Some(5);
        let d = compare(&db(DatabaseStatus::Running), &s);
        assert_eq!(
            fields(&d),
            vec![
                (Field::Halted, Remedy::Reapply),
                (Field::DeletionPolicy, Remedy::Reapply)
            ]
        );
        let d = compare(&db(DatabaseStatus::Paused), &seen());
        assert_eq!(
            fields(&d),
            vec![
                (Field::Halted, Remedy::Reapply),
                (Field::DeletionPolicy, Remedy::Reapply)
            ]
        );
        assert_eq!(d[1].desired, "Halt");
    }

    #[test]
    fn databases_an_operation_owns_or_that_failed_are_not_compared() {
        let mut s = seen();
        s.replicas = Some(5);
        for status in [
            DatabaseStatus::Scaling,
            DatabaseStatus::Pausing,
            DatabaseStatus::Provisioning,
            DatabaseStatus::Failed,
            DatabaseStatus::Deleting,
            DatabaseStatus::Deleted,
        ] {
            assert!(compare(&db(status), &s).is_empty(), "{status}");
        }
        s.being_deleted = true;
        assert!(compare(&db(DatabaseStatus::Running), &s).is_empty());
    }

    fn drift(field: Field, observed: &str) -> Drift {
        Drift {
            field,
            desired: "x".into(),
            observed: observed.into(),
            remedy: Remedy::Reapply,
        }
    }

    #[test]
    fn only_lasting_drift_is_due_and_only_once() {
        let t0 = Utc::now();
        let s = Duration::seconds;
        let mut t = Tracker::new(s(2));
        let a = t.assess("db", vec![drift(Field::Replicas, "5")], t0);
        assert!(a.due.is_empty());
        assert_eq!(a.recheck_at, Some(t0 + s(2)));
        let a = t.assess("db", vec![drift(Field::Replicas, "5")], t0 + s(2));
        assert_eq!(a.due.len(), 1);
        t.handled("db", &a.due);
        let a = t.assess("db", vec![drift(Field::Replicas, "5")], t0 + s(10));
        assert_eq!(a, Assessment::default(), "reported once");
        // another value starts over
        let a = t.assess("db", vec![drift(Field::Replicas, "7")], t0 + s(11));
        assert!(a.due.is_empty());
        assert_eq!(
            t.assess("db", vec![drift(Field::Replicas, "7")], t0 + s(13))
                .due
                .len(),
            1
        );
        // gone, then back: a new report
        assert_eq!(t.assess("db", vec![], t0 + s(14)), Assessment::default());
        assert!(t.is_empty());
        t.assess("db", vec![drift(Field::Replicas, "7")], t0 + s(15));
        assert_eq!(
            t.assess("db", vec![drift(Field::Replicas, "7")], t0 + s(17))
                .due
                .len(),
            1
        );
    }

    #[test]
    fn a_failed_remedy_comes_back_after_a_doubling_wait() {
        let t0 = Utc::now();
        let s = Duration::seconds;
        let mut t = Tracker::new(s(2));
        t.assess("db", vec![drift(Field::NetworkPolicy, "missing")], t0);
        let a = t.assess(
            "db",
            vec![drift(Field::NetworkPolicy, "missing")],
            t0 + s(2),
        );
        assert_eq!(a.due.len(), 1);
        t.failed("db", &a.due, t0 + s(2));
        let a = t.assess(
            "db",
            vec![drift(Field::NetworkPolicy, "missing")],
            t0 + s(3),
        );
        assert!(a.due.is_empty());
        assert_eq!(
            a.recheck_at,
            Some(t0 + s(4)),
            "retried after the grace period"
        );
        let a = t.assess(
            "db",
            vec![drift(Field::NetworkPolicy, "missing")],
            t0 + s(4),
        );
        assert_eq!(a.due.len(), 1);
        t.failed("db", &a.due, t0 + s(4));
        let a = t.assess(
            "db",
            vec![drift(Field::NetworkPolicy, "missing")],
            t0 + s(5),
        );
        assert_eq!(a.recheck_at, Some(t0 + s(8)), "then after twice that");
        for _ in 0..20 {
            t.failed("db", &[drift(Field::NetworkPolicy, "missing")], t0);
        }
        let a = t.assess("db", vec![drift(Field::NetworkPolicy, "missing")], t0);
        assert_eq!(
            a.recheck_at,
            Some(t0 + MAX_RETRY_WAIT),
            "never longer than the cap"
        );
        // a success ends it
        let a = t.assess(
            "db",
            vec![drift(Field::NetworkPolicy, "missing")],
            t0 + MAX_RETRY_WAIT,
        );
        t.handled("db", &a.due);
        assert_eq!(
            t.assess(
                "db",
                vec![drift(Field::NetworkPolicy, "missing")],
                t0 + s(3600)
            ),
            Assessment::default()
        );
    }

    #[test]
    fn a_transient_state_never_becomes_due() {
        let t0 = Utc::now();
        let s = Duration::seconds;
        let mut t = Tracker::new(s(2));
        t.assess("db", vec![drift(Field::Halted, "true")], t0);
        assert_eq!(t.assess("db", vec![], t0 + s(1)), Assessment::default());
        let a = t.assess("db", vec![drift(Field::Halted, "true")], t0 + s(2));
        assert!(a.due.is_empty(), "seen again, but anew");
        t.forget("db");
        t.assess("other", vec![drift(Field::Size, "db.t3.micro")], t0);
        t.retain(|id| id != "other");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn policies_parse() {
        assert_eq!(Policy::parse("Heal"), Some(Policy::Heal));
        assert_eq!(Policy::parse("report"), Some(Policy::Report));
        assert_eq!(Policy::parse("fix"), None);
        assert_eq!(Policy::default().as_str(), "heal");
    }
}
