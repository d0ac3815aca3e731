//! Day-2 operations: every OpsRequest the platform makes validates against the upstream CRD
//! schema, and against the simulated cluster each kind is admitted, runs to `Successful` and lands
//! in the database spec; retries, foreign objects, failures, pause/resume and the watch events.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use domain::engine::{Engine, Size};
use domain::ids::{new_id, IdKind};
use domain::model::Database;
use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject, PostParams};
use provider::cluster::{database_resource, ops_request_resource};
use provider::day2::{self, OpsChange};
use provider::translate::{self, CreatePlan, Owner};
use provider::ObservedEvent;
use provider::{watch_cluster, Cluster, ClusterEvent, ObservedDatabase, ObservedOpsRequest};
use provider::{ProbeReport, ProviderError};
use serde_json::{json, Value};

/// Generous: the machine running the tests may be loaded.
const DEADLINE: u64 = 90;

fn database(engine: Engine, name: &str, ha: bool) -> Database {
    let mut db = common::database(engine, name);
    db.high_availability = ha;
    db.replicas = if ha { 3 } else { 1 };
    db
}

fn changes<'a>(ha: bool, version: &'a str, config: &'a str, auth: &'a str) -> Vec<OpsChange<'a>> {
    let mut v = vec![
        OpsChange::VerticalScaling { size: Size::Small },
        OpsChange::VolumeExpansion { storage_gb: 30 },
        OpsChange::UpdateVersion {
            version_name: version,
        },
        OpsChange::Restart,
        OpsChange::Reconfigure {
            config_secret: config,
        },
        OpsChange::RotateAuth { secret_name: auth },
    ];
    if ha {
        v.insert(0, OpsChange::HorizontalScaling { replicas: 4 });
    }
    v
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn every_ops_request_validates_against_the_upstream_schema() {
    let Some(dir) = common::schema::crd_dir() else {
        return;
    };
    let schemas = common::schema::Schemas::load(&dir);
    let mut checked = 0;
    for engine in Engine::ALL {
        for ha in [false, true] {
            let db = database(engine, "orders", ha);
            let m = translate::meta(engine);
            let comp = day2::component_key(&db);
            let op = new_id(IdKind::Operation);
            let cfg = day2::config_secret_name(&op);
            let auth = day2::rotated_auth_secret_name(&op);
            for change in changes(ha, "9.9.9", &cfg, &auth) {
                let obj = day2::ops_request(&db, "ns-1", &op, &change);
                let errors = schemas.errors(&obj);
                assert!(
                    errors.is_empty(),
                    "{engine} ha={ha} {}: {errors:#?}\n{obj:#}",
                    change.ops_type()
                );
                checked += 1;

                let what = format!("{engine} ha={ha} {change:?}: {obj:#}");
                assert_eq!(obj["apiVersion"], "ops.kubedb.com/v1alpha1", "{what}");
                assert_eq!(obj["kind"], m.ops_kind, "{what}");
                assert_eq!(obj["metadata"]["name"], day2::ops_request_name(&op));
                assert_eq!(obj["metadata"]["namespace"], "ns-1");
                let labels = &obj["metadata"]["labels"];
                assert_eq!(labels["app.kubernetes.io/managed-by"], "kubedb-dbaas");
                assert_eq!(labels["dbaas.io/domain"], "acme");
                assert_eq!(labels["dbaas.io/project"], "web");
                assert_eq!(labels["dbaas.io/database-id"], db.id.as_str());
                assert_eq!(labels["dbaas.io/operation-id"], op.as_str());
                let spec = &obj["spec"];
                assert_eq!(spec["type"], change.ops_type(), "{what}");
                assert_eq!(spec["databaseRef"], json!({ "name": "orders" }));
                assert!(spec["timeout"].as_str().is_some_and(|t| t.ends_with('m')));
                let apply = if change == OpsChange::Restart {
                    "Always"
                } else {
                    "IfReady"
                };
                assert_eq!(spec["apply"], apply, "{what}");
                match change {
                    OpsChange::HorizontalScaling { replicas } => {
                        let want = match engine {
                            Engine::Mongodb | Engine::Postgres => json!({ "replicas": replicas }),
                            Engine::Mysql | Engine::Mariadb => json!({ "member": replicas }),
                            Engine::Redis => json!({ "shards": 3, "replicas": replicas }),
                            Engine::Elasticsearch => json!({ "node": replicas }),
                        };
                        assert_eq!(spec["horizontalScaling"], want, "{what}");
                    }
                    OpsChange::VerticalScaling { size } => {
                        let want_comp = match engine {
                            Engine::Mongodb if ha => "replicaSet",
                            Engine::Mongodb => "standalone",
                            Engine::Elasticsearch => "node",
                            other => other.as_str(),
                        };
                        assert_eq!(comp, want_comp);
                        let mut want = serde_json::Map::new();
                        want.insert(
                            comp.into(),
                            json!({ "resources": translate::size_resources(size) }),
                        );
                        assert_eq!(spec["verticalScaling"], Value::Object(want), "{what}");
                    }
                    OpsChange::VolumeExpansion { .. } => {
                        let mut want = serde_json::Map::new();
                        want.insert("mode".into(), json!("Online"));
                        want.insert(comp.into(), json!("30Gi"));
                        assert_eq!(spec["volumeExpansion"], Value::Object(want), "{what}");
                    }
                    OpsChange::UpdateVersion { .. } => {
                        assert_eq!(spec["updateVersion"], json!({ "targetVersion": "9.9.9" }));
                    }
                    OpsChange::Restart => assert_eq!(spec["restart"], json!({})),
                    OpsChange::Reconfigure { .. } => {
                        let block = json!({ "configSecret": { "name": cfg } });
                        let want = if engine == Engine::Mongodb {
                            let mut m = serde_json::Map::new();
                            m.insert(comp.into(), block);
                            Value::Object(m)
                        } else {
                            block
                        };
                        assert_eq!(spec["configuration"], want, "{what}");
                    }
                    OpsChange::RotateAuth { .. } => {
                        assert_eq!(
                            spec["authentication"],
                            json!({ "secretRef": { "kind": "Secret", "name": auth } })
                        );
                    }
                }
            }

            // the Secrets the operation hands over
            let config = BTreeMap::from([("max_connections".to_string(), "300".to_string())]);
            let s = day2::config_secret(&db, "ns-1", &op, &config);
            assert_eq!(s["metadata"]["name"], cfg.as_str());
            assert_eq!(
                s["metadata"]["labels"]["dbaas.io/operation-id"],
                op.as_str()
            );
            assert_eq!(
                s["metadata"]["labels"]["dbaas.io/database-id"],
                db.id.as_str()
            );
            let file = day2::config_file_name(engine);
            assert_eq!(
                s["data"][file],
                b64(&day2::render_config(engine, &config)),
                "{engine}"
            );
            assert_eq!(s["data"].as_object().map(|d| d.len()), Some(1));
            let a = day2::rotated_auth_secret(&db, "ns-1", &op, "root", "n3w:p@ss");
            assert_eq!(a["type"], "kubernetes.io/basic-auth");
            assert_eq!(a["metadata"]["name"], auth.as_str());
            assert_eq!(
                a["metadata"]["labels"]["dbaas.io/operation-id"],
                op.as_str()
            );
            assert_eq!(a["data"]["username"], b64("root"));
            assert_eq!(a["data"]["password"], b64("n3w:p@ss"));
        }
    }
    assert_eq!(checked, 6 * 6 + 6 * 7);
}

