//! BackupSession: Pending → Running → Succeeded/Failed (or Skipped). One Snapshot per
//! repository of the session; each snapshot's dump (the database's content marker) goes to the
//! repository's real bucket at `<repository path>/<snapshot>/dump.json` under the storage prefix.
//! Then each repository's RetentionPolicy deletes old Snapshots and their objects.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use provider::kubedb::names;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::config::{
    self, owner_ref, refresh_repository, repository_snapshots, SIZE_ANNOTATION, TIME_ANNOTATION,
};
use super::util::{self, obj_ref};
use super::{Ctx, CONTENT_ANNOTATION};
use crate::operator::children as ch;
use crate::operator::conditions::Conditions;
use crate::operator::OperatorError;

/// What a snapshot's `dump.json` holds.
pub fn dump_document(target: &Value, content: Option<&str>, at: DateTime<Utc>) -> Value {
    json!({
        "target": {
            "apiGroup": names::DB_GROUP,
            "kind": target["kind"],
            "namespace": target["namespace"],
            "name": target["name"],
        },
        "content": content,
        "time": util::time_str(at),
        "sha256": content_checksum(content),
    })
}

/// sha256 of the content marker (an absent marker hashes as the empty string).
pub fn content_checksum(content: Option<&str>) -> String {
    hex::encode(Sha256::digest(content.unwrap_or_default().as_bytes()))
}

fn is_final(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Skipped")
}

