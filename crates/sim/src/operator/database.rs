//! Reconcile of one database object: finalizer, auth secret, PVCs, pods, services, AppBinding,
//! halt/resume, deletion per `deletionPolicy`, conditions/phase, then its OpsRequests.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::Action;
use provider::kubedb::names;
use serde_json::{json, Value};

use super::children::{self as ch, PodSpecInput};
use super::conditions::{derive_phase, now_str, Conditions};
use super::{events, ops, Ctx, OperatorError};

fn name_of(obj: &DynamicObject) -> Result<(String, String), OperatorError> {
    let name = obj
        .metadata
        .name
        .clone()
        .ok_or_else(|| OperatorError::Unnamed(format!("{:?}", obj.types)))?;
    Ok((obj.metadata.namespace.clone().unwrap_or_default(), name))
}

pub async fn reconcile(db: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, OperatorError> {
    let (ns, name) = name_of(&db)?;
    let dbs: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &ctx.db_ar);
    let finalizers = db.metadata.finalizers.clone().unwrap_or_default();
    let has_finalizer = finalizers.iter().any(|f| f == names::FINALIZER);
    if db.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            cleanup(&ctx, &db, &ns, &name).await?;
            let rest: Vec<&String> = finalizers
                .iter()
                .filter(|f| *f != names::FINALIZER)
                .collect();
            let patch = json!({ "metadata": { "finalizers": rest, "resourceVersion": db.metadata.resource_version } });
            ch::merge_patch(&dbs, &name, patch).await?;
            ctx.events.forget(&db);
        }
        return Ok(Action::await_change());
    }
    if !has_finalizer {
        let mut all = finalizers.clone();
        all.push(names::FINALIZER.to_string());
        ch::merge_patch(&dbs, &name, json!({ "metadata": { "finalizers": all } })).await?;
        // the watch delivers the updated object
        return Ok(Action::await_change());
    }
    apply(&ctx, &db, &ns, &name).await
}

/// Deletion per deletionPolicy (kubedb-api §2.5).
async fn cleanup(ctx: &Ctx, db: &DynamicObject, ns: &str, name: &str) -> Result<(), OperatorError> {
    let meta = ctx.meta;
    let policy = db.data["spec"]["deletionPolicy"]
        .as_str()
        .unwrap_or("Delete");
    let client = &ctx.client;
    for ar in [ch::pods_ar(), ch::services_ar(), ch::appbindings_ar()] {
        let api = ch::api(client, ns, &ar);
        for o in ch::list_owned(&api, meta, name).await.unwrap_or_default() {
            if let Some(n) = &o.metadata.name {
                ch::delete_ignore(&api, n).await?;
            }
        }
    }
    let pvcs = ch::api(client, ns, &ch::pvcs_ar());
    for pvc in ch::list_owned(&pvcs, meta, name).await? {
        let Some(n) = pvc.metadata.name.clone() else {
            continue;
        };
        match policy {
            "Delete" | "WipeOut" => ch::delete_ignore(&pvcs, &n).await?,
            // Halt / DoNotTerminate: keep the data, drop the owner so GC leaves it alone
            _ => {
                ch::merge_patch(
                    &pvcs,
                    &n,
                    json!({ "metadata": { "ownerReferences": null } }),
                )
                .await?
            }
        }
    }
    if policy == "WipeOut" {
        let secrets = ch::api(client, ns, &ch::secrets_ar());
        let auth = auth_secret_name(&db.data["spec"], name);
        let referenced = secret_referenced_elsewhere(ctx, ns, name, &auth).await?;
        if let Some(sec) = ch::get_opt(&secrets, &auth).await? {
            let ours = sec
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(names::LABEL_MANAGED_BY))
                .map(String::as_str)
                == Some(names::MANAGED_BY);
            if ours && !referenced {
                ch::delete_ignore(&secrets, &auth).await?;
            }
        }
        for s in ch::list_owned(&secrets, meta, name).await? {
            if let Some(n) = s.metadata.name.as_deref().filter(|n| *n != auth) {
                ch::delete_ignore(&secrets, n).await?;
            }
        }
    }
    Ok(())
}