struct Ctx {
    sim: sim::SimHandle,
    cluster: Cluster,
    ns: String,
    report: ProbeReport,
}

async fn setup(project: &str) -> Ctx {
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = translate::namespace_name("acme", project);
    cluster
        .ensure_namespace(&translate::namespace_object(&ns, "acme", project))
        .await
        .expect("namespace");
    Ctx {
        sim,
        cluster,
        ns,
        report,
    }
}

async fn create(ctx: &Ctx, db: &Database, version: &str) {
    let obj = translate::database_object(&CreatePlan {
        db,
        namespace: &ctx.ns,
        version_name: version,
        auth_secret: None,
        storage_class: None,
        service_type: "ClusterIP",
        monitor: &translate::MonitorAgent::Builtin,
    });
    ctx.cluster
        .create_database(db.engine, &obj)
        .await
        .expect("create");
}

async fn wait_phase(ctx: &Ctx, db: &Database, phase: &str) -> ObservedDatabase {
    common::wait_for(DEADLINE, &format!("{} {phase}", db.name), || async {
        let o = ctx
            .cluster
            .get_owned_database(db.engine, &ctx.ns, &db.name, &Owner::of(db))
            .await
            .expect("read")?;
        (o.phase.as_deref() == Some(phase)).then_some(o)
    })
    .await
}

/// The database object as stored.
async fn raw_database(ctx: &Ctx, db: &Database) -> DynamicObject {
    Api::<DynamicObject>::namespaced_with(ctx.sim.client(), &ctx.ns, &database_resource(db.engine))
        .get(&db.name)
        .await
        .expect("database object")
}

/// Follows the OpsRequest until a terminal phase.
async fn wait_terminal(ctx: &Ctx, db: &Database, name: &str) -> ObservedOpsRequest {
    common::wait_for(DEADLINE, &format!("{name} to finish"), || async {
        let o = ctx
            .cluster
            .get_ops_request(db.engine, &ctx.ns, name, &Owner::of(db))
            .await
            .expect("read")
            .expect("the request exists");
        matches!(
            o.phase.as_deref(),
            Some("Successful" | "Failed" | "Skipped" | "Denied")
        )
        .then_some(o)
    })
    .await
}