pub async fn reconcile(bs: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, OperatorError> {
    let phase = bs.data["status"]["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if bs.metadata.deletion_timestamp.is_some() || is_final(&phase) {
        return Ok(Action::await_change());
    }
    let ns = bs.metadata.namespace.clone().unwrap_or_default();
    let name = bs.metadata.name.clone().unwrap_or_default();
    let api = ctx.api(&ns, &super::backupsessions());
    let now = ctx.clock.now();
    let generation = bs.metadata.generation.unwrap_or(1);
    let status = bs
        .data
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut conds = Conditions::from_status(&status);
    let invoker = &bs.data["spec"]["invoker"];
    let session_name = bs.data["spec"]["session"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bc_name = invoker["name"].as_str().unwrap_or_default().to_string();

    let skip = |reason: &str, message: String| {
        let mut conds = conds.clone();
        conds.set("BackupSkipped", true, reason, &message, generation, now);
        let mut st = status.clone();
        st["phase"] = json!("Skipped");
        st["conditions"] = Value::Array(conds.0);
        st
    };
    let bc = if invoker["kind"] == "BackupConfiguration" {
        ch::get_opt(&ctx.api(&ns, &super::backupconfigurations()), &bc_name).await?
    } else {
        None
    };
    let Some(bc) = bc else {
        let st = skip(
            "InvokerNotFound",
            format!("BackupConfiguration {ns}/{bc_name} not found"),
        );
        util::write_status(&api, &bs, st).await?;
        return Ok(Action::await_change());
    };
    let Some(session) = bc.data["spec"]["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == session_name.as_str()))
        .cloned()
    else {
        let st = skip(
            "SessionNotFound",
            format!("BackupConfiguration {ns}/{bc_name} has no session {session_name:?}"),
        );
        util::write_status(&api, &bs, st).await?;
        return Ok(Action::await_change());
    };

    if phase.is_empty() || phase == "Pending" {
        if bc.data["status"]["phase"] != "Ready" {
            let st = skip(
                "BackupConfigurationNotReady",
                format!("BackupConfiguration {ns}/{bc_name} is not Ready"),
            );
            util::write_status(&api, &bs, st).await?;
            return Ok(Action::await_change());
        }
        let others = api
            .list(&kube::api::ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|o| {
                o.metadata.name.as_deref() != Some(name.as_str())
                    && o.data["spec"]["invoker"]["name"] == bc_name.as_str()
                    && o.data["status"]["phase"] == "Running"
            })
            .filter_map(|o| o.metadata.name)
            .collect::<Vec<_>>();
        if let Some(other) = others.first() {
            let st = skip(
                "AnotherBackupRunning",
                format!("BackupSession {other} is running"),
            );
            util::write_status(&api, &bs, st).await?;
            return Ok(Action::await_change());
        }
        return start(&ctx, &bs, &bc, &session, status, conds, now).await;
    }

    // Running: wait out the step delay, then take each snapshot.
    let started = conds.since("BackupExecutorEnsured").unwrap_or(now);
    let step = chrono::Duration::from_std(ctx.config.backup_step_delay).unwrap_or_default();
    if now < started + step {
        return Ok(Action::requeue(
            (started + step - now).to_std().unwrap_or_default() + Duration::from_millis(20),
        ));
    }
    let mut snaps_status = status["snapshots"].as_array().cloned().unwrap_or_default();
    let failure = ctx.faults.backup_failure(&ns, &bc_name);
    let target = bc.data["spec"]["target"].clone();
    let db = config::get_target(&ctx, &target, &ns).await?;
    for entry in snaps_status.iter_mut() {
        if entry["phase"] == "Succeeded" || entry["phase"] == "Failed" {
            continue;
        }
        let snap_name = entry["name"].as_str().unwrap_or_default().to_string();
        let repo_name = entry["repository"].as_str().unwrap_or_default().to_string();
        let outcome = match (&failure, &db) {
            (Some(reason), _) => Err(reason.clone()),
            (None, None) => Err(format!(
                "target {} {}/{} not found",
                target["kind"].as_str().unwrap_or_default(),
                target["namespace"].as_str().unwrap_or(&ns),
                target["name"].as_str().unwrap_or_default()
            )),
            (None, Some(db)) => upload(&ctx, &ns, &repo_name, &snap_name, &target, db, now).await,
        };
        let done = ctx.clock.now();
        let elapsed = (done - started).to_std().unwrap_or_default();
        finish_snapshot(
            &ctx,
            &ns,
            &snap_name,
            &repo_name,
            outcome.as_ref(),
            done,
            elapsed,
        )
        .await?;
        entry["phase"] = json!(if outcome.is_ok() {
            "Succeeded"
        } else {
            "Failed"
        });
        if let Err(why) = &outcome {
            conds.set(
                "BackupFailed",
                true,
                "SnapshotFailed",
                &format!("snapshot {snap_name}: {why}"),
                generation,
                done,
            );
        }
    }
    let failed = snaps_status.iter().any(|s| s["phase"] == "Failed");
    let done = ctx.clock.now();

    // Retention per repository, then the repositories' status.
    let mut retention = Vec::new();
    let repos: Vec<String> = snaps_status
        .iter()
        .filter_map(|s| s["repository"].as_str().map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for repo in &repos {
        if let Some(entry) = apply_retention(&ctx, &bc, &session, &ns, repo, done).await? {
            retention.push(entry);
        }
        refresh_repository(&ctx, &ns, repo).await?;
    }

    let mut new_status = status.clone();
    new_status["phase"] = json!(if failed { "Failed" } else { "Succeeded" });
    new_status["duration"] = json!(util::format_duration(
        (done - started).to_std().unwrap_or_default()
    ));
    new_status["snapshots"] = Value::Array(snaps_status);
    if !retention.is_empty() {
        new_status["retentionPolicy"] = Value::Array(retention);
    }
    conds.set(
        "SnapshotsEnsured",
        true,
        if failed {
            "SnapshotsFailed"
        } else {
            "SnapshotsSucceeded"
        },
        if failed {
            "one or more snapshots failed"
        } else {
            "all snapshots succeeded"
        },
        generation,
        done,
    );
    new_status["conditions"] = Value::Array(conds.0);
    util::write_status(&api, &bs, new_status).await?;
    let outcome = if failed { "Failed" } else { "Succeeded" };
    cleanup_history(
        &ctx,
        &ns,
        (&bc_name, &session_name),
        &session,
        (&name, outcome),
    )
    .await?;
    let _ = ctx.kick_configs.send(());
    Ok(Action::await_change())
}

/// Pending → Running: one Snapshot per repository of the session.
async fn start(
    ctx: &Ctx,
    bs: &DynamicObject,
    bc: &DynamicObject,
    session: &Value,
    status: Value,
    mut conds: Conditions,
    now: DateTime<Utc>,
) -> Result<Action, OperatorError> {
    let ns = bs.metadata.namespace.clone().unwrap_or_default();
    let name = bs.metadata.name.clone().unwrap_or_default();
    let generation = bs.metadata.generation.unwrap_or(1);
    let target = &bc.data["spec"]["target"];
    let (tns, tname) = obj_ref(target, &ns).unwrap_or_default();
    let app_ref = json!({ "apiGroup": names::DB_GROUP, "kind": target["kind"], "namespace": tns, "name": tname });
    let repos_api = ctx.api(&ns, &super::repositories());
    let snaps_api = ctx.api(&ns, &super::snapshots());
    let mut entries = Vec::new();
    for r in session["repositories"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let repo_name = r["name"].as_str().unwrap_or_default().to_string();
        let snap_name = format!("{repo_name}-{name}");
        let repo = ch::get_opt(&repos_api, &repo_name).await?;
        let mut meta = json!({
            "name": snap_name,
            "namespace": ns,
            "labels": {
                "kubestash.com/repo-name": repo_name,
                "kubestash.com/app-ref-kind": target["kind"],
                "kubestash.com/app-ref-namespace": tns,
                "kubestash.com/app-ref-name": tname,
            },
        });
        if let Some(repo) = &repo {
            // KubeStash: a Snapshot belongs to its Repository
            meta["ownerReferences"] = json!([owner_ref(repo, "Repository")]);
        }
        let snap = json!({
            "apiVersion": format!("{}/{}", super::STORAGE_GROUP, super::VERSION),
            "kind": "Snapshot",
            "metadata": meta,
            "spec": {
                "snapshotID": ulid::Ulid::from_datetime(std::time::SystemTime::from(now)).to_string(),
                "type": "FullBackup",
                "repository": repo_name,
                "session": session["name"],
                "backupSession": name,
                "appRef": app_ref,
                "deletionPolicy": "Delete",
                "version": "v1",
            },
        });
        if ch::create_if_absent(&snaps_api, snap).await? {
            ch::patch_status(
                &snaps_api,
                &snap_name,
                json!({ "phase": "Running", "totalComponents": 1 }),
            )
            .await?;
        }
        entries.push(json!({ "name": snap_name, "phase": "Running", "appRef": app_ref, "repository": repo_name }));
    }
    conds.set(
        "BackupExecutorEnsured",
        true,
        "BackupExecutorEnsured",
        "the backup executor is running",
        generation,
        now,
    );
    let mut new_status = status;
    new_status["phase"] = json!("Running");
    new_status["totalSnapshots"] = json!(entries.len());
    new_status["snapshots"] = Value::Array(entries);
    new_status["conditions"] = Value::Array(conds.0);
    util::write_status(&ctx.api(&ns, &super::backupsessions()), bs, new_status).await?;
    Ok(Action::requeue(
        ctx.config.backup_step_delay + Duration::from_millis(20),
    ))
}

/// Writes the dump of `db` for one snapshot to the repository's bucket; the byte size.
async fn upload(
    ctx: &Ctx,
    ns: &str,
    repo_name: &str,
    snap_name: &str,
    target: &Value,
    db: &DynamicObject,
    now: DateTime<Utc>,
) -> Result<u64, String> {
    let repo = ch::get_opt(&ctx.api(ns, &super::repositories()), repo_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Repository {ns}/{repo_name} not found"))?;
    let loc = util::repository_location(ctx, &repo).await?;
    let content = db
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CONTENT_ANNOTATION))
        .map(String::as_str);
    let mut target = target.clone();
    if target["namespace"].as_str().is_none_or(str::is_empty) {
        target["namespace"] = json!(ns);
    }
    let doc = dump_document(&target, content, now);
    let body = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    let size = body.len() as u64;
    let key = util::dump_key(
        repo.data["spec"]["path"].as_str().unwrap_or_default(),
        snap_name,
    );
    loc.put(&key, bytes::Bytes::from(body))
        .await
        .map_err(|e| e.to_string())?;
    Ok(size)
}

async fn finish_snapshot(
    ctx: &Ctx,
    ns: &str,
    snap_name: &str,
    repo_name: &str,
    outcome: Result<&u64, &String>,
    at: DateTime<Utc>,
    elapsed: Duration,
) -> Result<(), OperatorError> {
    let snaps = ctx.api(ns, &super::snapshots());
    let Some(snap) = ch::get_opt(&snaps, snap_name).await? else {
        return Ok(());
    };
    let repo = ch::get_opt(&ctx.api(ns, &super::repositories()), repo_name).await?;
    let path = util::dump_key(
        repo.as_ref()
            .and_then(|r| r.data["spec"]["path"].as_str())
            .unwrap_or_default(),
        snap_name,
    );
    let generation = snap.metadata.generation.unwrap_or(1);
    let mut conds = Conditions::from_status(&snap.data["status"]);
    let mut component =
        json!({ "path": path, "driver": "Restic", "duration": util::format_duration(elapsed) });
    let mut status = snap
        .data
        .get("status")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    match outcome {
        Ok(size) => {
            component["phase"] = json!("Succeeded");
            component["size"] = json!(util::human_size(*size));
            component["integrity"] = json!(true);
            status["phase"] = json!("Succeeded");
            status["size"] = json!(util::human_size(*size));
            status["integrity"] = json!(true);
            conds.set(
                "SnapshotMetadataUploaded",
                true,
                "SnapshotMetadataUploaded",
                "the snapshot's data is uploaded",
                generation,
                at,
            );
            util::merge(
                &snaps,
                snap_name,
                json!({ "metadata": { "annotations": { SIZE_ANNOTATION: size.to_string() } } }),
            )
            .await?;
        }
        Err(why) => {
            component["phase"] = json!("Failed");
            component["error"] = json!(why);
            status["phase"] = json!("Failed");
            conds.set("BackupFailed", true, "BackupFailed", why, generation, at);
        }
    }
    status["snapshotTime"] = json!(util::time_str(at));
    let precise = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    util::merge(
        &snaps,
        snap_name,
        json!({ "metadata": { "annotations": { TIME_ANNOTATION: precise } } }),
    )
    .await?;
    status["lastUpdateTime"] = json!(util::time_str(at));
    status["totalComponents"] = json!(1);
    status["components"] = json!({ "dump": component });
    status["conditions"] = Value::Array(conds.0);
    ch::patch_status(&snaps, snap_name, status)
        .await
        .map(|_| ())
}

/// Applies the repository's RetentionPolicy (from the BackupConfiguration's backend); the
/// BackupSession's `status.retentionPolicy[]` entry.
async fn apply_retention(
    ctx: &Ctx,
    bc: &DynamicObject,
    session: &Value,
    ns: &str,
    repo_name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Value>, OperatorError> {
    let backend = session["repositories"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == repo_name))
        .and_then(|r| r["backend"].as_str())
        .unwrap_or_default()
        .to_string();
    let Some((rns, rname)) = bc.data["spec"]["backends"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == backend.as_str()))
        .and_then(|b| obj_ref(&b["retentionPolicy"], ns))
    else {
        return Ok(None);
    };
    let mut entry = json!({ "ref": { "name": rname, "namespace": rns }, "repository": repo_name });
    let rp = ch::get_opt(&ctx.api(&rns, &super::retentionpolicies()), &rname).await?;
    let result = match rp {
        None => Err(format!("RetentionPolicy {rns}/{rname} not found")),
        Some(rp) => enforce(ctx, &rp.data["spec"], ns, repo_name, now).await,
    };
    match result {
        Ok(()) => entry["phase"] = json!("Applied"),
        Err(e) => {
            entry["phase"] = json!("FailedToApply");
            entry["error"] = json!(e);
        }
    }
    Ok(Some(entry))
}

/// Deletes the Snapshots (and their objects) the policy does not keep.
async fn enforce(
    ctx: &Ctx,
    spec: &Value,
    ns: &str,
    repo_name: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let snaps = repository_snapshots(ctx, ns, repo_name)
        .await
        .map_err(|e| e.to_string())?;
    let timed: Vec<(DateTime<Utc>, &DynamicObject)> = snaps
        .iter()
        .filter_map(|s| Some((config::snapshot_time(s)?, s)))
        .collect();
    let doomed = select_expired(spec, &timed, now)?;
    if doomed.is_empty() {
        return Ok(());
    }
    let repo = ch::get_opt(&ctx.api(ns, &super::repositories()), repo_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Repository {ns}/{repo_name} not found"))?;
    let loc = util::repository_location(ctx, &repo).await?;
    let path = repo.data["spec"]["path"].as_str().unwrap_or_default();
    let snaps_api = ctx.api(ns, &super::snapshots());
    for name in doomed {
        loc.delete(&util::dump_key(path, &name))
            .await
            .map_err(|e| e.to_string())?;
        ch::delete_ignore(&snaps_api, &name)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The period (hour, day, ...) a snapshot time falls in.
type PeriodKey = fn(&DateTime<Utc>) -> String;

/// The names of the snapshots a retention policy deletes. Succeeded snapshots are kept when any
/// of `successfulSnapshots` keeps them (`last` newest, or the newest of each of the last N
/// hours/days/weeks/months/years; no rule keeps all); failed ones by `failedSnapshots.last`
/// (default 1); `maxRetentionPeriod` deletes anything older in any case.
pub fn select_expired(
    spec: &Value,
    snaps: &[(DateTime<Utc>, &DynamicObject)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, String> {
    let max_age = match spec["maxRetentionPeriod"]
        .as_str()
        .filter(|s| !s.is_empty())
    {
        Some(p) => Some(util::parse_retention_period(p)?),
        None => None,
    };
    let name = |s: &DynamicObject| s.metadata.name.clone().unwrap_or_default();
    // `snaps` comes oldest first; among equal times the later one is the newer
    let mut newest_first: Vec<&(DateTime<Utc>, &DynamicObject)> = snaps.iter().rev().collect();
    newest_first.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    let ok: Vec<_> = newest_first
        .iter()
        .filter(|(_, s)| s.data["status"]["phase"] == "Succeeded")
        .collect();
    let failed: Vec<_> = newest_first
        .iter()
        .filter(|(_, s)| s.data["status"]["phase"] == "Failed")
        .collect();
    let mut keep: HashSet<String> = HashSet::new();
    let ss = &spec["successfulSnapshots"];
    let count = |k: &str| ss[k].as_u64().map(|n| n as usize);
    let rules: [(&str, PeriodKey); 5] = [
        ("hourly", |t| t.format("%Y-%m-%d %H").to_string()),
        ("daily", |t| t.format("%Y-%m-%d").to_string()),
        ("weekly", |t| t.format("%G-%V").to_string()),
        ("monthly", |t| t.format("%Y-%m").to_string()),
        ("yearly", |t| t.format("%Y").to_string()),
    ];
    let any_rule = count("last").is_some() || rules.iter().any(|(k, _)| count(k).is_some());
    if !any_rule {
        keep.extend(ok.iter().map(|(_, s)| name(s)));
    }
    if let Some(n) = count("last") {
        keep.extend(ok.iter().take(n).map(|(_, s)| name(s)));
    }
    for (k, bucket) in rules {
        let Some(n) = count(k) else { continue };
        let mut seen = HashSet::new();
        for (t, s) in &ok {
            if seen.len() >= n {
                break;
            }
            if seen.insert(bucket(t)) {
                keep.insert(name(s));
            }
        }
    }
    let failed_last = spec["failedSnapshots"]["last"].as_u64().unwrap_or(1) as usize;
    keep.extend(failed.iter().take(failed_last).map(|(_, s)| name(s)));
    let mut doomed = Vec::new();
    for (t, s) in &newest_first {
        let phase = &s.data["status"]["phase"];
        if phase != "Succeeded" && phase != "Failed" {
            continue;
        }
        let too_old = max_age
            .is_some_and(|age| chrono::Duration::from_std(age).is_ok_and(|age| now - *t > age));
        if too_old || !keep.contains(&name(s)) {
            doomed.push(name(s));
        }
    }
    Ok(doomed)
}

/// Keeps the newest `sessionHistoryLimit` (default 1) finished BackupSessions of this session,
/// per outcome, as KubeStash does; older ones are deleted.
async fn cleanup_history(
    ctx: &Ctx,
    ns: &str,
    (bc_name, session_name): (&str, &str),
    session: &Value,
    (current, current_phase): (&str, &str),
) -> Result<(), OperatorError> {
    let limit = session["sessionHistoryLimit"].as_u64().unwrap_or(1) as usize;
    let api = ctx.api(ns, &super::backupsessions());
    let mut all: Vec<DynamicObject> = api
        .list(&kube::api::ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|o| {
            o.data["spec"]["invoker"]["name"] == bc_name
                && o.data["spec"]["session"] == session_name
                && o.metadata.name.as_deref() != Some(current)
        })
        .collect();
    all.sort_by_key(|o| std::cmp::Reverse(o.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    for phase in ["Succeeded", "Failed", "Skipped"] {
        // the session that just ended counts as the newest of its outcome
        let mut kept = usize::from(phase == current_phase);
        for o in all.iter().filter(|o| o.data["status"]["phase"] == phase) {
            if kept < limit.max(1) {
                kept += 1;
                continue;
            }
            if let Some(n) = &o.metadata.name {
                ch::delete_ignore(&api, n).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, phase: &str) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "storage.kubestash.com/v1alpha1", "kind": "Snapshot",
            "metadata": { "name": name }, "status": { "phase": phase },
        }))
        .expect("snapshot")
    }

    #[test]
    fn retention_keeps_the_last_and_drops_the_too_old() {
        let now = util::parse_time(&json!("2026-07-20T12:00:00Z")).expect("time");
        let objs: Vec<DynamicObject> = (0..5)
            .map(|i| {
                snap(
                    &format!("s{i}"),
                    if i == 3 { "Failed" } else { "Succeeded" },
                )
            })
            .collect();
        let timed: Vec<(DateTime<Utc>, &DynamicObject)> = objs
            .iter()
            .enumerate()
            .map(|(i, o)| (now - chrono::Duration::days(5 - i as i64), o))
            .collect();
        let mut d = select_expired(
            &json!({ "successfulSnapshots": { "last": 2 } }),
            &timed,
            now,
        )
        .unwrap();
        d.sort();
        // succeeded: s0 s1 s2 s4 (newest s4, s2 kept); failed s3 kept (default 1)
        assert_eq!(d, vec!["s0", "s1"]);
        let mut d = select_expired(
            &json!({ "maxRetentionPeriod": "3d", "failedSnapshots": { "last": 0 } }),
            &timed,
            now,
        )
        .unwrap();
        d.sort();
        // ages 5,4,3,2,1 days: older than 3 days goes (s0, s1), failed s3 goes too
        assert_eq!(d, vec!["s0", "s1", "s3"]);
        let d = select_expired(
            &json!({ "successfulSnapshots": { "daily": 10 } }),
            &timed,
            now,
        )
        .unwrap();
        assert!(d.is_empty(), "{d:?}");
        assert!(select_expired(&json!({ "maxRetentionPeriod": "3q" }), &timed, now).is_err());
    }

    #[test]
    fn the_dump_carries_a_checksum_of_the_content() {
        let t = json!({ "kind": "MongoDB", "namespace": "a", "name": "db" });
        let at = util::parse_time(&json!("2026-07-20T12:00:00Z")).expect("time");
        let d = dump_document(&t, Some("v1"), at);
        assert_eq!(d["sha256"], content_checksum(Some("v1")));
        assert_eq!(d["target"]["apiGroup"], "kubedb.com");
        assert_ne!(content_checksum(Some("v1")), content_checksum(Some("v2")));
    }
}
