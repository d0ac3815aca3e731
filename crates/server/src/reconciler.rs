//! The drift reconciler (leader only): compares every database's record – its desired state – with
//! what the watch cache last saw of its KubeDB object and children, and puts back what changed
//! behind the platform's back. Shape and version go back through the day-2 workflow (the
//! operation that restores them, queued like any other, by `system:reconciler`); what no
//! OpsRequest restores (`halted`, `deletionPolicy`, a deleted NetworkPolicy) is re-applied directly,
//! owner-checked. What cannot be put back safely (a larger volume, a newer version, a lost auth
//! Secret) is only reported. Every drift found is audited (`database.drift_detected`, also shown in
//! the database's events) once while it lasts; with the policy `report` nothing is changed.
//!
//! It looks at a database when the watch shows a change that matters to drift, and at all of them
//! in a periodic full pass, which also records orphans: objects with the platform's labels that no
//! record accounts for (reported on `GET /api/v1/admin/orphans`, never deleted). It never reads the
//! cluster per database, never acts on a database an operation works on, and acts only on drift
//! that lasted half a period (KubeDB passes through states of its own).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::day2::Shape;
use domain::drift::{self, Drift, Field, Orphan, Policy, Remedy, Seen, Tracker};
use domain::model::Database;
use domain::status::{DatabaseStatus, OperationType};
use provider::translate::{network_policy, network_policy_name, Owner, LABEL_DATABASE_ID};
use serde_json::{json, Value};
use store::Fence;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clusters::cluster_for;
use crate::observed::ProviderView;
use crate::ops::day2::Day2Desired;
use crate::state::{AppState, Audit, RequestCtx};
use crate::workflows::day2::{submit, unfinished, Request};
use crate::workflows::Actor;

/// Who the audit log names for what the reconciler does.
pub const RECONCILER: &str = "system:reconciler";
/// The audit action of a drift report (the database's events show these).
pub const DRIFT_DETECTED: &str = "database.drift_detected";

/// What a database's object and children look like in the cache; `None` when the cache holds no
/// object of this database at its place (the watcher deals with a vanished object).
pub fn seen_of(view: &ProviderView, db: &Database) -> Option<Seen> {
    let (ns, name) = (
        db.namespace.as_deref()?,
        db.kubedb_resource_name.as_deref()?,
    );
    let o = view
        .objects
        .get(&(db.engine, ns.to_string(), name.to_string()))?;
    if !Owner::of(db).owns_object(&o.owner_labels) {
        return None;
    }
    let id = provider::translate::database_id_label(&db.id);
    // The auth Secret is the platform's when it handed it in, or made it for a rotation; one
    // KubeDB generated is KubeDB's to keep (it makes it again).
    let auth_secret = o
        .auth_secret
        .clone()
        .filter(|s| o.auth_secret_external || provider::day2::is_rotated_auth_secret_name(s));
    let auth_secret_present = auth_secret
        .as_deref()
        .and_then(|s| view.secrets.has(ns, s, &id));
    Some(Seen {
        replicas: o.replicas,
        size: o.size,
        storage_gb: o.storage_gb,
        version: o.version.clone(),
        halted: o.halted,
        deletion_policy: o.deletion_policy.clone(),
        being_deleted: o.being_deleted,
        network_policy: view
            .network_policies
            .has(ns, &network_policy_name(name), &id),
        auth_secret,
        auth_secret_present,
    })
}

/// An object the pass could not vouch for from the records it holds.
#[derive(Debug, Clone)]
pub struct Suspect {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
}

impl Suspect {
    fn database_id(&self) -> Option<&str> {
        self.labels.get(LABEL_DATABASE_ID).map(String::as_str)
    }
}

/// What the pure part of a full pass over one provider found.
#[derive(Debug, Default)]
pub struct PassFindings {
    /// (index into the records, drifts due now).
    pub due: Vec<(usize, Vec<Drift>)>,
    /// (index into the records, when to look again).
    pub rechecks: Vec<(usize, DateTime<Utc>)>,
    /// Objects no record in hand accounts for: each is looked up in the store, then reported.
    pub suspects: Vec<Suspect>,
}