/// Submits one operation (twice, as a retried step would), follows it to `Successful` and returns
/// the database once it is Ready again.
/// Submits a VolumeExpansion the simulated operator is told to fail ("volume quota exceeded");
/// its operation id and name, and what the cluster reports once it ended.
async fn failing_expansion(ctx: &Ctx, db: &Database) -> (String, String, ObservedOpsRequest) {
    let op = new_id(IdKind::Operation);
    let name = day2::ops_request_name(&op);
    let key = format!("{}/{name}", ctx.ns);
    ctx.sim.faults.update(|f| {
        f.fail_ops_requests
            .insert(key, "volume quota exceeded".into());
    });
    let request = day2::ops_request(
        db,
        &ctx.ns,
        &op,
        &OpsChange::VolumeExpansion { storage_gb: 40 },
    );
    ctx.cluster
        .submit_ops_request(db.engine, &request, &Owner::of(db))
        .await
        .expect("submitted");
    let failed = wait_terminal(ctx, db, &name).await;
    (op, name, failed)
}

async fn run(ctx: &Ctx, db: &Database, change: OpsChange<'_>, op: &str) -> ObservedDatabase {
    let obj = day2::ops_request(db, &ctx.ns, op, &change);
    let owner = Owner::of(db);
    ctx.cluster
        .submit_ops_request(db.engine, &obj, &owner)
        .await
        .unwrap_or_else(|e| panic!("{} {change:?}: {e}", db.name));
    ctx.cluster
        .submit_ops_request(db.engine, &obj, &owner)
        .await
        .expect("submitting again is fine");
    let name = day2::ops_request_name(op);
    let done = wait_terminal(ctx, db, &name).await;
    assert_eq!(
        done.phase.as_deref(),
        Some("Successful"),
        "{} {change:?}: {done:?}",
        db.name
    );
    assert_eq!(done.operation_id.as_deref(), Some(op));
    assert_eq!(done.reason, None);
    assert_eq!(done.name, name);
    // a retry after the end finds its own request and changes nothing
    ctx.cluster
        .submit_ops_request(db.engine, &obj, &owner)
        .await
        .expect("a late retry is fine");
    wait_phase(ctx, db, "Ready").await
}

/// A (current, target) pair of catalog names the simulated admission lets the engine update
/// between: same distribution (and base OS / auth plugin), neither deprecated, target newer.
fn upgrade_pair(engine: Engine) -> (String, String) {
    let m = translate::meta(engine);
    let all: Vec<Value> = sim::catalog::catalog_objects()
        .into_iter()
        .filter(|o| o["kind"] == m.version_kind)
        .collect();
    let same_line = |a: &Value, b: &Value| {
        ["/spec/distribution", "/spec/db/baseOS", "/spec/authPlugin"]
            .iter()
            .all(|p| a.pointer(p) == b.pointer(p))
    };
    let key = (engine == Engine::Mysql).then_some("groupReplication");
    for from in all.iter().filter(|o| o["spec"]["deprecated"] != true) {
        let allowed = sim::catalog::upgradable_names(from, &all, key);
        let from_name = from["metadata"]["name"].as_str().unwrap_or_default();
        let from_ver = sim::catalog::SemVer::parse(from["spec"]["version"].as_str().unwrap_or(""));
        for to in &all {
            let to_name = to["metadata"]["name"].as_str().unwrap_or_default();
            let to_ver = sim::catalog::SemVer::parse(to["spec"]["version"].as_str().unwrap_or(""));
            if to["spec"]["deprecated"] != true
                && same_line(from, to)
                && to_ver > from_ver
                && allowed.iter().any(|n| n == to_name)
            {
                return (from_name.to_string(), to_name.to_string());
            }
        }
    }
    panic!("no upgrade path for {engine} in the simulated catalog");
}

