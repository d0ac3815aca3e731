//! OpsRequest processing for one database: one at a time, in creation order
//! (`Pending` → `Progressing` → `Successful`/`Failed`/`Skipped`), `Paused` on the database
//! meanwhile, and the result written into the database spec as the ops-manager does
//! (kubedb-api §5).

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, DynamicObject, ListParams};
use provider::kubedb::names::{self, EngineMeta};
use serde_json::{json, Map, Value};

use super::children as ch;
use super::conditions::{now_str, Conditions};
use super::events::{self, Note};
use super::{Ctx, OperatorError};

/// Types where a newer pending request of the same type supersedes an older one.
const SUPERSEDABLE: [&str; 5] = [
    "UpdateVersion",
    "HorizontalScaling",
    "VerticalScaling",
    "VolumeExpansion",
    "Reconfigure",
];

fn steps_for(t: &str) -> &'static [&'static str] {
    match t {
        "UpdateVersion" => &["UpdatePetSets", "RestartPods", "UpdateVersion"],
        "HorizontalScaling" => &["UpdatePetSets", "HorizontalScaling"],
        "VerticalScaling" => &["UpdatePetSets", "RestartPods", "VerticalScaling"],
        "VolumeExpansion" => &["UpdatePetSets", "VolumeExpansion"],
        "Restart" => &["RestartPods", "Restart"],
        "Reconfigure" => &["UpdateConfiguration", "RestartPods", "Reconfigure"],
        "ReconfigureTLS" => &["UpdateCertificates", "RestartPods", "ReconfigureTLS"],
        "RotateAuth" => &["UpdateCredential", "RestartPods", "RotateAuth"],
        "StorageMigration" => &["MigrateStorage", "StorageMigration"],
        _ => &["Progressing"],
    }
}

fn phase_of(op: &DynamicObject) -> &str {
    op.data["status"]["phase"].as_str().unwrap_or("")
}

fn op_status(op: &DynamicObject, phase: &str, conds: &Conditions) -> Value {
    json!({
        "phase": phase,
        "observedGeneration": op.metadata.generation.unwrap_or(1),
        "conditions": conds.0,
    })
}

/// One Event about the OpsRequest as written (`None`: it is gone, nothing to say), once per
/// transition (`reason` names it).
async fn announce(ctx: &Ctx, op: Option<&DynamicObject>, type_: &str, reason: &str, message: &str) {
    let Some(op) = op else { return };
    if !ctx.events.first_time(op, reason) {
        return;
    }
    let note = Note {
        component: events::OPS_MANAGER,
        type_,
        reason,
        message,
    };
    events::record(&ctx.client, &ctx.ops_ar, op, note).await;
}