/// The pure part of a full pass over one provider: every record against the cache, and every
/// cached object against the records. No I/O; what the benchmark times.
pub fn assess_provider(
    view: &ProviderView,
    records: &[Database],
    tracker: &mut Tracker,
    now: DateTime<Utc>,
) -> PassFindings {
    let mut out = PassFindings::default();
    let mut placed: HashSet<(&str, &str, &str)> = HashSet::with_capacity(records.len());
    for (i, db) in records.iter().enumerate() {
        if let (Some(ns), Some(name)) = (&db.namespace, &db.kubedb_resource_name) {
            placed.insert((db.id.as_str(), ns.as_str(), name.as_str()));
        }
        let drifts = seen_of(view, db)
            .map(|s| drift::compare(db, &s))
            .unwrap_or_default();
        let a = tracker.assess(&db.id, drifts, now);
        if let Some(at) = a.recheck_at {
            out.rechecks.push((i, at));
        }
        if !a.due.is_empty() {
            out.due.push((i, a.due));
        }
    }
    for ((engine, ns, name), o) in &view.objects {
        if o.being_deleted {
            continue;
        }
        let accounted = o
            .owner_labels
            .get(LABEL_DATABASE_ID)
            .is_some_and(|id| placed.contains(&(id.as_str(), ns.as_str(), name.as_str())));
        if !accounted {
            out.suspects.push(Suspect {
                kind: provider::translate::meta(*engine).kind.to_string(),
                namespace: ns.clone(),
                name: name.clone(),
                labels: o.owner_labels.clone(),
            });
        }
    }
    out
}

/// Why an object is an orphan given the record its label names, as read now; `None` when the
/// record accounts for it after all (it was placed after the pass read the records).
pub fn orphan_reason(
    s: &Suspect,
    provider_id: &str,
    record: Option<&Database>,
) -> Option<&'static str> {
    if s.database_id().is_none() {
        return Some("no_database_id");
    }
    let Some(db) = record else {
        return Some("no_record");
    };
    if db.status == DatabaseStatus::Deleted {
        return Some("record_deleted");
    }
    if !Owner::of(db).owns_object(&s.labels) {
        return Some("owner_mismatch");
    }
    let here = db.provider_id.as_deref() == Some(provider_id)
        && db.namespace.as_deref() == Some(s.namespace.as_str())
        && db.kubedb_resource_name.as_deref() == Some(s.name.as_str());
    (!here).then_some("record_elsewhere")
}

struct Reconciler {
    state: AppState,
    policy: Policy,
    tracker: Tracker,
    /// Databases with drift seen but not yet stable: when to look again.
    rechecks: HashMap<String, DateTime<Utc>>,
    /// Orphans already logged, so the log says it once.
    logged_orphans: HashSet<(String, String, String, String)>,
    ctx: RequestCtx,
    /// The leader's term: its store writes apply only while it lasts, and nothing is re-applied
    /// to a cluster or audited once it is over.
    fence: Fence,
}

/// Runs the reconciler until `stop`: a full pass every `DBAAS_RECONCILE_SECS`, a look at every
/// database the watch cache marks, and a look again when seen drift becomes stable.
pub fn spawn(state: &AppState, fence: Fence, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let period = Duration::from_secs(state.config.reconcile_secs.max(1));
        let grace = chrono::Duration::from_std(period / 2).unwrap_or(chrono::Duration::zero());
        let mut r = Reconciler {
            policy: state.config.drift_policy,
            tracker: Tracker::new(grace),
            rechecks: HashMap::new(),
            logged_orphans: HashSet::new(),
            ctx: RequestCtx {
                method: "RECONCILE".into(),
                path: "reconciler".into(),
                ..Default::default()
            },
            state,
            fence,
        };
        let mut full = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        full.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let recheck = r.rechecks.values().min().map(|at| {
                let wait = (*at - Utc::now()).to_std().unwrap_or_default();
                tokio::time::Instant::now() + wait
            });
            tokio::select! {
                _ = full.tick() => r.full_pass().await,
                _ = r.state.watch_cache.marked() => {
                    for id in r.state.watch_cache.take_dirty() {
                        r.look_at(&id).await;
                    }
                }
                _ = tokio::time::sleep_until(recheck.unwrap_or_else(tokio::time::Instant::now)), if recheck.is_some() => {
                    let now = Utc::now();
                    let due: Vec<String> = r.rechecks.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
                    for id in due {
                        r.rechecks.remove(&id);
                        r.look_at(&id).await;
                    }
                }
                _ = stop.changed() => break,
            }
        }
    })
}