async fn every_operation_lands_in_the_spec(ha: bool) {
    let project = if ha { "day2-ha" } else { "day2-sa" };
    let ctx = setup(project).await;
    for engine in Engine::ALL {
        let (from, to) = upgrade_pair(engine);
        // the probe hands the server the same constraints admission applies
        let entry = ctx
            .report
            .catalog
            .iter()
            .find(|c| c.engine == engine && c.name == from)
            .expect("catalog entry");
        assert!(!entry.update_allowlist.is_empty(), "{entry:?}");
        assert_eq!(
            entry.update_allowlist_ha.is_some(),
            engine == Engine::Mysql,
            "{entry:?}"
        );

        let name = format!(
            "{}-{}",
            translate::meta(engine).short_name,
            if ha { "ha" } else { "sa" }
        );
        let db = database(engine, &name, ha);
        create(&ctx, &db, &from).await;
        wait_phase(&ctx, &db, "Ready").await;
        let owner = Owner::of(&db);
        let user = translate::default_username(engine, &from);

        if ha {
            let seen = run(
                &ctx,
                &db,
                OpsChange::HorizontalScaling { replicas: 4 },
                &new_id(IdKind::Operation),
            )
            .await;
            assert_eq!(seen.replicas, Some(4), "{name}");
            let raw = raw_database(&ctx, &db).await;
            if engine == Engine::Redis {
                assert_eq!(raw.data["spec"]["cluster"]["shards"], 3, "{name}");
            }
        }

        let seen = run(
            &ctx,
            &db,
            OpsChange::VerticalScaling { size: Size::Small },
            &new_id(IdKind::Operation),
        )
        .await;
        assert_eq!(seen.size, Some(Size::Small), "{name}");

        let seen = run(
            &ctx,
            &db,
            OpsChange::VolumeExpansion { storage_gb: 30 },
            &new_id(IdKind::Operation),
        )
        .await;
        assert_eq!(seen.storage_gb, Some(30), "{name}");

        let seen = run(
            &ctx,
            &db,
            OpsChange::UpdateVersion { version_name: &to },
            &new_id(IdKind::Operation),
        )
        .await;
        assert_eq!(seen.version.as_deref(), Some(to.as_str()), "{name}");

        let before = raw_database(&ctx, &db).await.data["spec"].clone();
        run(&ctx, &db, OpsChange::Restart, &new_id(IdKind::Operation)).await;
        assert_eq!(
            raw_database(&ctx, &db).await.data["spec"],
            before,
            "a restart changes no spec"
        );

        let op = new_id(IdKind::Operation);
        let config = BTreeMap::from([("max_connections".to_string(), "250".to_string())]);
        let secret = day2::config_secret(&db, &ctx.ns, &op, &config);
        ctx.cluster
            .ensure_object(&secret)
            .await
            .expect("config secret");
        ctx.cluster
            .ensure_object(&secret)
            .await
            .expect("config secret again");
        let cfg = day2::config_secret_name(&op);
        run(
            &ctx,
            &db,
            OpsChange::Reconfigure {
                config_secret: &cfg,
            },
            &op,
        )
        .await;
        let raw = raw_database(&ctx, &db).await;
        assert_eq!(
            raw.data["spec"]["configuration"]["secretName"],
            cfg.as_str(),
            "{name}"
        );

        let op = new_id(IdKind::Operation);
        let password = format!("rotated-{}", &op[3..15]);
        let secret = day2::rotated_auth_secret(&db, &ctx.ns, &op, user, &password);
        ctx.cluster
            .ensure_object(&secret)
            .await
            .expect("auth secret");
        let auth = day2::rotated_auth_secret_name(&op);
        let seen = run(&ctx, &db, OpsChange::RotateAuth { secret_name: &auth }, &op).await;
        assert_eq!(seen.auth_secret.as_deref(), Some(auth.as_str()), "{name}");
        let creds = ctx
            .cluster
            .read_credentials(engine, &ctx.ns, &name, &owner)
            .await
            .expect("read")
            .expect("credentials");
        assert_eq!(creds, (user.to_string(), password), "{name}");

        // one request per operation, nothing more
        let opses = Api::<DynamicObject>::namespaced_with(
            ctx.sim.client(),
            &ctx.ns,
            &ops_request_resource(engine),
        )
        .list(&Default::default())
        .await
        .expect("list");
        assert_eq!(opses.items.len(), if ha { 7 } else { 6 }, "{name}");
    }
    ctx.sim.shutdown().await;
}

#[tokio::test]
async fn every_operation_lands_in_the_spec_standalone() {
    every_operation_lands_in_the_spec(false).await;
}

#[tokio::test]
async fn every_operation_lands_in_the_spec_ha() {
    every_operation_lands_in_the_spec(true).await;
}