async fn secret_referenced_elsewhere(
    ctx: &Ctx,
    ns: &str,
    db_name: &str,
    secret: &str,
) -> Result<bool, OperatorError> {
    for meta in names::ALL_DB_KINDS.iter() {
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), ns, &super::db_resource(meta));
        let Ok(list) = api.list(&Default::default()).await else {
            continue;
        };
        for other in list.items {
            let same =
                meta.kind == ctx.meta.kind && other.metadata.name.as_deref() == Some(db_name);
            if !same && other.data["spec"]["authSecret"]["name"] == secret {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn auth_secret_name(spec: &Value, db: &str) -> String {
    spec["authSecret"]["name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| names::auth_secret_name(db))
}

fn default_user(ctx: &Ctx, spec: &Value) -> &'static str {
    if ctx.meta.engine == "elasticsearch" {
        names::elasticsearch_user(spec["version"].as_str().unwrap_or_default())
    } else {
        ctx.meta.default_user
    }
}

/// Ensures the auth secret; returns its name (None when auth is disabled or the referenced
/// external secret does not exist yet).
async fn ensure_auth(
    ctx: &Ctx,
    db: &DynamicObject,
    ns: &str,
    name: &str,
) -> Result<AuthOutcome, OperatorError> {
    let spec = &db.data["spec"];
    if spec["disableAuth"] == true {
        return Ok(AuthOutcome::Secret(None));
    }
    let secret = auth_secret_name(spec, name);
    let secrets = ch::api(&ctx.client, ns, &ch::secrets_ar());
    if ch::get_opt(&secrets, &secret).await?.is_none() {
        if spec["authSecret"]["externallyManaged"] == true {
            return Ok(AuthOutcome::Secret(None));
        }
        ch::create_if_absent(
            &secrets,
            ch::auth_secret_object(ctx.meta, db, &secret, default_user(ctx, spec)),
        )
        .await?;
    }
    if spec["authSecret"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        let dbs: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ctx.db_ar);
        let mut auth = spec
            .get("authSecret")
            .filter(|a| a.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}));
        auth["name"] = json!(secret);
        if auth.get("kind").is_none() {
            auth["kind"] = json!("Secret");
        }
        ch::merge_patch(&dbs, name, json!({ "spec": { "authSecret": auth } })).await?;
        return Ok(AuthOutcome::SpecPatched);
    }
    Ok(AuthOutcome::Secret(Some(secret)))
}

enum AuthOutcome {
    Secret(Option<String>),
    /// `spec.authSecret.name` was just written; the next reconcile sees the new generation.
    SpecPatched,
}