impl Reconciler {
    /// One database, now (a watch change or a recheck).
    async fn look_at(&mut self, id: &str) {
        let db = match self.state.store.get_database(id).await {
            Ok(Some(db)) => db,
            Ok(None) => {
                self.tracker.forget(id);
                return;
            }
            Err(e) => {
                tracing::warn!(database = %id, error = %e, "reconciler: reading the database failed");
                return;
            }
        };
        let Some(pid) = db.provider_id.clone() else {
            return;
        };
        let drifts = self
            .state
            .watch_cache
            .with_view(&pid, |v| seen_of(v, &db).map(|s| drift::compare(&db, &s)))
            .flatten()
            .unwrap_or_default();
        let a = self.tracker.assess(&db.id, drifts, Utc::now());
        match a.recheck_at {
            Some(at) => self.rechecks.insert(db.id.clone(), at),
            None => self.rechecks.remove(&db.id),
        };
        if !a.due.is_empty() {
            self.act(&db, a.due).await;
        }
    }

    /// Every database of every active provider, and the orphans.
    async fn full_pass(&mut self) {
        let started = std::time::Instant::now();
        let providers = match self.state.store.list_providers(&Default::default()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reconciler: listing providers failed");
                return;
            }
        };
        let mut live: HashSet<String> = HashSet::new();
        // Only a pass that read every provider's records may forget the databases it did not see.
        let mut whole = true;
        let mut count = 0;
        for p in providers.iter().filter(|p| p.is_active) {
            let records = match self.state.store.list_provider_databases(&p.id).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(provider = %p.id, error = %e, "reconciler: listing databases failed");
                    whole = false;
                    continue;
                }
            };
            count += records.len();
            live.extend(records.iter().map(|d| d.id.clone()));
            let now = Utc::now();
            let tracker = &mut self.tracker;
            let Some((findings, complete)) = self.state.watch_cache.with_view(&p.id, |v| {
                (assess_provider(v, &records, tracker, now), v.complete())
            }) else {
                continue;
            };
            for (i, at) in findings.rechecks {
                self.rechecks.insert(records[i].id.clone(), at);
            }
            for (i, due) in findings.due {
                self.act(&records[i], due).await;
            }
            if complete {
                self.record_orphans(&p.id, findings.suspects, now).await;
            }
        }
        if whole {
            self.tracker.retain(|id| live.contains(id));
            self.rechecks.retain(|id, _| live.contains(id));
        }
        tracing::debug!(
            databases = count,
            took_ms = started.elapsed().as_millis() as u64,
            "reconciler: full pass"
        );
    }

    /// Looks the suspects up and records the orphans among them.
    async fn record_orphans(
        &mut self,
        provider_id: &str,
        suspects: Vec<Suspect>,
        now: DateTime<Utc>,
    ) {
        let mut found = Vec::new();
        for s in suspects {
            let record = match s.database_id() {
                Some(id) => match self.state.store.get_database(id).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "reconciler: reading a database failed; orphans not recorded this pass");
                        return;
                    }
                },
                None => None,
            };
            let Some(reason) = orphan_reason(&s, provider_id, record.as_ref()) else {
                continue;
            };
            let key = (
                provider_id.to_string(),
                s.kind.clone(),
                s.namespace.clone(),
                s.name.clone(),
            );
            if self.logged_orphans.insert(key) {
                tracing::warn!(provider = %provider_id, kind = %s.kind, "orphan: {}/{} carries the platform's labels but no record accounts for it ({reason})", s.namespace, s.name);
            }
            let label = |k: &str| s.labels.get(k).cloned();
            found.push(Orphan {
                provider_id: provider_id.to_string(),
                database_id: s.database_id().map(str::to_string),
                domain: label(provider::translate::LABEL_DOMAIN),
                project: label(provider::translate::LABEL_PROJECT),
                kind: s.kind,
                namespace: s.namespace,
                name: s.name,
                reason: reason.to_string(),
                first_seen_at: now,
            });
        }
        self.logged_orphans.retain(|(p, kind, ns, name)| {
            p != provider_id
                || found
                    .iter()
                    .any(|o| &o.kind == kind && &o.namespace == ns && &o.name == name)
        });
        if let Err(e) = self
            .state
            .store
            .sync_orphans(provider_id, &found, now, Some(&self.fence))
            .await
        {
            tracing::warn!(provider = %provider_id, error = %e, "reconciler: recording orphans failed");
        }
    }

    /// Reports stable drift of `db` (and heals it, by policy). Never while an operation works on
    /// the database: what it sees then is that operation's doing, and is looked at afresh after.
    async fn act(&mut self, db: &Database, due: Vec<Drift>) {
        match unfinished(&self.state.workflows(), &db.id).await {
            Ok(u) if u.is_empty() => {}
            Ok(_) => {
                self.tracker.forget(&db.id);
                self.rechecks.remove(&db.id);
                return;
            }
            Err(e) => {
                tracing::warn!(database = %db.id, error = %e.message, "reconciler: reading operations failed");
                return;
            }
        }
        // A cluster write cannot carry the fence: look just before, so a leader deposed while
        // it was paused does not act on what it saw back then.
        if !self
            .state
            .store
            .fence_holds(&self.fence)
            .await
            .unwrap_or(false)
        {
            return;
        }
        let heal = self.policy == Policy::Heal;
        let mut done: Vec<(Drift, String)> = Vec::new();
        let mut ops: Vec<(OperationType, Day2Desired)> = Vec::new();
        // Remedies that did not take are tried again later (with a growing wait), not dropped.
        let mut failed: Vec<Drift> = Vec::new();
        let reapplied = if heal {
            self.reapply(db, &due).await
        } else {
            HashMap::new()
        };
        for d in &due {
            let action = match d.remedy {
                Remedy::ReportOnly(why) => format!("reported only: {why}"),
                _ if !heal => "reported only (policy report)".to_string(),
                Remedy::Reapply => match reapplied.get(&d.field) {
                    Some(Err(e)) => {
                        failed.push(d.clone());
                        format!("not re-applied: {e}")
                    }
                    _ => "re-applied".to_string(),
                },
                Remedy::Operation(kind) => {
                    ops.push((kind, heal_desired(db, kind)));
                    format!("queued {kind}")
                }
            };
            done.push((d.clone(), action));
        }
        let actor = Actor {
            user_id: RECONCILER,
            email: RECONCILER,
            ctx: &self.ctx,
            fence: Some(&self.fence),
        };
        let mut audited = false;
        if !ops.is_empty() {
            let req = Request {
                action: DRIFT_DETECTED,
                operations: ops,
                settings: Default::default(),
                changed: Vec::new(),
                reserve: None,
                details: details(self.policy, &done),
            };
            match submit(&self.state.workflows(), actor, db.clone(), req, false).await {
                Ok(_) => audited = true,
                Err(e) => {
                    for (d, action) in &mut done {
                        if let Remedy::Operation(kind) = d.remedy {
                            *action = format!("{kind} not queued: {}", e.message);
                            failed.push(d.clone());
                        }
                    }
                }
            }
        }
        tracing::info!(database = %db.id, "drift: {}", summary(&done));
        if !audited {
            let entry = Audit::new(DRIFT_DETECTED, "database")
                .id(&db.id)
                .scope(Some(&db.domain), Some(&db.project))
                .by(RECONCILER, RECONCILER)
                .details(details(self.policy, &done))
                .entry(&self.ctx);
            self.state.workflows().audit_alone(entry).await;
        }
        let (retry, handled): (Vec<Drift>, Vec<Drift>) =
            due.into_iter().partition(|d| failed.contains(d));
        self.tracker.handled(&db.id, &handled);
        if let Some(at) = self.tracker.failed(&db.id, &retry, Utc::now()) {
            let at = self.rechecks.get(&db.id).map_or(at, |r| (*r).min(at));
            self.rechecks.insert(db.id.clone(), at);
        }
    }

    /// Puts back what no OpsRequest restores, owner-checked; says per field how it went.
    async fn reapply(&self, db: &Database, due: &[Drift]) -> HashMap<Field, Result<(), String>> {
        let mut out = HashMap::new();
        let wants = |f: Field| {
            due.iter()
                .any(|d| d.field == f && d.remedy == Remedy::Reapply)
        };
        let spec = wants(Field::Halted) || wants(Field::DeletionPolicy);
        let policy = wants(Field::NetworkPolicy);
        if !spec && !policy {
            return out;
        }
        let (Some(ns), Some(name), Some(pid)) =
            (&db.namespace, &db.kubedb_resource_name, &db.provider_id)
        else {
            return out;
        };
        let cluster = match self.state.store.get_provider(pid).await {
            Ok(Some(p)) => cluster_for(&self.state, &p)
                .await
                .map_err(|e| e.to_string()),
            Ok(None) => Err(format!("provider '{pid}' no longer exists")),
            Err(e) => Err(e.to_string()),
        };
        let cluster = match cluster {
            Ok(c) => c,
            Err(e) => {
                for f in [Field::Halted, Field::DeletionPolicy, Field::NetworkPolicy] {
                    out.insert(f, Err(e.clone()));
                }
                return out;
            }
        };
        let owner = Owner::of(db);
        let said = |r: Result<(), provider::ProviderError>| r.map_err(|e| e.to_string());
        if spec {
            let paused = db.status == DatabaseStatus::Paused;
            let policy = drift::desired_deletion_policy(db);
            // One patch puts `halted` and the policy back together (KubeDB defaults the policy
            // to Halt when halting).
            let r = if wants(Field::Halted) {
                cluster
                    .set_halted(db.engine, ns, name, &owner, paused, policy)
                    .await
            } else {
                cluster
                    .set_deletion_policy(db.engine, ns, name, &owner, policy)
                    .await
            };
            let r = said(r);
            out.insert(Field::Halted, r.clone());
            out.insert(Field::DeletionPolicy, r);
        }
        if policy {
            let r =
                match crate::ops::create::allowed_namespace_labels(&self.state, &db.domain).await {
                    Ok(allowed) => said(
                        cluster
                            .ensure_object(&network_policy(db, ns, &allowed))
                            .await,
                    ),
                    Err(e) => Err(e.to_string()),
                };
            out.insert(Field::NetworkPolicy, r);
        }
        out
    }
}