#[tokio::test]
async fn foreign_and_failed_requests_pause_and_resume() {
    let ctx = setup("day2-guard").await;
    let engine = Engine::Postgres;
    let version = common::version_for(&ctx.report, engine);
    let db = database(engine, "guarded", false);
    create(&ctx, &db, &version).await;
    wait_phase(&ctx, &db, "Ready").await;
    let owner = Owner::of(&db);
    let opses = Api::<DynamicObject>::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &ops_request_resource(engine),
    );

    // an OpsRequest made outside the platform under the operation's name
    let op = new_id(IdKind::Operation);
    let name = day2::ops_request_name(&op);
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
        "metadata": { "name": name, "namespace": ctx.ns, "labels": { "team": "dba" } },
        "spec": { "type": "Restart", "databaseRef": { "name": "guarded" }, "restart": {} },
    }))
    .expect("object");
    let foreign = opses
        .create(&PostParams::default(), &foreign)
        .await
        .expect("foreign request");
    let mine = day2::ops_request(&db, &ctx.ns, &op, &OpsChange::Restart);
    let e = ctx
        .cluster
        .submit_ops_request(engine, &mine, &owner)
        .await
        .expect_err("not ours");
    assert!(
        matches!(&e, ProviderError::Conflict(m) if m.contains(&name) && m.contains("something the platform did not create")),
        "{e:?}"
    );
    let e = ctx
        .cluster
        .get_ops_request(engine, &ctx.ns, &name, &owner)
        .await
        .expect_err("not read");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    let still = opses.get(&name).await.expect("still there");
    assert_eq!(still.metadata.labels, foreign.metadata.labels, "untouched");
    assert_eq!(still.data["spec"], foreign.data["spec"], "untouched");

    // another tenant's database that claims the same name
    let mut intruder = database(engine, "guarded", false);
    intruder.id = "0190a8e4-0000-7000-8000-0000000000ee".into();
    intruder.domain = "acme-corp".into();
    let op2 = new_id(IdKind::Operation);
    ctx.cluster
        .submit_ops_request(
            engine,
            &day2::ops_request(&db, &ctx.ns, &op2, &OpsChange::Restart),
            &owner,
        )
        .await
        .expect("ours");
    let theirs = day2::ops_request(&intruder, &ctx.ns, &op2, &OpsChange::Restart);
    let e = ctx
        .cluster
        .submit_ops_request(engine, &theirs, &Owner::of(&intruder))
        .await
        .expect_err("another tenant's name");
    assert!(
        matches!(&e, ProviderError::Conflict(m) if m.contains(&db.id)),
        "{e:?}"
    );
    let e = ctx
        .cluster
        .get_ops_request(
            engine,
            &ctx.ns,
            &day2::ops_request_name(&op2),
            &Owner::of(&intruder),
        )
        .await
        .expect_err("not theirs to read");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    // the same database, another operation, the same name
    let op3 = new_id(IdKind::Operation);
    let mut other_op = day2::ops_request(&db, &ctx.ns, &op3, &OpsChange::Restart);
    other_op["metadata"]["name"] = json!(day2::ops_request_name(&op2));
    let e = ctx
        .cluster
        .submit_ops_request(engine, &other_op, &owner)
        .await
        .expect_err("another operation's request");
    assert!(
        matches!(&e, ProviderError::Conflict(m) if m.contains(&op2)),
        "{e:?}"
    );
    // an object not labelled for the owner is never sent
    let e = ctx
        .cluster
        .submit_ops_request(engine, &theirs, &owner)
        .await
        .expect_err("mislabelled");
    assert!(matches!(e, ProviderError::Permanent(_)), "{e:?}");
    let done = wait_terminal(&ctx, &db, &day2::ops_request_name(&op2)).await;
    assert_eq!(done.phase.as_deref(), Some("Successful"));
    assert_eq!(
        ctx.cluster
            .get_ops_request(engine, &ctx.ns, "op-never-made", &owner)
            .await
            .expect("read"),
        None
    );

    // the operation's Secrets are never taken from someone else either
    let cfg = day2::config_secret(&db, &ctx.ns, &op3, &BTreeMap::new());
    ctx.cluster
        .ensure_object(&cfg)
        .await
        .expect("config secret");
    let e = ctx
        .cluster
        .ensure_object(&day2::config_secret(
            &intruder,
            &ctx.ns,
            &op3,
            &BTreeMap::new(),
        ))
        .await
        .expect_err("another tenant's secret");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    let mut other = day2::rotated_auth_secret(&db, &ctx.ns, &new_id(IdKind::Operation), "u", "p");
    other["metadata"]["name"] = cfg["metadata"]["name"].clone();
    let e = ctx
        .cluster
        .ensure_object(&other)
        .await
        .expect_err("another operation's secret");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");

    // a request the operator fails reports Failed with KubeDB's reason
    wait_phase(&ctx, &db, "Ready").await;
    let (op, name, failed) = failing_expansion(&ctx, &db).await;
    assert_eq!(failed.phase.as_deref(), Some("Failed"), "{failed:?}");
    assert!(
        failed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("volume quota exceeded")),
        "{failed:?}"
    );
    assert_eq!(failed.operation_id.as_deref(), Some(op.as_str()));
    ctx.sim.faults.update(|f| {
        f.fail_ops_requests.remove(&format!("{}/{name}", ctx.ns));
    });
    let seen = wait_phase(&ctx, &db, "Ready").await;
    assert_eq!(
        seen.storage_gb,
        Some(20),
        "a failed expansion changes nothing"
    );

    // pause and resume
    let policy = seen.deletion_policy.clone().expect("a deletion policy");
    assert_eq!(policy, "Delete");
    ctx.cluster
        .set_halted(engine, &ctx.ns, "guarded", &owner, true, "Halt")
        .await
        .expect("halt");
    let halted = wait_phase(&ctx, &db, "Halted").await;
    assert!(halted.halted);
    assert_eq!(halted.deletion_policy.as_deref(), Some("Halt"));
    let generation = raw_database(&ctx, &db).await.metadata.generation;
    ctx.cluster
        .set_halted(engine, &ctx.ns, "guarded", &owner, true, "Halt")
        .await
        .expect("halting again is fine");
    assert_eq!(
        raw_database(&ctx, &db).await.metadata.generation,
        generation,
        "the spec is not written when it already says so"
    );
    ctx.cluster
        .set_halted(engine, &ctx.ns, "guarded", &owner, false, &policy)
        .await
        .expect("resume");
    let resumed = wait_phase(&ctx, &db, "Ready").await;
    assert!(!resumed.halted);
    assert_eq!(resumed.deletion_policy.as_deref(), Some("Delete"));

    // deletion protection
    ctx.cluster
        .set_deletion_policy(engine, &ctx.ns, "guarded", &owner, "DoNotTerminate")
        .await
        .expect("protect");
    let raw = raw_database(&ctx, &db).await;
    assert_eq!(raw.data["spec"]["deletionPolicy"], "DoNotTerminate");
    assert_eq!(raw.data["spec"]["halted"], false);
    let e = ctx
        .cluster
        .set_halted(
            engine,
            &ctx.ns,
            "guarded",
            &Owner::of(&intruder),
            true,
            "Halt",
        )
        .await
        .expect_err("not theirs");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    let e = ctx
        .cluster
        .set_deletion_policy(engine, &ctx.ns, "guarded", &Owner::of(&intruder), "Delete")
        .await
        .expect_err("not theirs");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    assert_eq!(
        raw_database(&ctx, &db).await.data["spec"]["deletionPolicy"],
        "DoNotTerminate",
        "untouched"
    );
    let e = ctx
        .cluster
        .set_deletion_policy(engine, &ctx.ns, "guarded", &owner, "Sometimes")
        .await
        .expect_err("no such policy");
    assert!(matches!(e, ProviderError::Permanent(_)), "{e:?}");
    let e = ctx
        .cluster
        .set_halted(engine, &ctx.ns, "absent", &owner, true, "Halt")
        .await
        .expect_err("nothing to halt");
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
    ctx.cluster
        .set_deletion_policy(engine, &ctx.ns, "guarded", &owner, "Delete")
        .await
        .expect("unprotect");
    assert_eq!(
        raw_database(&ctx, &db).await.data["spec"]["deletionPolicy"],
        "Delete"
    );

    // the user's labels and annotations: set, changed, removed; ours stay
    let none = BTreeMap::new();
    let labels = BTreeMap::from([("team".to_string(), "payments".to_string())]);
    let notes = BTreeMap::from([("example.com/owner".to_string(), "ana".to_string())]);
    ctx.cluster
        .set_user_metadata(
            engine,
            &ctx.ns,
            "guarded",
            &owner,
            (&none, &none),
            (&labels, &notes),
        )
        .await
        .expect("label");
    let raw = raw_database(&ctx, &db).await;
    let got = raw.metadata.labels.clone().unwrap_or_default();
    assert_eq!(got.get("team").map(String::as_str), Some("payments"));
    assert_eq!(
        got.get("dbaas.io/database-id"),
        Some(&db.id),
        "ownership stays"
    );
    let patches = |ctx: &Ctx| {
        ctx.sim
            .request_counts()
            .by_key
            .iter()
            .filter(|(k, _)| k.verb == "patch" && k.client == "kubedb-dbaas")
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    let before = patches(&ctx);
    ctx.cluster
        .set_user_metadata(
            engine,
            &ctx.ns,
            "guarded",
            &owner,
            (&labels, &notes),
            (&labels, &notes),
        )
        .await
        .expect("same again");
    assert_eq!(
        patches(&ctx),
        before,
        "nothing written when it already reads so"
    );
    ctx.cluster
        .set_user_metadata(
            engine,
            &ctx.ns,
            "guarded",
            &owner,
            (&labels, &notes),
            (&none, &none),
        )
        .await
        .expect("unlabel");
    assert!(patches(&ctx) > before, "a change is one patch");
    let raw = raw_database(&ctx, &db).await;
    assert!(!raw
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .contains_key("team"));
    assert!(!raw
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .contains_key("example.com/owner"));
    let e = ctx
        .cluster
        .set_user_metadata(
            engine,
            &ctx.ns,
            "guarded",
            &Owner::of(&intruder),
            (&none, &none),
            (&labels, &none),
        )
        .await
        .expect_err("not theirs");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");
    ctx.sim.shutdown().await;
}