async fn apply(
    ctx: &Ctx,
    db: &DynamicObject,
    ns: &str,
    name: &str,
) -> Result<Action, OperatorError> {
    let meta = ctx.meta;
    let now = Utc::now();
    let spec = &db.data["spec"];
    let status = db.data.get("status").cloned().unwrap_or_else(|| json!({}));
    let generation = db.metadata.generation.unwrap_or(1);
    let mut conds = Conditions::from_status(&status);
    let client = &ctx.client;
    let pods = ch::api(client, ns, &ch::pods_ar());
    let services = ch::api(client, ns, &ch::services_ar());
    let pvcs = ch::api(client, ns, &ch::pvcs_ar());
    let mut next: Option<Duration> = None;
    let mut soon = |d: Duration| next = Some(next.map_or(d, |n: Duration| n.min(d)));

    let secret = match ensure_auth(ctx, db, ns, name).await? {
        AuthOutcome::Secret(s) => s,
        // the watch delivers the updated object (working on from the cached one would write
        // the same spec again until the cache caught up)
        AuthOutcome::SpecPatched => return Ok(Action::await_change()),
    };
    let halted = spec["halted"] == true;
    let policy = spec["deletionPolicy"].as_str().unwrap_or("Delete");
    let own_pvcs = matches!(policy, "Delete" | "WipeOut");
    let groups = ch::pod_groups(meta, name, spec);

    // PVCs survive halts; owner references follow the deletion policy.
    let existing_pvcs = ch::list_owned(&pvcs, meta, name).await?;
    for g in &groups {
        let Some(storage) = &g.storage else { continue };
        for i in 0..g.replicas {
            let pod = format!("{}-{i}", g.petset);
            let want = ch::pvc_object(meta, db, &pod, storage, own_pvcs);
            let pvc_name = want["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match existing_pvcs
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(pvc_name.as_str()))
            {
                None => {
                    if ch::create_if_absent(&pvcs, want.clone()).await? {
                        ch::patch_status(&pvcs, &pvc_name, want["status"].clone()).await?;
                    }
                }
                Some(have) => {
                    let owned = have
                        .metadata
                        .owner_references
                        .as_ref()
                        .is_some_and(|o| !o.is_empty());
                    let want_size = &want["spec"]["resources"]["requests"]["storage"];
                    let have_size = &have.data["spec"]["resources"]["requests"]["storage"];
                    if owned != own_pvcs {
                        let refs = if own_pvcs {
                            want["metadata"]["ownerReferences"].clone()
                        } else {
                            Value::Null
                        };
                        ch::merge_patch(
                            &pvcs,
                            &pvc_name,
                            json!({ "metadata": { "ownerReferences": refs } }),
                        )
                        .await?;
                    }
                    if want_size != have_size && !want_size.is_null() {
                        ch::merge_patch(&pvcs, &pvc_name, json!({ "spec": { "resources": { "requests": { "storage": want_size } } } }))
                            .await?;
                        ch::patch_status(
                            &pvcs,
                            &pvc_name,
                            json!({ "capacity": { "storage": want_size } }),
                        )
                        .await?;
                    }
                }
            }
        }
    }

    let existing_pods = ch::list_owned(&pods, meta, name).await?;
    let existing_svcs = ch::list_owned(&services, meta, name).await?;
    if halted {
        // Halt: pods and services go, PVCs and secrets stay.
        for p in existing_pods.iter().chain(existing_svcs.iter()) {
            let api = if p.types.as_ref().is_some_and(|t| t.kind == "Service") {
                &services
            } else {
                &pods
            };
            if let Some(n) = &p.metadata.name {
                ch::delete_ignore(api, n).await?;
            }
        }
        if conds.is("Halted") != Some(true) {
            conds.set(
                "Halted",
                true,
                "DatabaseHalted",
                "the database is halted; pods and services are removed",
                generation,
                now,
            );
        }
    } else {
        if conds.is("Halted") == Some(true) {
            // Resume: restart provisioning on the kept PVCs.
            conds.set(
                "Halted",
                false,
                "DatabaseResumed",
                "the database is resumed",
                generation,
                now,
            );
            for t in ["ReplicaReady", "AcceptingConnection", "Ready"] {
                conds.set(
                    t,
                    false,
                    "DatabaseResuming",
                    "pods are being recreated",
                    generation,
                    now,
                );
            }
        }
        let version = spec["version"].as_str().unwrap_or_default();
        let monitored = spec.get("monitor").is_some_and(Value::is_object);
        let mut wanted = BTreeSet::new();
        for g in &groups {
            let revision =
                ch::pod_revision(version, g.pod_template.as_ref(), &spec["configuration"]);
            for i in 0..g.replicas {
                let pod_name = format!("{}-{i}", g.petset);
                wanted.insert(pod_name.clone());
                let have = existing_pods
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(pod_name.as_str()));
                let want = ch::pod_object(PodSpecInput {
                    meta,
                    db,
                    group: g,
                    index: i,
                    version,
                    revision: &revision,
                    auth_secret: secret.as_deref(),
                    monitored,
                });
                if let Some(have) = have {
                    let have_rev = have
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(ch::REVISION_ANNOTATION));
                    let terminating = have.metadata.deletion_timestamp.is_some();
                    if have_rev.map(String::as_str) == Some(revision.as_str()) && !terminating {
                        // role labels follow failovers/scaling
                        let want_labels = &want["metadata"]["labels"];
                        let have_labels = serde_json::to_value(&have.metadata.labels)?;
                        if &have_labels != want_labels {
                            ch::merge_patch(
                                &pods,
                                &pod_name,
                                json!({ "metadata": { "labels": want_labels } }),
                            )
                            .await?;
                        }
                        continue;
                    }
                    // rolling update: replace the pod
                    ch::delete_ignore(&pods, &pod_name).await?;
                    soon(Duration::from_millis(100));
                    continue;
                }
                if ch::create_if_absent(&pods, want).await? {
                    ch::patch_status(
                        &pods,
                        &pod_name,
                        ch::pod_running_status(&pod_name, &now_str(now)),
                    )
                    .await?;
                }
            }
        }
        for p in &existing_pods {
            if let Some(n) = p.metadata.name.as_deref().filter(|n| !wanted.contains(*n)) {
                ch::delete_ignore(&pods, n).await?;
            }
        }
        let want_svcs = ch::services(meta, db, spec);
        let want_names: BTreeSet<String> = want_svcs
            .iter()
            .filter_map(|(_, s)| s["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        for (_, svc) in want_svcs {
            let sname = svc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match existing_svcs
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(sname.as_str()))
            {
                None => {
                    ch::create_if_absent(&services, svc).await?;
                }
                Some(have) => {
                    let differs = have.data["spec"]["type"] != svc["spec"]["type"]
                        || have.data["spec"]["ports"] != svc["spec"]["ports"]
                        || have.data["spec"]["selector"] != svc["spec"]["selector"]
                        || svc["metadata"].get("annotations").is_some_and(|a| {
                            serde_json::to_value(&have.metadata.annotations)
                                .ok()
                                .as_ref()
                                != Some(a)
                        });
                    if differs {
                        let patch = json!({
                            "metadata": { "annotations": svc["metadata"]["annotations"], "labels": svc["metadata"]["labels"] },
                            "spec": { "type": svc["spec"]["type"], "ports": svc["spec"]["ports"], "selector": svc["spec"]["selector"] },
                        });
                        ch::merge_patch(&services, &sname, patch).await?;
                    }
                }
            }
        }
        for s in &existing_svcs {
            if let Some(n) = s
                .metadata
                .name
                .as_deref()
                .filter(|n| !want_names.contains(*n))
            {
                ch::delete_ignore(&services, n).await?;
            }
        }
    }
    let appbindings = ch::api(client, ns, &ch::appbindings_ar());
    let ab = ch::appbinding_object(meta, db, spec, secret.as_deref());
    match ch::get_opt(&appbindings, name).await {
        Ok(None) => {
            ch::create_if_absent(&appbindings, ab).await?;
        }
        Ok(Some(have)) => {
            if have.data["spec"] != ab["spec"] {
                ch::merge_patch(&appbindings, name, json!({ "spec": ab["spec"] })).await?;
            }
        }
        // AppBindings may not be served by a bare cluster; that is not fatal
        Err(e) => tracing::debug!(error = %e, "appbinding unavailable"),
    }

    // Conditions and phase.
    if conds.is("ProvisioningStarted") != Some(true) {
        conds.set(
            "ProvisioningStarted",
            true,
            "DatabaseProvisioningStartedSuccessfully",
            "provisioning started",
            generation,
            now,
        );
    }
    let restoring =
        spec["init"]["waitForInitialRestore"] == true && spec["init"]["initialized"] != true;
    if !halted {
        // waitForInitialRestore: provisioned first, then DataRestoring until KubeStash sets
        // DataRestored (True → Ready, False → NotReady)
        let waiting_restore = restoring && conds.is("DataRestored").is_none();
        {
            let started = [
                conds.since("ProvisioningStarted"),
                conds
                    .since("Halted")
                    .filter(|_| conds.is("Halted") == Some(false)),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
            let ready_at = started
                + chrono::Duration::from_std(ctx.config.provisioning_delay).unwrap_or_default();
            if now < ready_at
                && (conds.is("Provisioned") != Some(true) || conds.is("Ready") == Some(false))
            {
                soon((ready_at - now).to_std().unwrap_or_default() + Duration::from_millis(20));
            } else {
                let forced = ctx.faults.forced_phase(ns, name);
                let (replica_ready, accepting) = match forced.as_deref() {
                    Some("Critical") => (false, true),
                    Some("NotReady") => (false, false),
                    _ => (true, true),
                };
                conds.set(
                    "ReplicaReady",
                    replica_ready,
                    if replica_ready {
                        "AllReplicasReady"
                    } else {
                        "SomeReplicasNotReady"
                    },
                    if replica_ready {
                        "all desired replicas are ready"
                    } else {
                        "some replicas are not ready"
                    },
                    generation,
                    now,
                );
                conds.set(
                    "AcceptingConnection",
                    accepting,
                    if accepting {
                        "DatabaseAcceptingConnectionRequest"
                    } else {
                        "DatabaseNotAcceptingConnectionRequest"
                    },
                    if accepting {
                        "the database is accepting connection requests"
                    } else {
                        "the database is not accepting connections"
                    },
                    generation,
                    now,
                );
                let ready = replica_ready && accepting;
                conds.set(
                    "Ready",
                    ready,
                    if ready {
                        "ReadinessCheckSucceeded"
                    } else {
                        "ReadinessCheckFailed"
                    },
                    if ready {
                        "the database is ready"
                    } else {
                        "readiness check failed"
                    },
                    generation,
                    now,
                );
                if conds.is("Provisioned") != Some(true) {
                    conds.set(
                        "Provisioned",
                        true,
                        "DatabaseSuccessfullyProvisioned",
                        "the database is provisioned",
                        generation,
                        now,
                    );
                }
                if waiting_restore && conds.is("DataRestoreStarted") != Some(true) {
                    conds.set(
                        "DataRestoreStarted",
                        true,
                        "DataRestoreStarted",
                        "waiting for the initial restore",
                        generation,
                        now,
                    );
                }
            }
        }
    }

    let phase_now = derive_phase(&conds).unwrap_or("Provisioning");
    // OpsRequests for this database (may patch the database spec and set Paused).
    let ops_outcome = ops::process(ctx, db, ns, name, phase_now, &mut conds, now).await?;
    if let Some(d) = ops_outcome {
        soon(d);
    }

    let mut new_status = status.clone();
    if !new_status.is_object() {
        new_status = json!({});
    }
    let old_phase = status["phase"].as_str().unwrap_or_default().to_string();
    let new_phase = derive_phase(&conds).unwrap_or("Provisioning");
    new_status["conditions"] = Value::Array(conds.0.clone());
    new_status["phase"] = json!(new_phase);
    new_status["observedGeneration"] = json!(generation);
    let mut written = None;
    if new_status != status {
        let dbs: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ctx.db_ar);
        written = ch::patch_status(&dbs, name, new_status).await?;
    }
    if old_phase == new_phase {
        ctx.events.phase_seen(db, new_phase);
    } else if let Some(written) = written {
        announce_phase(ctx, &written, &old_phase, new_phase).await;
    }
    Ok(Action::requeue(next.unwrap_or(super::RESYNC)))
}

