//! BackupConfiguration: validation (target, backends, addon), the Repositories of its sessions,
//! and the cron scheduler that creates BackupSessions at each fire time of the [`SimClock`].
//!
//! [`SimClock`]: super::SimClock

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use provider::kubedb::names;
use serde_json::{json, Value};

use super::util::{self, obj_ref};
use super::Ctx;
use crate::operator::children as ch;
use crate::operator::conditions::Conditions;
use crate::operator::OperatorError;

/// The addon that backs up each database kind.
pub fn addon_for(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "MongoDB" => "mongodb-addon",
        "Postgres" => "postgres-addon",
        "MySQL" => "mysql-addon",
        "MariaDB" => "mariadb-addon",
        "Redis" => "redis-addon",
        "Elasticsearch" => "elasticsearch-addon",
        _ => return None,
    })
}

/// The KubeDB object a BackupConfiguration or RestoreSession targets, when the kind is known.
pub async fn get_target(
    ctx: &Ctx,
    target: &Value,
    default_ns: &str,
) -> Result<Option<DynamicObject>, OperatorError> {
    let Some(meta) = target["kind"].as_str().and_then(names::by_kind) else {
        return Ok(None);
    };
    let Some((ns, name)) = obj_ref(target, default_ns) else {
        return Ok(None);
    };
    ch::get_opt(&ctx.api(&ns, &crate::operator::db_resource(meta)), &name).await
}

/// The BackupSession name KubeStash gives a run: `<bc>-<session>-<unix seconds>`.
pub fn session_name(bc: &str, session: &str, at: DateTime<Utc>) -> String {
    format!("{bc}-{session}-{}", at.timestamp())
}

pub async fn create_backup_session(
    ctx: &Ctx,
    bc: &DynamicObject,
    session: &str,
    at: DateTime<Utc>,
) -> Result<String, OperatorError> {
    let ns = bc.metadata.namespace.clone().unwrap_or_default();
    let bc_name = bc.metadata.name.clone().unwrap_or_default();
    let name = session_name(&bc_name, session, at);
    let obj = json!({
        "apiVersion": format!("{}/{}", super::CORE_GROUP, super::VERSION),
        "kind": "BackupSession",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": { "kubestash.com/invoker-name": bc_name, "kubestash.com/session": session },
            "ownerReferences": [owner_ref(bc, "BackupConfiguration")],
        },
        "spec": {
            "invoker": { "apiGroup": super::CORE_GROUP, "kind": "BackupConfiguration", "name": bc_name },
            "session": session,
        },
    });
    ch::create_if_absent(&ctx.api(&ns, &super::backupsessions()), obj).await?;
    Ok(name)
}