/// (kind, name, reason) of each Event, newest first as returned.
fn story(events: &[ObservedEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.object_kind.clone(),
                e.object_name.clone(),
                e.reason.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_timeline_has_the_events_of_the_database_and_its_requests() {
    let ctx = setup("day2-events").await;
    let engine = Engine::Postgres;
    let version = common::version_for(&ctx.report, engine);
    let db = database(engine, "told", false);
    let owner = Owner::of(&db);
    create(&ctx, &db, &version).await;
    wait_phase(&ctx, &db, "Ready").await;
    let opses = Api::<DynamicObject>::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &ops_request_resource(engine),
    );

    // a request made outside the platform for the same database: its Events are not ours
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
        "metadata": { "name": "by-hand", "namespace": ctx.ns, "labels": { "team": "dba" } },
        "spec": { "type": "Restart", "databaseRef": { "name": "told" }, "restart": {}, "apply": "Always" },
    }))
    .expect("object");
    opses
        .create(&PostParams::default(), &foreign)
        .await
        .expect("foreign request");
    common::wait_for(DEADLINE, "the foreign request done", || async {
        let o = opses.get("by-hand").await.ok()?;
        (o.data["status"]["phase"] == "Successful").then_some(())
    })
    .await;
    wait_phase(&ctx, &db, "Ready").await;

    let restart = new_id(IdKind::Operation);
    run(&ctx, &db, OpsChange::Restart, &restart).await;
    let restart = day2::ops_request_name(&restart);
    let (_, failing_name, failed) = failing_expansion(&ctx, &db).await;
    assert_eq!(failed.phase.as_deref(), Some("Failed"), "{failed:?}");

    let ops_kind = "PostgresOpsRequest";
    let e = |kind: &str, name: &str, reason: &str| {
        (kind.to_string(), name.to_string(), reason.to_string())
    };
    let want = vec![
        e(ops_kind, &failing_name, "Failed"),
        e(ops_kind, &failing_name, "Progressing"),
        e(ops_kind, &failing_name, "Pending"),
        e(ops_kind, &restart, "Successful"),
        e(ops_kind, &restart, "Restart"),
        e(ops_kind, &restart, "RestartPods"),
        e(ops_kind, &restart, "Progressing"),
        e(ops_kind, &restart, "Pending"),
        e("Postgres", "told", "Ready"),
        e("Postgres", "told", "Provisioning"),
    ];
    // Events are written after the status they tell of: wait for the last one
    let events = common::wait_for(DEADLINE, "the events of the failed request", || async {
        let evs = ctx
            .cluster
            .database_events(engine, &ctx.ns, "told", &owner, 100)
            .await
            .expect("events");
        (story(&evs).len() >= want.len()).then_some(evs)
    })
    .await;
    assert_eq!(story(&events), want, "{events:#?}");
    assert!(
        events.windows(2).all(|w| w[0].at >= w[1].at),
        "newest first"
    );
    assert!(events.iter().all(|e| e.count == 1 && !e.message.is_empty()));
    let failed_ev = &events[0];
    assert_eq!(failed_ev.type_, "Warning");
    assert!(
        failed_ev.message.contains("volume quota exceeded"),
        "{failed_ev:?}"
    );
    assert!(
        events[1..].iter().all(|e| e.type_ == "Normal"),
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e.object_name != "by-hand"));
    let json = serde_json::to_value(&events[0]).expect("json");
    assert_eq!(json["type"], "Warning");
    assert_eq!(json["object_kind"], ops_kind);
    assert!(json["at"].is_string());

    // at most `limit`, the newest
    let two = ctx
        .cluster
        .database_events(engine, &ctx.ns, "told", &owner, 2)
        .await
        .expect("events");
    assert_eq!(story(&two), want[..2].to_vec());

    // another tenant's claim on the name is refused as reading the database is
    let mut intruder = database(engine, "told", false);
    intruder.id = "0190a8e4-0000-7000-8000-0000000000ee".into();
    intruder.domain = "acme-corp".into();
    let e = ctx
        .cluster
        .database_events(engine, &ctx.ns, "told", &Owner::of(&intruder), 100)
        .await
        .expect_err("not theirs");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");

    // a database object made outside the platform is never read
    let dbs = Api::<DynamicObject>::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &database_resource(engine),
    );
    let mut raw = serde_json::to_value(raw_database(&ctx, &db).await).expect("json");
    raw["metadata"] = json!({ "name": "stray", "namespace": ctx.ns, "labels": { "team": "dba" } });
    raw.as_object_mut().expect("object").remove("status");
    dbs.create(
        &PostParams::default(),
        &serde_json::from_value(raw).expect("object"),
    )
    .await
    .expect("foreign database");
    let stray_owner = Owner::of(&db);
    let events_err = ctx
        .cluster
        .database_events(engine, &ctx.ns, "stray", &stray_owner, 100)
        .await
        .expect_err("not ours");
    let get_err = ctx
        .cluster
        .get_owned_database(engine, &ctx.ns, "stray", &stray_owner)
        .await
        .expect_err("not ours");
    assert!(
        matches!(events_err, ProviderError::Conflict(_)),
        "{events_err:?}"
    );
    assert_eq!(events_err.to_string(), get_err.to_string());

    // nothing there, nothing to tell
    assert_eq!(
        ctx.cluster
            .database_events(engine, &ctx.ns, "absent", &owner, 100)
            .await
            .expect("absent"),
        Vec::new()
    );
    assert_eq!(
        ctx.cluster
            .database_events(engine, "no-such-namespace", "told", &owner, 100)
            .await
            .expect("no namespace"),
        Vec::new()
    );
    ctx.sim.faults.update(|f| {
        f.fail_ops_requests
            .remove(&format!("{}/{failing_name}", ctx.ns));
    });
    ctx.sim.shutdown().await;
}

