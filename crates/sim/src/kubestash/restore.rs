//! RestoreSession: pick a Snapshot (a name, `latest`, or `pitr.targetTime`), read its dump back
//! from the bucket, verify the checksum, write the content marker onto the target database and
//! set its `DataRestored` condition. The target's BackupConfigurations are paused meanwhile.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use provider::kubedb::names;
use serde_json::{json, Value};

use super::backup::content_checksum;
use super::config::{self, repository_snapshots};
use super::util::{self, obj_ref};
use super::{Ctx, CONTENT_ANNOTATION, TARGET_UID_ANNOTATION};
use crate::operator::children as ch;
use crate::operator::conditions::Conditions;
use crate::operator::OperatorError;

/// How long after it ended a restore keeps re-asserting `DataRestored` on its target (the
/// KubeDB operator may write a status computed before our condition landed).
const REASSERT_FOR: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

pub async fn reconcile(rs: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, OperatorError> {
    if rs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = rs.metadata.namespace.clone().unwrap_or_default();
    let api = ctx.api(&ns, &super::restoresessions());
    let now = ctx.clock.now();
    let generation = rs.metadata.generation.unwrap_or(1);
    let status = rs
        .data
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let phase = status["phase"].as_str().unwrap_or_default().to_string();
    let mut conds = Conditions::from_status(&status);
    let spec = &rs.data["spec"];
    let target = spec["target"].clone();

    if matches!(phase.as_str(), "Succeeded" | "Failed" | "Invalid") {
        return reassert(&ctx, &rs, &target, &ns, phase == "Succeeded", &conds).await;
    }

    let fail = |conds: &Conditions, reason: &str, message: &str, phase: &str| {
        let mut conds = conds.clone();
        conds.set("RestoreFailed", true, reason, message, generation, now);
        let mut st = status.clone();
        st["phase"] = json!(phase);
        st["conditions"] = Value::Array(conds.0);
        st
    };

    let kind = target["kind"].as_str().unwrap_or_default();
    if names::by_kind(kind).is_none()
        || target["apiGroup"]
            .as_str()
            .is_some_and(|g| g != names::DB_GROUP)
    {
        let st = fail(
            &conds,
            "InvalidTarget",
            &format!("target kind {kind:?} cannot be restored by the simulated KubeStash"),
            "Invalid",
        );
        util::write_status(&api, &rs, st).await?;
        return Ok(Action::await_change());
    }
    if let Some(addon) = spec["addon"]["name"].as_str() {
        if Some(addon) != config::addon_for(kind) {
            let st = fail(
                &conds,
                "InvalidAddon",
                &format!("addon {addon:?} does not fit {kind}"),
                "Invalid",
            );
            util::write_status(&api, &rs, st).await?;
            return Ok(Action::await_change());
        }
    }
    let db = config::get_target(&ctx, &target, &ns).await?;
    let Some(db) = db else {
        // the database may be created right after the RestoreSession
        let mut st = status.clone();
        st["phase"] = json!("Pending");
        st["targetFound"] = json!(false);
        util::write_status(&api, &rs, st).await?;
        return Ok(Action::requeue(Duration::from_secs(1)));
    };
    let db_phase = db.data["status"]["phase"].as_str().unwrap_or_default();
    if db_phase.is_empty() || db_phase == "Provisioning" {
        // KubeStash restores into a provisioned database
        let mut st = status.clone();
        st["phase"] = json!("Pending");
        st["targetFound"] = json!(true);
        util::write_status(&api, &rs, st).await?;
        return Ok(Action::requeue(Duration::from_millis(500)));
    }

    // Running: pause the target's backups first (recorded, so a restart resumes them).
    if phase != "Running" {
        let paused = pause_backups(&ctx, &target, &ns).await?;
        conds.set(
            "RestoreExecutorEnsured",
            true,
            "RestoreExecutorEnsured",
            "the restore executor is running",
            generation,
            now,
        );
        let mut st = status.clone();
        st["phase"] = json!("Running");
        st["targetFound"] = json!(true);
        st["totalComponents"] = json!(1);
        st["components"] = json!({ "dump": { "phase": "Running" } });
        st["pausedBackups"] = Value::Array(paused);
        st["conditions"] = Value::Array(conds.0);
        util::write_status(&api, &rs, st).await?;
        return Ok(Action::requeue(
            ctx.config.backup_step_delay + Duration::from_millis(20),
        ));
    }
    let started = conds.since("RestoreExecutorEnsured").unwrap_or(now);
    let step = chrono::Duration::from_std(ctx.config.backup_step_delay).unwrap_or_default();
    if now < started + step {
        return Ok(Action::requeue(
            (started + step - now).to_std().unwrap_or_default() + Duration::from_millis(20),
        ));
    }

    let outcome = restore(&ctx, spec, &ns, &db).await;
    let done = ctx.clock.now();
    let elapsed = util::format_duration((done - started).to_std().unwrap_or_default());
    set_data_restored(&ctx, &db, outcome.as_ref().err().map(String::as_str)).await?;
    resume_backups(&ctx, &status["pausedBackups"]).await?;
    let mut st = status.clone();
    match &outcome {
        Ok(snapshot) => {
            conds.set(
                "RestoreCompleted",
                true,
                "RestoreSucceeded",
                &format!("restored snapshot {snapshot}"),
                generation,
                done,
            );
            st["phase"] = json!("Succeeded");
            st["components"] = json!({ "dump": { "phase": "Succeeded", "duration": elapsed } });
        }
        Err(why) => {
            conds.set(
                "RestoreFailed",
                true,
                "RestoreFailed",
                why,
                generation,
                done,
            );
            st["phase"] = json!("Failed");
            st["components"] =
                json!({ "dump": { "phase": "Failed", "duration": elapsed, "error": why } });
        }
    }
    st["duration"] = json!(elapsed);
    st["conditions"] = Value::Array(conds.0);
    if let Some(uid) = &db.metadata.uid {
        util::merge(
            &api,
            rs.metadata.name.as_deref().unwrap_or_default(),
            json!({ "metadata": { "annotations": { TARGET_UID_ANNOTATION: uid } } }),
        )
        .await?;
    }
    // the annotation write moved the resourceVersion; the status patch is a plain merge
    ch::patch_status(&api, rs.metadata.name.as_deref().unwrap_or_default(), st).await?;
    Ok(Action::requeue(Duration::from_secs(2)))
}

/// Reads the chosen snapshot back and writes its content marker onto the database; the
/// snapshot's name.
async fn restore(ctx: &Ctx, spec: &Value, ns: &str, db: &DynamicObject) -> Result<String, String> {
    let source = &spec["dataSource"];
    let repo_ns = source["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(ns)
        .to_string();
    let repo_name = source["repository"].as_str().unwrap_or_default();
    if repo_name.is_empty() {
        return Err("spec.dataSource.repository is not set".into());
    }
    let repo = ch::get_opt(&ctx.api(&repo_ns, &super::repositories()), repo_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Repository {repo_ns}/{repo_name} not found"))?;
    let snaps = repository_snapshots(ctx, &repo_ns, repo_name)
        .await
        .map_err(|e| e.to_string())?;
    let succeeded: Vec<(DateTime<Utc>, &DynamicObject)> = snaps
        .iter()
        .filter(|s| s.data["status"]["phase"] == "Succeeded")
        .filter_map(|s| Some((config::snapshot_time(s)?, s)))
        .collect();
    let chosen = match (
        source["snapshot"].as_str().filter(|s| !s.is_empty()),
        source["pitr"]["targetTime"].as_str(),
    ) {
        (Some("latest"), _) | (None, None) => {
            succeeded.iter().max_by_key(|(t, _)| *t).map(|(_, s)| *s)
        }
        (Some(name), _) => {
            let s = snaps
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name))
                .ok_or_else(|| {
                    format!("snapshot {name} not found in repository {repo_ns}/{repo_name}")
                })?;
            if s.data["status"]["phase"] != "Succeeded" {
                return Err(format!("snapshot {name} did not succeed"));
            }
            Some(s)
        }
        (None, Some(target_time)) => {
            let at = util::parse_time(&json!(target_time))
                .ok_or_else(|| format!("invalid pitr.targetTime {target_time:?}"))?;
            let exclusive = source["pitr"]["exclusive"] == true;
            succeeded
                .iter()
                .filter(|(t, _)| if exclusive { *t < at } else { *t <= at })
                .max_by_key(|(t, _)| *t)
                .map(|(_, s)| *s)
        }
    };
    let snap = chosen.ok_or_else(|| {
        format!("no succeeded snapshot in repository {repo_ns}/{repo_name} matches")
    })?;
    let snap_name = snap.metadata.name.clone().unwrap_or_default();
    let loc = util::repository_location(ctx, &repo).await?;
    let key = util::dump_key(
        repo.data["spec"]["path"].as_str().unwrap_or_default(),
        &snap_name,
    );
    let body = loc
        .get(&key)
        .await
        .map_err(|e| format!("reading snapshot {snap_name}: {e}"))?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("snapshot {snap_name} is not readable: {e}"))?;
    let content = doc["content"].as_str();
    if doc["sha256"].as_str() != Some(content_checksum(content).as_str()) {
        return Err(format!(
            "snapshot {snap_name} is corrupt: checksum mismatch"
        ));
    }
    let ns_db = db.metadata.namespace.clone().unwrap_or_default();
    let meta = names::by_kind(
        db.types
            .as_ref()
            .map(|t| t.kind.as_str())
            .unwrap_or_default(),
    )
    .ok_or_else(|| "unknown database kind".to_string())?;
    let dbs = ctx.api(&ns_db, &crate::operator::db_resource(meta));
    util::merge(
        &dbs,
        db.metadata.name.as_deref().unwrap_or_default(),
        json!({ "metadata": { "annotations": { CONTENT_ANNOTATION: content } } }),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(snap_name)
}

/// Sets the database's `DataRestored` condition (True, or False with the reason), retrying on
/// conflicts with the KubeDB operator's own status writes.
async fn set_data_restored(
    ctx: &Ctx,
    db: &DynamicObject,
    failure: Option<&str>,
) -> Result<(), OperatorError> {
    let ns = db.metadata.namespace.clone().unwrap_or_default();
    let name = db.metadata.name.clone().unwrap_or_default();
    let Some(meta) = names::by_kind(
        db.types
            .as_ref()
            .map(|t| t.kind.as_str())
            .unwrap_or_default(),
    ) else {
        return Ok(());
    };
    let dbs = ctx.api(&ns, &crate::operator::db_resource(meta));
    for _ in 0..10 {
        let Some(fresh) = ch::get_opt(&dbs, &name).await? else {
            return Ok(());
        };
        let mut conds = Conditions::from_status(&fresh.data["status"]);
        let generation = fresh.metadata.generation.unwrap_or(1);
        let now = chrono::Utc::now();
        match failure {
            None => conds.set(
                "DataRestored",
                true,
                "SuccessfullyRestoredDatabase",
                "the database's data is restored",
                generation,
                now,
            ),
            Some(why) => conds.set(
                "DataRestored",
                false,
                "FailedToRestoreDatabase",
                why,
                generation,
                now,
            ),
        }
        match util::patch_status_at(&dbs, &fresh, json!({ "conditions": conds.0 })).await {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// After a restore ended: if its target still waits for the initial restore (its
/// `DataRestored` lost to a concurrent operator write), set it again.
async fn reassert(
    ctx: &Ctx,
    rs: &DynamicObject,
    target: &Value,
    ns: &str,
    succeeded: bool,
    conds: &Conditions,
) -> Result<Action, OperatorError> {
    let ended = conds
        .since("RestoreCompleted")
        .or_else(|| conds.since("RestoreFailed"));
    if ended.is_none_or(|t| ctx.clock.now() - t >= REASSERT_FOR) {
        return Ok(Action::await_change());
    }
    let Some(db) = config::get_target(ctx, target, ns).await? else {
        return Ok(Action::await_change());
    };
    let uid = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TARGET_UID_ANNOTATION));
    let db_conds = Conditions::from_status(&db.data["status"]);
    if uid.is_some()
        && uid == db.metadata.uid.as_ref()
        && db_conds.is("DataRestoreStarted") == Some(true)
        && db_conds.is("DataRestored").is_none()
    {
        let why = conds
            .get("RestoreFailed")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("the restore failed")
            .to_string();
        set_data_restored(ctx, &db, (!succeeded).then_some(why.as_str())).await?;
    }
    Ok(Action::requeue(Duration::from_secs(2)))
}

/// Pauses the BackupConfigurations that back up `target` (those not paused already); the
/// `status.pausedBackups` entries.
async fn pause_backups(ctx: &Ctx, target: &Value, ns: &str) -> Result<Vec<Value>, OperatorError> {
    let (tns, tname) = obj_ref(target, ns).unwrap_or_default();
    let all: kube::api::Api<DynamicObject> =
        kube::api::Api::all_with(ctx.client.clone(), &super::backupconfigurations());
    let mut paused = Vec::new();
    for bc in all.list(&Default::default()).await?.items {
        let bns = bc.metadata.namespace.clone().unwrap_or_default();
        let t = &bc.data["spec"]["target"];
        let same = t["kind"] == target["kind"]
            && t["name"] == tname.as_str()
            && obj_ref(t, &bns).is_some_and(|(n, _)| n == tns);
        if !same || bc.data["spec"]["paused"] == true {
            continue;
        }
        let name = bc.metadata.name.clone().unwrap_or_default();
        util::merge(
            &ctx.api(&bns, &super::backupconfigurations()),
            &name,
            json!({ "spec": { "paused": true } }),
        )
        .await?;
        paused.push(json!({ "apiGroup": super::CORE_GROUP, "kind": "BackupConfiguration", "namespace": bns, "name": name }));
    }
    Ok(paused)
}

async fn resume_backups(ctx: &Ctx, paused: &Value) -> Result<(), OperatorError> {
    for p in paused.as_array().cloned().unwrap_or_default() {
        let (Some(bns), Some(name)) = (p["namespace"].as_str(), p["name"].as_str()) else {
            continue;
        };
        util::merge(
            &ctx.api(bns, &super::backupconfigurations()),
            name,
            json!({ "spec": { "paused": false } }),
        )
        .await?;
    }
    Ok(())
}