/// Handles this database's OpsRequests; updates `db_conds` (`Paused`) and returns when to look again.
pub async fn process(
    ctx: &Ctx,
    db: &DynamicObject,
    ns: &str,
    name: &str,
    db_phase: &str,
    db_conds: &mut Conditions,
    now: DateTime<Utc>,
) -> Result<Option<Duration>, OperatorError> {
    let opses = ch::api(&ctx.client, ns, &ctx.ops_ar);
    let mut mine: Vec<DynamicObject> = match opses.list(&ListParams::default()).await {
        Ok(l) => l.items,
        // the ops CRD may be missing on a bare cluster
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    mine.retain(|o| {
        o.data["spec"]["databaseRef"]["name"] == name && o.metadata.deletion_timestamp.is_none()
    });
    mine.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ta.cmp(&tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let generation = db.metadata.generation.unwrap_or(1);
    let step = ctx.config.step_delay;
    let mut next: Option<Duration> = None;

    // Newly seen requests are queued.
    for op in mine.iter_mut().filter(|o| phase_of(o).is_empty()) {
        let opname = op.metadata.name.clone().unwrap_or_default();
        let mut c = Conditions::default();
        c.set(
            "Pending",
            true,
            "OpsRequestPending",
            "waiting for earlier requests and the database",
            1,
            now,
        );
        let st = op_status(op, "Pending", &c);
        let written = ch::patch_status(&opses, &opname, st.clone()).await?;
        op.data["status"] = st;
        let msg = format!(
            "waiting for earlier requests and for {} {ns}/{name}",
            ctx.meta.kind
        );
        announce(ctx, written.as_ref(), events::NORMAL, "Pending", &msg).await;
    }

    let mut active = mine.iter().position(|o| phase_of(o) == "Progressing");
    if active.is_none() {
        let pending: Vec<usize> = (0..mine.len())
            .filter(|i| phase_of(&mine[*i]) == "Pending")
            .collect();
        for (k, &i) in pending.iter().enumerate() {
            let t = mine[i].data["spec"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let superseded = SUPERSEDABLE.contains(&t.as_str())
                && pending[k + 1..]
                    .iter()
                    .any(|&j| mine[j].data["spec"]["type"] == t.as_str());
            let opname = mine[i].metadata.name.clone().unwrap_or_default();
            if superseded {
                let mut c = Conditions::from_status(&mine[i].data["status"]);
                c.set(
                    "Skipped",
                    true,
                    "SupersededByNewerRequest",
                    "a newer request of the same type replaces this one",
                    1,
                    now,
                );
                let written =
                    ch::patch_status(&opses, &opname, op_status(&mine[i], "Skipped", &c)).await?;
                let msg = format!("superseded by a newer {t} request for {name}");
                announce(ctx, written.as_ref(), events::NORMAL, "Skipped", &msg).await;
                continue;
            }
            let apply = mine[i].data["spec"]["apply"].as_str().unwrap_or("IfReady");
            let halted = db.data["spec"]["halted"] == true;
            if halted || (apply == "IfReady" && db_phase != "Ready") {
                // waits for the database; its status changes trigger the next look
                next = Some(Duration::from_secs(2));
                break;
            }
            let mut c = Conditions::from_status(&mine[i].data["status"]);
            c.remove("Pending");
            c.set(
                "Progressing",
                true,
                "OpsRequestProgressingStarted",
                "the request is being processed",
                1,
                now,
            );
            let st = op_status(&mine[i], "Progressing", &c);
            let written = ch::patch_status(&opses, &opname, st.clone()).await?;
            mine[i].data["status"] = st;
            let msg = format!("started processing {t} of {} {ns}/{name}", ctx.meta.kind);
            announce(ctx, written.as_ref(), events::NORMAL, "Progressing", &msg).await;
            active = Some(i);
            break;
        }
    }

    let mut paused = false;
    if let Some(i) = active {
        let op = &mine[i];
        let opname = op.metadata.name.clone().unwrap_or_default();
        let t = op.data["spec"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut c = Conditions::from_status(&op.data["status"]);
        let started = c.since("Progressing").unwrap_or(now);
        let elapsed = (now - started).to_std().unwrap_or_default();
        let steps = steps_for(&t);
        let steps_done = if step.is_zero() {
            steps.len()
        } else {
            (elapsed.as_millis() / step.as_millis().max(1)) as usize
        };
        let failure = ctx.faults.ops_failure(ns, &opname);
        if ctx.faults.ops_held(ns, &opname) {
            paused = true;
            next = Some(Duration::from_millis(100));
        } else if let Some(reason) = failure {
            if step.is_zero() || steps_done >= 1 {
                c.set(steps[0], false, "StepFailed", &reason, 1, now);
                c.set(
                    "Failed",
                    true,
                    &reason,
                    &format!("{t} failed: {reason}"),
                    1,
                    now,
                );
                let written =
                    ch::patch_status(&opses, &opname, op_status(op, "Failed", &c)).await?;
                let msg = format!("{t} failed: {reason}");
                announce(ctx, written.as_ref(), events::WARNING, "Failed", &msg).await;
                next = Some(Duration::from_millis(50));
            } else {
                paused = true;
                next = Some(step.saturating_sub(elapsed) + Duration::from_millis(20));
            }
        } else if steps_done >= steps.len() {
            match apply_to_database(ctx, db, op, ns, name).await {
                Ok(()) => {
                    let fresh: Vec<&str> = steps
                        .iter()
                        .copied()
                        .filter(|s| c.is(s) != Some(true))
                        .collect();
                    for s in steps {
                        c.set(
                            s,
                            true,
                            &format!("{s}Succeeded"),
                            &format!("{s} completed"),
                            1,
                            now,
                        );
                    }
                    c.set(
                        "Successful",
                        true,
                        "OpsRequestProcessedSuccessfully",
                        &format!("{t} completed successfully"),
                        1,
                        now,
                    );
                    let written =
                        ch::patch_status(&opses, &opname, op_status(op, "Successful", &c)).await?;
                    for s in fresh {
                        let msg = format!("successfully completed {s}");
                        announce(ctx, written.as_ref(), events::NORMAL, s, &msg).await;
                    }
                    let msg = format!(
                        "{t} of {} {ns}/{name} completed successfully",
                        ctx.meta.kind
                    );
                    announce(ctx, written.as_ref(), events::NORMAL, "Successful", &msg).await;
                }
                Err(OperatorError::Kube(kube::Error::Api(s)))
                    if (400..500).contains(&s.code) && s.code != 404 && s.code != 409 =>
                {
                    c.set("Failed", true, "UpdateDatabaseFailed", &s.message, 1, now);
                    let written =
                        ch::patch_status(&opses, &opname, op_status(op, "Failed", &c)).await?;
                    let msg = format!("{t} failed: {}", s.message);
                    announce(ctx, written.as_ref(), events::WARNING, "Failed", &msg).await;
                }
                Err(e) => return Err(e),
            }
            next = Some(Duration::from_millis(50));
        } else {
            let mut changed = Vec::new();
            for s in &steps[..steps_done] {
                if c.is(s) != Some(true) {
                    c.set(
                        s,
                        true,
                        &format!("{s}Succeeded"),
                        &format!("{s} completed"),
                        1,
                        now,
                    );
                    changed.push(*s);
                }
            }
            if !changed.is_empty() {
                let written =
                    ch::patch_status(&opses, &opname, op_status(op, "Progressing", &c)).await?;
                for s in changed {
                    let msg = format!("successfully completed {s}");
                    announce(ctx, written.as_ref(), events::NORMAL, s, &msg).await;
                }
            }
            paused = true;
            let next_step = step * (steps_done as u32 + 1);
            next = Some(next_step.saturating_sub(elapsed) + Duration::from_millis(20));
        }
    }
    if paused {
        if db_conds.is("Paused") != Some(true) {
            db_conds.set(
                "Paused",
                true,
                "OpsRequestProgressing",
                "an OpsRequest is being applied",
                generation,
                now,
            );
        }
    } else {
        db_conds.remove("Paused");
    }
    Ok(next)
}

/// A JSON merge patch turning `old` into `new` (`None` when equal).
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

/// Mutable access to `path` under `root`, creating objects on the way.
fn at_mut<'a>(root: &'a mut Value, path: &[&str]) -> &'a mut Value {
    let mut cur = root;
    for p in path {
        if !cur.is_object() {
            *cur = json!({});
        }
        cur = match cur {
            Value::Object(m) => m.entry(p.to_string()).or_insert(Value::Null),
            _ => unreachable!("made an object above"),
        };
    }
    cur
}

fn set_container_resources(pt: &mut Value, container: &str, resources: &Value) {
    if !pt.is_object() {
        *pt = json!({});
    }
    let containers = at_mut(pt, &["spec", "containers"]);
    if !containers.is_array() {
        *containers = json!([]);
    }
    if let Value::Array(list) = containers {
        match list.iter_mut().find(|c| c["name"] == container) {
            Some(c) => c["resources"] = resources.clone(),
            None => list.push(json!({ "name": container, "resources": resources })),
        }
    }
}

/// Pod-template path of a VerticalScaling component, and the container in it.
fn vertical_target(meta: &EngineMeta, comp: &str) -> Option<(Vec<&'static str>, &'static str)> {
    let main = meta.container;
    Some(match (meta.engine, comp) {
        (_, "coordinator") => (vec!["podTemplate"], meta.coordinator_container?),
        ("mongodb", "standalone" | "replicaSet") => (vec!["podTemplate"], main),
        ("mongodb", "shard") => (vec!["shardTopology", "shard", "podTemplate"], main),
        ("mongodb", "configServer") => (vec!["shardTopology", "configServer", "podTemplate"], main),
        ("mongodb", "mongos") => (vec!["shardTopology", "mongos", "podTemplate"], "mongos"),
        ("mongodb", "arbiter") => (vec!["arbiter", "podTemplate"], main),
        ("mongodb", "hidden") => (vec!["hidden", "podTemplate"], main),
        ("mariadb", "maxscale") => (vec!["topology", "maxscale", "podTemplate"], "maxscale"),
        ("elasticsearch", "node") => (vec!["podTemplate"], main),
        ("elasticsearch", role) => (vec!["topology", es_role(role)?, "podTemplate"], main),
        (engine, c) if c == engine || c == meta.container => (vec!["podTemplate"], main),
        _ => return None,
    })
}

fn es_role(role: &str) -> Option<&'static str> {
    [
        "master",
        "ingest",
        "data",
        "dataContent",
        "dataHot",
        "dataWarm",
        "dataCold",
        "dataFrozen",
        "ml",
        "transform",
        "coordinating",
    ]
    .into_iter()
    .find(|r| *r == role)
}

/// Storage path of a VolumeExpansion component.
fn volume_target(meta: &EngineMeta, comp: &str) -> Option<Vec<&'static str>> {
    Some(match (meta.engine, comp) {
        ("mongodb", "standalone" | "replicaSet") => vec!["storage"],
        ("mongodb", "shard") => vec!["shardTopology", "shard", "storage"],
        ("mongodb", "configServer") => vec!["shardTopology", "configServer", "storage"],
        ("mongodb", "hidden") => vec!["hidden", "storage"],
        ("mariadb", "maxscale") => vec!["topology", "maxscale", "storage"],
        ("elasticsearch", "node") => vec!["storage"],
        ("elasticsearch", role) => vec!["topology", es_role(role)?, "storage"],
        ("postgres", "arbiter") => return None,
        (engine, c) if c == engine => vec!["storage"],
        _ => return None,
    })
}