/// The desired state an operation that heals drift carries: the record's, before and after (so
/// a failed heal never rewrites the record to what drifted).
fn heal_desired(db: &Database, kind: OperationType) -> Day2Desired {
    let shape = Shape::desired(db);
    match kind {
        OperationType::UpgradeVersion => Day2Desired {
            from_version: Some(db.version.clone()),
            target_version: Some(db.version.clone()),
            ..Default::default()
        },
        _ => Day2Desired {
            before: Some(shape),
            after: Some(shape),
            ..Default::default()
        },
    }
}

/// One line: what drifted, from what to what, and what was done.
fn summary(done: &[(Drift, String)]) -> String {
    done.iter()
        .map(|(d, action)| {
            format!(
                "{} is {} (desired {}): {action}",
                d.field.as_str(),
                d.observed,
                d.desired
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn details(policy: Policy, done: &[(Drift, String)]) -> Value {
    json!({
        "policy": policy.as_str(),
        "summary": summary(done),
        "drift": done.iter().map(|(d, action)| json!({
            "field": d.field, "desired": d.desired, "observed": d.observed, "action": action,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::engine::{Engine, Size};
    use domain::model::CurrentState;
    use domain::quota::Usage;
    use provider::observe::ObservedDatabase;
    use std::collections::BTreeMap;

    fn record(id: &str, name: &str) -> Database {
        let now = Utc::now();
        Database {
            id: id.into(),
            name: name.into(),
            domain: "acme".into(),
            project: "web".into(),
            engine: Engine::Postgres,
            version: "16.10".into(),
            size: Size::Small,
            storage_gb: 10,
            replicas: 3,
            ready_replicas: 3,
            status: DatabaseStatus::Running,
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
            provider_id: Some("p".into()),
            namespace: Some("ns".into()),
            kubedb_resource_name: Some(name.into()),
            current: CurrentState::default(),
            upgrade_policy: None,
            conditions: Value::Null,
            reserved: Usage::of_database(Size::Small, 10, 3),
            created_at: now,
            updated_at: now,
        }
    }

    fn labels(id: Option<&str>) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (
                "app.kubernetes.io/managed-by".to_string(),
                "kubedb-dbaas".to_string(),
            ),
            ("dbaas.io/domain".to_string(), "acme".to_string()),
            ("dbaas.io/project".to_string(), "web".to_string()),
        ]);
        if let Some(id) = id {
            l.insert("dbaas.io/database-id".into(), id.into());
        }
        l
    }

    fn object(name: &str, id: Option<&str>, replicas: i64) -> ObservedDatabase {
        ObservedDatabase {
            engine: Engine::Postgres,
            namespace: "ns".into(),
            name: name.into(),
            database_id: id.map(str::to_string),
            phase: Some("Ready".into()),
            conditions: Value::Null,
            replicas: Some(replicas),
            version: Some("16.10".into()),
            storage_gb: Some(10),
            size: Some(Size::Small),
            auth_secret: Some(format!("{name}-auth")),
            auth_secret_external: true,
            owner_labels: labels(id),
            deletion_policy: Some("Delete".into()),
            halted: false,
            being_deleted: false,
            resource_version: None,
        }
    }

    fn view(objects: Vec<ObservedDatabase>) -> ProviderView {
        let mut v = ProviderView::default();
        for o in objects {
            v.objects
                .insert((o.engine, o.namespace.clone(), o.name.clone()), o);
        }
        v.network_policies.listed = true;
        v.secrets.listed = true;
        v
    }

    #[test]
    fn a_pass_finds_drift_missing_children_and_suspects() {
        let records = vec![record("db-1", "a"), record("db-2", "b")];
        let mut v = view(vec![
            object("a", Some("db-1"), 5),
            object("b", Some("db-2"), 3),
            object("stray", Some("db-9"), 1),
            object("nolabel", None, 1),
        ]);
        v.network_policies
            .present
            .insert(("ns".into(), network_policy_name("a")), Some("db-1".into()));
        v.secrets
            .present
            .insert(("ns".into(), "a-auth".into()), Some("db-1".into()));
        let mut t = Tracker::new(chrono::Duration::seconds(1));
        let t0 = Utc::now();
        let first = assess_provider(&v, &records, &mut t, t0);
        assert!(first.due.is_empty(), "not stable yet");
        assert_eq!(first.rechecks.len(), 2);
        let later = assess_provider(&v, &records, &mut t, t0 + chrono::Duration::seconds(1));
        let fields = |i: usize| -> Vec<Field> {
            later
                .due
                .iter()
                .find(|(j, _)| *j == i)
                .unwrap()
                .1
                .iter()
                .map(|d| d.field)
                .collect()
        };
        assert_eq!(fields(0), vec![Field::Replicas]);
        assert_eq!(
            fields(1),
            vec![Field::NetworkPolicy, Field::AuthSecret],
            "b's policy and Secret are missing"
        );
        let mut names: Vec<&str> = later.suspects.iter().map(|s| s.name.as_str()).collect();
        names.sort();
        assert_eq!(names, vec!["nolabel", "stray"]);
    }

    #[test]
    fn orphans_say_why() {
        let s = |name: &str, id: Option<&str>| Suspect {
            kind: "Postgres".into(),
            namespace: "ns".into(),
            name: name.into(),
            labels: labels(id),
        };
        assert_eq!(
            orphan_reason(&s("x", None), "p", None),
            Some("no_database_id")
        );
        assert_eq!(
            orphan_reason(&s("x", Some("db-1")), "p", None),
            Some("no_record")
        );
        let mut deleted = record("db-1", "x");
        deleted.status = DatabaseStatus::Deleted;
        assert_eq!(
            orphan_reason(&s("x", Some("db-1")), "p", Some(&deleted)),
            Some("record_deleted")
        );
        let placed = record("db-1", "x");
        assert_eq!(
            orphan_reason(&s("x", Some("db-1")), "p", Some(&placed)),
            None
        );
        assert_eq!(
            orphan_reason(&s("copy", Some("db-1")), "p", Some(&placed)),
            Some("record_elsewhere")
        );
        assert_eq!(
            orphan_reason(&s("x", Some("db-1")), "other", Some(&placed)),
            Some("record_elsewhere")
        );
        let mut other = record("db-1", "x");
        other.domain = "globex".into();
        assert_eq!(
            orphan_reason(&s("x", Some("db-1")), "p", Some(&other)),
            Some("owner_mismatch")
        );
    }

    #[test]
    fn a_heal_carries_the_record_as_before_and_after() {
        let db = record("db-1", "a");
        let d = heal_desired(&db, OperationType::ScaleHorizontal);
        assert_eq!(d.before, d.after);
        assert_eq!(d.after.unwrap().replicas, 3);
        let d = heal_desired(&db, OperationType::UpgradeVersion);
        assert_eq!(d.from_version, d.target_version);
    }
}