/// One Event per phase change of the database (the reconcile may run from a cached object that
/// does not show the last status write yet, so the recorder remembers what was announced).
async fn announce_phase(ctx: &Ctx, db: &DynamicObject, old: &str, new: &str) {
    // a first status write may already say Ready (no provisioning delay); provisioning started
    // all the same, and is told first
    let old = if old.is_empty() && new != "Provisioning" {
        announce_one(ctx, db, "", "Provisioning").await;
        "Provisioning"
    } else {
        old
    };
    announce_one(ctx, db, old, new).await;
}

async fn announce_one(ctx: &Ctx, db: &DynamicObject, old: &str, new: &str) {
    if !ctx.events.phase_changed(db, new) {
        return;
    }
    let what = match new {
        "Provisioning" => "provisioning started",
        "Ready" => "the database is ready",
        "NotReady" => "the database is not accepting connections",
        "Critical" => "some replicas are not ready",
        "Halted" => "the database is halted",
        "DataRestoring" => "waiting for the initial restore",
        "Unknown" => "health checks are paused",
        _ => "",
    };
    let change = if old.is_empty() {
        format!("phase set to {new}")
    } else {
        format!("phase changed from {old} to {new}")
    };
    let message = if what.is_empty() {
        change
    } else {
        format!("{change}: {what}")
    };
    let type_ = if matches!(new, "NotReady" | "Critical") {
        events::WARNING
    } else {
        events::NORMAL
    };
    let note = events::Note {
        component: events::PROVISIONER,
        type_,
        reason: new,
        message: &message,
    };
    events::record(&ctx.client, &ctx.db_ar, db, note).await;
}