fn apply_config_block(target: &mut Value, block: &Value) {
    if block["removeCustomConfig"] == true {
        if let Some(m) = target.as_object_mut() {
            m.remove("configuration");
        }
    }
    if let Some(secret) = block["configSecret"]["name"].as_str() {
        *at_mut(target, &["configuration", "secretName"]) = json!(secret);
    }
    if let Some(files) = block["applyConfig"].as_object() {
        let inline = at_mut(target, &["configuration", "inline"]);
        if !inline.is_object() {
            *inline = json!({});
        }
        for (k, v) in files {
            inline[k] = v.clone();
        }
    }
    if block.get("tuning").is_some_and(Value::is_object) {
        *at_mut(target, &["configuration", "tuning"]) = block["tuning"].clone();
    }
    if let Some(s) = block["secureConfigSecret"]["name"].as_str() {
        *at_mut(target, &["secureConfigSecret"]) = json!({ "name": s });
    }
}

/// The new database spec the ops-manager writes on success.
pub fn new_spec(meta: &EngineMeta, spec: &Value, op_spec: &Value) -> Value {
    let mut s = spec.clone();
    let t = op_spec["type"].as_str().unwrap_or_default();
    match t {
        "UpdateVersion" => {
            if let Some(v) = op_spec["updateVersion"]["targetVersion"].as_str() {
                s["version"] = json!(v);
            }
        }
        "HorizontalScaling" => {
            let hs = &op_spec["horizontalScaling"];
            let copy = |s: &mut Value, from: &str, to: &[&str]| {
                if let Some(v) = hs.pointer(from).filter(|v| !v.is_null()) {
                    *at_mut(s, to) = v.clone();
                }
            };
            match meta.engine {
                "mongodb" => {
                    copy(&mut s, "/replicas", &["replicas"]);
                    copy(
                        &mut s,
                        "/shard/shards",
                        &["shardTopology", "shard", "shards"],
                    );
                    copy(
                        &mut s,
                        "/shard/replicas",
                        &["shardTopology", "shard", "replicas"],
                    );
                    copy(
                        &mut s,
                        "/configServer/replicas",
                        &["shardTopology", "configServer", "replicas"],
                    );
                    copy(
                        &mut s,
                        "/mongos/replicas",
                        &["shardTopology", "mongos", "replicas"],
                    );
                    copy(&mut s, "/hidden/replicas", &["hidden", "replicas"]);
                }
                "postgres" => {
                    copy(&mut s, "/replicas", &["replicas"]);
                    copy(&mut s, "/standbyMode", &["standbyMode"]);
                    copy(&mut s, "/streamingMode", &["streamingMode"]);
                }
                "mysql" | "mariadb" => copy(&mut s, "/member", &["replicas"]),
                "redis" => {
                    if s["mode"] == "Cluster" {
                        copy(&mut s, "/shards", &["cluster", "shards"]);
                        copy(&mut s, "/replicas", &["cluster", "replicas"]);
                    } else {
                        copy(&mut s, "/replicas", &["replicas"]);
                    }
                }
                "elasticsearch" => {
                    copy(&mut s, "/node", &["replicas"]);
                    if let Some(t) = hs["topology"].as_object() {
                        for (role, n) in t {
                            if let Some(r) = es_role(role) {
                                *at_mut(&mut s, &["topology", r, "replicas"]) = n.clone();
                            }
                        }
                    }
                }
                _ => copy(&mut s, "/replicas", &["replicas"]),
            }
        }
        "VerticalScaling" => {
            if let Some(vs) = op_spec["verticalScaling"].as_object() {
                for (comp, v) in vs {
                    let Some(res) = v.get("resources").filter(|r| r.is_object()) else {
                        continue;
                    };
                    if comp == "exporter" {
                        if s.get("monitor").is_some_and(Value::is_object) {
                            *at_mut(&mut s, &["monitor", "prometheus", "exporter", "resources"]) =
                                res.clone();
                        }
                        continue;
                    }
                    if meta.engine == "postgres" && comp == "arbiter" {
                        *at_mut(&mut s, &["arbiter", "resources"]) = res.clone();
                        continue;
                    }
                    if let Some((path, container)) = vertical_target(meta, comp) {
                        set_container_resources(at_mut(&mut s, &path), container, res);
                    }
                }
            }
        }
        "VolumeExpansion" => {
            if let Some(ve) = op_spec["volumeExpansion"].as_object() {
                for (comp, size) in ve.iter().filter(|(k, _)| k.as_str() != "mode") {
                    if let Some(path) = volume_target(meta, comp) {
                        let mut p = path.clone();
                        p.extend(["resources", "requests", "storage"]);
                        *at_mut(&mut s, &p) = size.clone();
                    }
                }
            }
        }
        "Reconfigure" => {
            let c = &op_spec["configuration"];
            apply_config_block(&mut s, c);
            if meta.engine == "mongodb" {
                let comps: [(&str, &[&str]); 7] = [
                    ("standalone", &[]),
                    ("replicaSet", &[]),
                    ("shard", &["shardTopology", "shard"]),
                    ("configServer", &["shardTopology", "configServer"]),
                    ("mongos", &["shardTopology", "mongos"]),
                    ("arbiter", &["arbiter"]),
                    ("hidden", &["hidden"]),
                ];
                for (comp, path) in comps {
                    if let Some(block) = c.get(comp).filter(|b| b.is_object()) {
                        if path.is_empty() {
                            apply_config_block(&mut s, block);
                        } else {
                            apply_config_block(at_mut(&mut s, path), block);
                        }
                    }
                }
            }
        }
        "ReconfigureTLS" => {
            let tls = &op_spec["tls"];
            if tls["remove"] == true {
                if let Some(m) = s.as_object_mut() {
                    m.remove("tls");
                }
            } else if let Some(m) = tls.as_object() {
                let target = at_mut(&mut s, &["tls"]);
                if !target.is_object() {
                    *target = json!({});
                }
                for (k, v) in m
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "remove" | "rotateCertificates"))
                {
                    target[k] = v.clone();
                }
            }
        }
        "RotateAuth" => {
            if let Some(n) = op_spec["authentication"]["secretRef"]["name"].as_str() {
                *at_mut(&mut s, &["authSecret", "name"]) = json!(n);
                if s["authSecret"].get("kind").is_none() {
                    s["authSecret"]["kind"] = json!("Secret");
                }
            }
        }
        "StorageMigration" => {
            if let Some(sc) = op_spec["migration"]["storageClassName"].as_str() {
                *at_mut(&mut s, &["storage", "storageClassName"]) = json!(sc);
            }
        }
        _ => {}
    }
    s
}