pub fn owner_ref(obj: &DynamicObject, kind: &str) -> Value {
    let api_version = obj
        .types
        .as_ref()
        .map(|t| t.api_version.clone())
        .unwrap_or_default();
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub async fn reconcile(bc: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, OperatorError> {
    if bc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = bc.metadata.namespace.clone().unwrap_or_default();
    let bc_name = bc.metadata.name.clone().unwrap_or_default();
    let now = ctx.clock.now();
    let generation = bc.metadata.generation.unwrap_or(1);
    let spec = &bc.data["spec"];
    let status = bc.data.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conds = Conditions::from_status(&status);
    let mut invalid: Vec<String> = Vec::new();
    let mut not_ready: Vec<String> = Vec::new();

    // Target.
    let target = &spec["target"];
    let kind = target["kind"].as_str().unwrap_or_default();
    if target["apiGroup"]
        .as_str()
        .is_some_and(|g| g != names::DB_GROUP)
    {
        invalid.push(format!("target apiGroup must be {}", names::DB_GROUP));
    }
    let expected_addon = addon_for(kind);
    if expected_addon.is_none() {
        invalid.push(format!("target kind {kind:?} cannot be backed up"));
    }
    let target_found = get_target(&ctx, target, &ns).await?.is_some();
    if !target_found && expected_addon.is_some() {
        let (tns, tname) = obj_ref(target, &ns).unwrap_or_default();
        not_ready.push(format!("target {kind} {tns}/{tname} not found"));
    }

    // Backends: storage Ready, retention policy present.
    let mut backends_status = Vec::new();
    let mut storage_of = std::collections::HashMap::new();
    for b in spec["backends"].as_array().cloned().unwrap_or_default() {
        let bname = b["name"].as_str().unwrap_or_default().to_string();
        let mut entry = json!({ "name": bname });
        let mut ready = true;
        match obj_ref(&b["storageRef"], &ns) {
            None => {
                invalid.push(format!("backend {bname:?} has no storageRef"));
                ready = false;
            }
            Some((sns, sname)) => {
                let bs = ch::get_opt(&ctx.api(&sns, &super::backupstorages()), &sname).await?;
                let phase = bs
                    .as_ref()
                    .and_then(|o| o.data["status"]["phase"].as_str())
                    .unwrap_or_default()
                    .to_string();
                let reason = match &bs {
                    None => Some(format!("BackupStorage {sns}/{sname} not found")),
                    Some(_) if phase != "Ready" => Some(format!(
                        "BackupStorage {sns}/{sname} is not Ready{}",
                        bs.as_ref()
                            .and_then(|o| {
                                Conditions::from_status(&o.data["status"])
                                    .get("BackendInitialized")
                                    .and_then(|c| c["message"].as_str().map(|m| format!(": {m}")))
                            })
                            .unwrap_or_default()
                    )),
                    Some(_) => None,
                };
                let mut st = json!({ "ref": { "name": sname, "namespace": sns } });
                if !phase.is_empty() {
                    st["phase"] = json!(phase);
                }
                if let Some(r) = &reason {
                    st["reason"] = json!(r);
                    not_ready.push(r.clone());
                    ready = false;
                }
                entry["storage"] = st;
                storage_of.insert(bname.clone(), (sns, sname));
            }
        }
        if let Some((rns, rname)) = obj_ref(&b["retentionPolicy"], &ns) {
            let found = ch::get_opt(&ctx.api(&rns, &super::retentionpolicies()), &rname)
                .await?
                .is_some();
            let mut rp = json!({ "ref": { "name": rname, "namespace": rns }, "found": found });
            if !found {
                let r = format!("RetentionPolicy {rns}/{rname} not found");
                rp["reason"] = json!(r);
                not_ready.push(r);
                ready = false;
            }
            entry["retentionPolicy"] = rp;
        }
        entry["ready"] = json!(ready);
        backends_status.push(entry);
    }
    if backends_status.is_empty() {
        invalid.push("no backends are set".into());
    }

    // Sessions: addon, repositories' backends, schedules.
    let sessions = spec["sessions"].as_array().cloned().unwrap_or_default();
    if sessions.is_empty() {
        invalid.push("no sessions are set".into());
    }
    for s in &sessions {
        let sname = s["name"].as_str().unwrap_or_default();
        let addon = s["addon"]["name"].as_str().unwrap_or_default();
        if let Some(want) = expected_addon {
            if addon != want {
                invalid.push(format!(
                    "session {sname:?}: addon {addon:?} does not fit {kind} (use {want})"
                ));
            }
        }
        if let Some(sched) = s["scheduler"]["schedule"].as_str() {
            if let Err(e) = croner::Cron::from_str(sched) {
                invalid.push(format!(
                    "session {sname:?}: invalid schedule {sched:?}: {e}"
                ));
            }
        }
        for r in s["repositories"].as_array().cloned().unwrap_or_default() {
            let backend = r["backend"].as_str().unwrap_or_default();
            if !storage_of.contains_key(backend) {
                invalid.push(format!(
                    "session {sname:?}: repository {:?} uses unknown backend {backend:?}",
                    r["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }

    // Repositories (whenever the configuration is valid).
    let mut repos_status = Vec::new();
    if invalid.is_empty() {
        let repos_api = ctx.api(&ns, &super::repositories());
        for s in &sessions {
            for r in s["repositories"].as_array().cloned().unwrap_or_default() {
                let rname = r["name"].as_str().unwrap_or_default().to_string();
                let (sns, sname) = storage_of[r["backend"].as_str().unwrap_or_default()].clone();
                let (tns, tname) = obj_ref(target, &ns).unwrap_or_default();
                let mut rspec = json!({
                    "appRef": { "apiGroup": names::DB_GROUP, "kind": kind, "namespace": tns, "name": tname },
                    "storageRef": { "name": sname, "namespace": sns },
                    "path": r["directory"].as_str().unwrap_or("/"),
                    // Retain is a BackupConfiguration-only policy; the Repository keeps its data
                    "deletionPolicy": match r["deletionPolicy"].as_str() { Some("WipeOut") => "WipeOut", _ => "Delete" },
                });
                if r["encryptionSecret"].is_object() {
                    let mut es = r["encryptionSecret"].clone();
                    if es.get("namespace").is_none() {
                        es["namespace"] = json!(ns);
                    }
                    rspec["encryptionSecret"] = es;
                }
                match ch::get_opt(&repos_api, &rname).await? {
                    None => {
                        let obj = json!({
                            "apiVersion": format!("{}/{}", super::STORAGE_GROUP, super::VERSION),
                            "kind": "Repository",
                            "metadata": {
                                "name": rname, "namespace": ns,
                                "labels": { "kubestash.com/invoker-name": bc_name },
                                "ownerReferences": [owner_ref(&bc, "BackupConfiguration")],
                            },
                            "spec": rspec,
                        });
                        ch::create_if_absent(&repos_api, obj).await?;
                        refresh_repository(&ctx, &ns, &rname).await?;
                    }
                    Some(have) => {
                        if have.data["spec"]["storageRef"] != rspec["storageRef"]
                            || have.data["spec"]["path"] != rspec["path"]
                            || have.data["spec"]["appRef"] != rspec["appRef"]
                        {
                            util::merge(&repos_api, &rname, json!({ "spec": rspec })).await?;
                        }
                        refresh_repository(&ctx, &ns, &rname).await?;
                    }
                }
                let storage_ready = backends_status
                    .iter()
                    .any(|b| b["name"] == r["backend"] && b["storage"]["phase"] == "Ready");
                repos_status.push(json!({ "name": rname, "phase": if storage_ready { "Ready" } else { "NotReady" } }));
            }
        }
    }

    let phase = if !invalid.is_empty() {
        "Invalid"
    } else if !not_ready.is_empty() {
        "NotReady"
    } else {
        "Ready"
    };
    if invalid.is_empty() {
        conds.set(
            "ValidationPassed",
            true,
            "ResourceValidationPassed",
            "validation passed",
            generation,
            now,
        );
    } else {
        conds.set(
            "ValidationPassed",
            false,
            "ResourceValidationFailed",
            &invalid.join("; "),
            generation,
            now,
        );
    }
    if not_ready.is_empty() && invalid.is_empty() {
        conds.set(
            "BackendsReady",
            true,
            "BackendsReady",
            "all backends are ready",
            generation,
            now,
        );
    } else if invalid.is_empty() {
        conds.set(
            "BackendsReady",
            false,
            "BackendsNotReady",
            &not_ready.join("; "),
            generation,
            now,
        );
    }

    // Scheduler: fire once when the clock passed a session's next time (missed slots collapse).
    let paused = spec["paused"] == true;
    let mut sessions_status = Vec::new();
    let mut next_wake: Option<Duration> = None;
    let old_sessions = status["sessions"].as_array().cloned().unwrap_or_default();
    for s in &sessions {
        let sname = s["name"].as_str().unwrap_or_default();
        let mut entry = json!({ "name": sname });
        let Some(cron) = s["scheduler"]["schedule"]
            .as_str()
            .and_then(|c| croner::Cron::from_str(c).ok())
        else {
            sessions_status.push(entry);
            continue;
        };
        let prev_next = old_sessions
            .iter()
            .find(|o| o["name"] == sname)
            .and_then(|o| util::parse_time(&o["nextSchedule"]));
        let active = phase == "Ready" && !paused && s["scheduler"]["suspend"] != true;
        if active {
            let key = format!("{ns}/{bc_name}/{sname}");
            let seen = |due: &DateTime<Utc>| ctx.fired.lock().get(&key) == Some(due);
            if let Some(due) = prev_next.filter(|due| *due <= now && !seen(due)) {
                ctx.fired.lock().insert(key.clone(), due);
                let bs = create_backup_session(&ctx, &bc, sname, now).await?;
                tracing::info!(backupsession = %bs, due = %util::time_str(due), "scheduled backup");
            }
        }
        // paused, suspended and not-Ready periods do not pile up runs either
        let next = cron.find_next_occurrence(&now, false).ok();
        if let Some(next) = next {
            entry["nextSchedule"] = json!(util::time_str(next));
            if active {
                let wait = (next - now).to_std().unwrap_or_default() + Duration::from_millis(50);
                next_wake = Some(next_wake.map_or(wait, |w: Duration| w.min(wait)));
            }
        }
        // keep an already-known future fire time (a clock that did not reach it changes nothing)
        if let Some(p) = prev_next.filter(|p| *p > now) {
            entry["nextSchedule"] = json!(util::time_str(p));
        }
        sessions_status.push(entry);
    }
    if sessions.iter().any(|s| s["scheduler"].is_object()) {
        conds.set(
            "SchedulerEnsured",
            true,
            "SchedulerEnsured",
            "backup schedules are set",
            generation,
            now,
        );
    }

    // One backup right after the configuration first becomes Ready.
    let initial_key = format!(
        "{ns}/{bc_name}/{}",
        bc.metadata.uid.as_deref().unwrap_or_default()
    );
    if ctx.config.backup_on_ready
        && phase == "Ready"
        && !paused
        && conds.get("InitialBackupTriggered").is_none()
        && !ctx.fired.lock().contains_key(&initial_key)
    {
        ctx.fired.lock().insert(initial_key, now);
        if let Some(first) = sessions.first().and_then(|s| s["name"].as_str()) {
            let bs = create_backup_session(&ctx, &bc, first, now).await?;
            conds.set(
                "InitialBackupTriggered",
                true,
                "InitialBackupTriggered",
                &format!("BackupSession {bs} created"),
                generation,
                now,
            );
        }
    }

    let mut new_status = if status.is_object() {
        status.clone()
    } else {
        json!({})
    };
    new_status["phase"] = json!(phase);
    new_status["targetFound"] = json!(target_found);
    new_status["backends"] = Value::Array(backends_status);
    new_status["repositories"] = Value::Array(repos_status);
    new_status["sessions"] = Value::Array(sessions_status);
    new_status["conditions"] = Value::Array(conds.0);
    util::write_status(
        &ctx.api(&ns, &super::backupconfigurations()),
        &bc,
        new_status,
    )
    .await?;

    let resync = if phase == "Ready" {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(2)
    };
    Ok(Action::requeue(next_wake.map_or(resync, |w| w.min(resync))))
}

/// Recomputes a Repository's status from its Snapshots.
pub async fn refresh_repository(ctx: &Ctx, ns: &str, repo: &str) -> Result<(), OperatorError> {
    let repos = ctx.api(ns, &super::repositories());
    let Some(r) = ch::get_opt(&repos, repo).await? else {
        return Ok(());
    };
    let snaps = repository_snapshots(ctx, ns, repo).await?;
    let storage_ready = match obj_ref(&r.data["spec"]["storageRef"], ns) {
        Some((sns, sname)) => ch::get_opt(&ctx.api(&sns, &super::backupstorages()), &sname)
            .await?
            .is_some_and(|b| b.data["status"]["phase"] == "Ready"),
        None => false,
    };
    let mut status = r
        .data
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    status["phase"] = json!(if storage_ready { "Ready" } else { "NotReady" });
    status["snapshotCount"] = json!(snaps.len());
    status["integrity"] = json!(snaps.iter().all(|s| s.data["status"]["integrity"] != false));
    let total: u64 = snaps
        .iter()
        .filter_map(|s| {
            s.metadata
                .annotations
                .as_ref()?
                .get(SIZE_ANNOTATION)?
                .parse::<u64>()
                .ok()
        })
        .sum();
    status["size"] = json!(util::human_size(total));
    if let Some(last) = snaps
        .iter()
        .filter(|s| s.data["status"]["phase"] == "Succeeded")
        .filter_map(snapshot_time)
        .max()
    {
        status["lastBackupTime"] = json!(util::time_str(last));
    }
    let recent: Vec<Value> = snaps
        .iter()
        .rev()
        .take(5)
        .map(|s| {
            let mut e = json!({
                "name": s.metadata.name,
                "phase": s.data["status"]["phase"].as_str().unwrap_or("Pending"),
                "session": s.data["spec"]["session"],
            });
            if let Some(t) = s.data["status"]["snapshotTime"].as_str() {
                e["snapshotTime"] = json!(t);
            }
            if let Some(sz) = s.data["status"]["size"].as_str() {
                e["size"] = json!(sz);
            }
            e
        })
        .collect();
    status["recentSnapshots"] = Value::Array(recent);
    util::write_status(&repos, &r, status).await
}

/// The exact byte size of a snapshot's dump (the status shows a rounded string).
pub const SIZE_ANNOTATION: &str = "sim.kubedb.dev/size-bytes";
/// The snapshot time with milliseconds (the status has whole seconds), to order snapshots
/// taken within one second.
pub const TIME_ANNOTATION: &str = "sim.kubedb.dev/snapshot-time";

/// When a snapshot was taken, as precisely as known.
pub fn snapshot_time(s: &DynamicObject) -> Option<chrono::DateTime<chrono::Utc>> {
    s.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TIME_ANNOTATION))
        .and_then(|t| crate::operator::conditions::parse_time(t))
        .or_else(|| util::parse_time(&s.data["status"]["snapshotTime"]))
}

/// The Snapshots of a repository, oldest first (by snapshot time, then creation).
pub async fn repository_snapshots(
    ctx: &Ctx,
    ns: &str,
    repo: &str,
) -> Result<Vec<DynamicObject>, OperatorError> {
    let lp = kube::api::ListParams::default().labels(&format!("kubestash.com/repo-name={repo}"));
    let mut snaps: Vec<DynamicObject> = ctx
        .api(ns, &super::snapshots())
        .list(&lp)
        .await?
        .items
        .into_iter()
        .filter(|s| s.data["spec"]["repository"] == repo && s.metadata.deletion_timestamp.is_none())
        .collect();
    snaps.sort_by_key(|s| {
        (
            snapshot_time(s),
            s.metadata.creation_timestamp.as_ref().map(|t| t.0),
            s.metadata.name.clone(),
        )
    });
    Ok(snaps)
}