/// Reads events until `done` says so, or panics after `secs`.
async fn until<S: Stream<Item = ClusterEvent> + Unpin>(
    events: &mut S,
    secs: u64,
    what: &str,
    mut done: impl FnMut(&ClusterEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(ev)) => {
                if done(&ev) {
                    return;
                }
            }
            Ok(None) => panic!("the watch stream ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test]
async fn the_watch_reports_ops_request_phases() {
    let ctx = setup("day2-watch").await;
    let mut events = Box::pin(watch_cluster(&ctx.cluster));
    let engine = Engine::Mariadb;
    let version = common::version_for(&ctx.report, engine);
    let db = database(engine, "watched", true);
    create(&ctx, &db, &version).await;
    until(&mut events, DEADLINE, "the database Ready", |ev| {
        matches!(ev, ClusterEvent::Database(o) if o.name == "watched" && o.phase.as_deref() == Some("Ready"))
    })
    .await;

    let op = new_id(IdKind::Operation);
    ctx.cluster
        .submit_ops_request(
            engine,
            &day2::ops_request(
                &db,
                &ctx.ns,
                &op,
                &OpsChange::HorizontalScaling { replicas: 5 },
            ),
            &Owner::of(&db),
        )
        .await
        .expect("submitted");
    let name = day2::ops_request_name(&op);
    let mut phases: Vec<Option<String>> = Vec::new();
    until(&mut events, DEADLINE, "the request Successful", |ev| {
        if let ClusterEvent::OpsRequest {
            engine: e,
            namespace,
            name: n,
            database_id,
            operation_id,
            phase,
        } = ev
        {
            assert_eq!(*e, engine);
            assert_eq!(namespace, &ctx.ns);
            assert_eq!(n, &name);
            assert_eq!(database_id.as_deref(), Some(db.id.as_str()));
            assert_eq!(operation_id.as_deref(), Some(op.as_str()));
            phases.push(phase.clone());
            return phase.as_deref() == Some("Successful");
        }
        false
    })
    .await;
    let mut unique = phases.clone();
    unique.dedup();
    assert_eq!(unique, phases, "each phase reported once: {phases:?}");
    until(&mut events, DEADLINE, "the scaled database", |ev| {
        matches!(ev, ClusterEvent::Database(o) if o.name == "watched" && o.replicas == Some(5))
    })
    .await;
    ctx.sim.shutdown().await;
}

/// A cluster without KubeDB's OpsRequest CRDs: the database streams go on, reads find nothing.
#[tokio::test]
async fn the_watch_tolerates_a_cluster_without_ops_crds() {
    let Some(upstream) = common::schema::crd_dir() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!(
        "day2-no-ops-crds-{}-{}",
        std::process::id(),
        new_id(IdKind::Operation)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for entry in std::fs::read_dir(&upstream).expect("crd dir").flatten() {
        let file = entry.file_name();
        let name = file.to_string_lossy();
        if name.ends_with(".yaml") && !name.starts_with("ops.kubedb.com_") {
            std::os::unix::fs::symlink(entry.path(), dir.join(&file)).expect("link");
        }
    }
    let sim = common::start_with(sim::SimConfig {
        crds_dir: Some(dir.clone()),
        ..common::sim_config()
    })
    .await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = translate::namespace_name("acme", "day2-bare");
    cluster
        .ensure_namespace(&translate::namespace_object(&ns, "acme", "day2-bare"))
        .await
        .expect("namespace");
    let mut events = Box::pin(watch_cluster(&cluster));
    let db = database(Engine::Redis, "plain", false);
    let version = common::version_for(&report, Engine::Redis);
    let obj = translate::database_object(&CreatePlan {
        db: &db,
        namespace: &ns,
        version_name: &version,
        auth_secret: None,
        storage_class: None,
        service_type: "ClusterIP",
        monitor: &translate::MonitorAgent::Builtin,
    });
    cluster
        .create_database(Engine::Redis, &obj)
        .await
        .expect("create");
    until(&mut events, DEADLINE, "the database Ready", |ev| {
        matches!(ev, ClusterEvent::Database(o) if o.name == "plain" && o.phase.as_deref() == Some("Ready"))
    })
    .await;
    assert_eq!(
        cluster
            .get_ops_request(Engine::Redis, &ns, "op-none", &Owner::of(&db))
            .await
            .expect("no such kind reads as absent"),
        None
    );
    // without OpsRequests the timeline is the database's own Events
    let timeline = common::wait_for(DEADLINE, "the database's events", || async {
        let evs = cluster
            .database_events(Engine::Redis, &ns, "plain", &Owner::of(&db), 10)
            .await
            .expect("events");
        (evs.len() >= 2).then_some(evs)
    })
    .await;
    let reasons: Vec<&str> = timeline.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["Ready", "Provisioning"]);
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