async fn apply_to_database(
    ctx: &Ctx,
    db: &DynamicObject,
    op: &DynamicObject,
    ns: &str,
    name: &str,
) -> Result<(), OperatorError> {
    let spec = &db.data["spec"];
    let op_spec = &op.data["spec"];
    let t = op_spec["type"].as_str().unwrap_or_default();
    let updated = new_spec(ctx.meta, spec, op_spec);
    if let Some(diff) = merge_diff(spec, &updated) {
        let dbs: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ctx.db_ar);
        ch::merge_patch(&dbs, name, json!({ "spec": diff })).await?;
    }
    let pods = ch::api(&ctx.client, ns, &ch::pods_ar());
    match t {
        "Restart" | "Reconfigure" | "ReconfigureTLS" | "RotateAuth" => {
            // rolling restart: the database reconcile recreates the pods
            for p in ch::list_owned(&pods, ctx.meta, name).await? {
                if let Some(n) = &p.metadata.name {
                    ch::delete_ignore(&pods, n).await?;
                }
            }
        }
        _ => {}
    }
    if t == "RotateAuth"
        && op_spec["authentication"]["secretRef"]["name"]
            .as_str()
            .is_none()
        && spec["disableAuth"] != true
    {
        // generate a new password in the current secret
        use base64::Engine as _;
        let secret = spec["authSecret"]["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| names::auth_secret_name(name));
        let secrets = ch::api(&ctx.client, ns, &ch::secrets_ar());
        let pw = base64::engine::general_purpose::STANDARD.encode(ch::random_password());
        let patch = json!({
            "metadata": { "annotations": { names::ANNOTATION_AUTH_ACTIVE_FROM: now_str(Utc::now()) } },
            "data": { "password": pw },
        });
        ch::merge_patch(&secrets, &secret, patch).await?;
    }
    if t == "RotateAuth" {
        let dbs: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ctx.db_ar);
        ch::patch_status(
            &dbs,
            name,
            json!({ "authSecret": { "lastUpdateTimestamp": now_str(Utc::now()) } }),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_diff_emits_changes_and_removals() {
        let a = json!({ "a": 1, "b": { "c": 2, "d": 3 }, "e": [1] });
        let b = json!({ "a": 1, "b": { "c": 5 }, "e": [1, 2], "f": true });
        assert_eq!(
            merge_diff(&a, &b),
            Some(json!({ "b": { "c": 5, "d": null }, "e": [1, 2], "f": true }))
        );
        assert_eq!(merge_diff(&a, &a), None);
    }

    #[test]
    fn ops_results_land_in_the_spec() {
        let spec = json!({ "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0" }, "storage": { "resources": { "requests": { "storage": "10Gi" } } } });
        let s = new_spec(
            &names::MONGODB,
            &spec,
            &json!({ "type": "HorizontalScaling", "horizontalScaling": { "replicas": 5 } }),
        );
        assert_eq!(s["replicas"], 5);
        let s = new_spec(
            &names::MONGODB,
            &spec,
            &json!({ "type": "UpdateVersion", "updateVersion": { "targetVersion": "9.0.0" } }),
        );
        assert_eq!(s["version"], "9.0.0");
        let s = new_spec(
            &names::MONGODB,
            &spec,
            &json!({ "type": "VolumeExpansion", "volumeExpansion": { "mode": "Online", "replicaSet": "20Gi" } }),
        );
        assert_eq!(s["storage"]["resources"]["requests"]["storage"], "20Gi");
        let res = json!({ "requests": { "cpu": "1", "memory": "2Gi" } });
        let s = new_spec(
            &names::MONGODB,
            &spec,
            &json!({ "type": "VerticalScaling", "verticalScaling": { "replicaSet": { "resources": res } } }),
        );
        assert_eq!(
            s["podTemplate"]["spec"]["containers"][0],
            json!({ "name": "mongodb", "resources": res })
        );
        let s = new_spec(
            &names::REDIS,
            &json!({ "mode": "Cluster", "cluster": { "shards": 3, "replicas": 2 } }),
            &json!({ "type": "HorizontalScaling", "horizontalScaling": { "shards": 4 } }),
        );
        assert_eq!(s["cluster"]["shards"], 4);
        let s = new_spec(
            &names::ELASTICSEARCH,
            &json!({ "topology": { "data": { "replicas": 3 } } }),
            &json!({ "type": "HorizontalScaling", "horizontalScaling": { "topology": { "data": 5 } } }),
        );
        assert_eq!(s["topology"]["data"]["replicas"], 5);
        let s = new_spec(
            &names::MYSQL,
            &json!({ "replicas": 3 }),
            &json!({ "type": "HorizontalScaling", "horizontalScaling": { "member": 5 } }),
        );
        assert_eq!(s["replicas"], 5);
        let s = new_spec(
            &names::POSTGRES,
            &json!({ "version": "17.9" }),
            &json!({ "type": "Reconfigure", "configuration": { "applyConfig": { "user.conf": "x=1" } } }),
        );
        assert_eq!(s["configuration"]["inline"]["user.conf"], "x=1");
        let s = new_spec(
            &names::POSTGRES,
            &s,
            &json!({ "type": "Reconfigure", "configuration": { "removeCustomConfig": true } }),
        );
        assert!(s.get("configuration").is_none());
        let s = new_spec(
            &names::POSTGRES,
            &json!({}),
            &json!({ "type": "RotateAuth", "authentication": { "secretRef": { "name": "new" } } }),
        );
        assert_eq!(s["authSecret"], json!({ "name": "new", "kind": "Secret" }));
    }
}
