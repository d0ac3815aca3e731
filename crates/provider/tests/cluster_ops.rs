//! Idempotent cluster steps against the simulated cluster and its KubeDB operator.

mod common;

use std::collections::BTreeMap;

use domain::engine::Engine;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use provider::cluster::database_resource;
use provider::translate::{self, CreatePlan, Owner};
use provider::{Cluster, ProviderError};
use serde_json::json;

struct Ctx {
    sim: sim::SimHandle,
    cluster: Cluster,
    ns: String,
    report: provider::ProbeReport,
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

fn plan_object(ctx: &Ctx, db: &domain::model::Database, service_type: &str) -> serde_json::Value {
    let version = common::version_for(&ctx.report, db.engine);
    translate::database_object(&CreatePlan {
        db,
        namespace: &ctx.ns,
        version_name: &version,
        auth_secret: None,
        storage_class: None,
        service_type,
        monitor: &translate::MonitorAgent::Builtin,
    })
}

async fn wait_ready(ctx: &Ctx, engine: Engine, name: &str) -> provider::ObservedDatabase {
    common::wait_for(30, &format!("{name} Ready"), || async {
        let o = ctx
            .cluster
            .get_database(engine, &ctx.ns, name)
            .await
            .ok()??;
        (o.phase.as_deref() == Some("Ready")).then_some(o)
    })
    .await
}

async fn wait_gone(ctx: &Ctx, engine: Engine, name: &str) {
    common::wait_for(30, &format!("{name} gone"), || async {
        matches!(
            ctx.cluster.get_database(engine, &ctx.ns, name).await,
            Ok(None)
        )
        .then_some(())
    })
    .await
}

#[tokio::test]
async fn create_is_idempotent_and_foreign_names_conflict() {
    let ctx = setup("ops").await;
    let db = common::database(Engine::Postgres, "orders");
    let obj = plan_object(&ctx, &db, "ClusterIP");
    ctx.cluster
        .create_database(Engine::Postgres, &obj)
        .await
        .expect("create");
    ctx.cluster
        .create_database(Engine::Postgres, &obj)
        .await
        .expect("retry is fine");
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &database_resource(Engine::Postgres),
    );
    let list = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(list.items.len(), 1, "one object after two creates");

    // the same name for another database id
    let mut other = common::database(Engine::Postgres, "orders");
    other.id = "0190a8e4-0000-7000-8000-ffffffffffff".into();
    let e = ctx
        .cluster
        .create_database(Engine::Postgres, &plan_object(&ctx, &other, "ClusterIP"))
        .await
        .expect_err("taken");
    assert!(matches!(e, ProviderError::Conflict(_)), "{e:?}");

    // an object nobody labelled
    let version = common::version_for(&ctx.report, Engine::Mysql);
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "MySQL",
        "metadata": { "name": "legacy", "namespace": ctx.ns },
        "spec": { "version": version, "storage": { "resources": { "requests": { "storage": "1Gi" } } } },
    }))
    .expect("object");
    Api::<DynamicObject>::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &database_resource(Engine::Mysql),
    )
    .create(&PostParams::default(), &foreign)
    .await
    .expect("foreign object");
    let mine = common::database(Engine::Mysql, "legacy");
    let e = ctx
        .cluster
        .create_database(Engine::Mysql, &plan_object(&ctx, &mine, "ClusterIP"))
        .await
        .expect_err("foreign");
    assert!(
        matches!(&e, ProviderError::Conflict(m) if m.contains("legacy")),
        "{e:?}"
    );

    // admission refusals are permanent and say why
    let mut bad = plan_object(
        &ctx,
        &common::database(Engine::Postgres, "badver"),
        "ClusterIP",
    );
    bad["spec"]["version"] = json!("0.0.0-nope");
    let e = ctx
        .cluster
        .create_database(Engine::Postgres, &bad)
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, ProviderError::Permanent(m) if m.contains("spec.version")),
        "{e:?}"
    );

    // a missing namespace is NotFound, not a conflict
    let mut lost = obj.clone();
    lost["metadata"]["namespace"] = json!("no-such-namespace");
    let e = ctx
        .cluster
        .create_database(Engine::Postgres, &lost)
        .await
        .expect_err("no namespace");
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");

    assert_eq!(
        ctx.cluster
            .get_database(Engine::Postgres, &ctx.ns, "absent")
            .await
            .expect("get"),
        None
    );
    ctx.sim.shutdown().await;
}

#[tokio::test]
async fn ready_database_has_endpoint_and_credentials() {
    let ctx = setup("reads").await;
    let db = common::database(Engine::Postgres, "billing");
    ctx.cluster
        .create_database(Engine::Postgres, &plan_object(&ctx, &db, "ClusterIP"))
        .await
        .expect("create");
    let seen = wait_ready(&ctx, Engine::Postgres, "billing").await;
    assert_eq!(seen.database_id.as_deref(), Some(db.id.as_str()));
    assert_eq!(seen.ready_replicas(), Some(1));
    assert!(seen.auth_secret.is_some(), "KubeDB named its secret");
    let (user, password) = ctx
        .cluster
        .read_credentials(Engine::Postgres, &ctx.ns, "billing", &Owner::of(&db))
        .await
        .expect("read")
        .expect("secret exists");
    assert_eq!(user, "postgres");
    assert_eq!(password.len(), 16);
    let ep = ctx
        .cluster
        .read_endpoint(Engine::Postgres, &ctx.ns, "billing")
        .await
        .expect("read")
        .expect("service exists");
    assert_eq!(ep.host, format!("billing.{}.svc.cluster.local", ctx.ns));
    assert_eq!(
        (
            ep.port,
            ep.service_type.as_str(),
            ep.loadbalancer_ip.clone()
        ),
        (5432, "ClusterIP", None)
    );
    let (_, url) =
        translate::connection_string(Engine::Postgres, &user, &password, &ep.host, ep.port);
    assert!(url.starts_with("postgresql://postgres:"));

    // a LoadBalancer service reports its ingress IP
    let lb = common::database(Engine::Redis, "cache");
    ctx.cluster
        .create_database(Engine::Redis, &plan_object(&ctx, &lb, "LoadBalancer"))
        .await
        .expect("create");
    wait_ready(&ctx, Engine::Redis, "cache").await;
    let ep = ctx
        .cluster
        .read_endpoint(Engine::Redis, &ctx.ns, "cache")
        .await
        .expect("read")
        .expect("service");
    assert_eq!(ep.service_type, "LoadBalancer");
    let ip = ep.loadbalancer_ip.clone().expect("ingress ip assigned");
    assert_eq!(ep.host, ip);
    assert_eq!(ep.port, 6379);
    assert_eq!(
        ctx.cluster
            .read_endpoint(Engine::Redis, &ctx.ns, "nothing")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        ctx.cluster
            .read_credentials(Engine::Postgres, &ctx.ns, "nothing", &Owner::of(&db))
            .await
            .expect("read"),
        None
    );
    ctx.sim.shutdown().await;
}

#[tokio::test]
async fn delete_sets_the_policy_and_the_object_goes() {
    let ctx = setup("gone").await;
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            plural: "secrets".into(),
        },
    );
    // protected + wipe_out: the patch lifts DoNotTerminate, WipeOut removes KubeDB's secret too
    let mut a = common::database(Engine::Mongodb, "wiped");
    a.deletion_protection = true;
    ctx.cluster
        .create_database(Engine::Mongodb, &plan_object(&ctx, &a, "ClusterIP"))
        .await
        .expect("create");
    let seen = wait_ready(&ctx, Engine::Mongodb, "wiped").await;
    assert_eq!(seen.deletion_policy.as_deref(), Some("DoNotTerminate"));
    let secret_a = seen.auth_secret.expect("secret");
    ctx.cluster
        .delete_database(Engine::Mongodb, &ctx.ns, "wiped", &Owner::of(&a), true)
        .await
        .expect("delete");
    wait_gone(&ctx, Engine::Mongodb, "wiped").await;
    common::wait_for(30, "WipeOut removes the auth secret", || async {
        secrets
            .get_opt(&secret_a)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    ctx.cluster
        .delete_database(Engine::Mongodb, &ctx.ns, "wiped", &Owner::of(&a), true)
        .await
        .expect("already gone is fine");

    // without wipe_out: policy Delete, the secret stays
    let b = common::database(Engine::Mariadb, "kept");
    ctx.cluster
        .create_database(Engine::Mariadb, &plan_object(&ctx, &b, "ClusterIP"))
        .await
        .expect("create");
    let secret_b = wait_ready(&ctx, Engine::Mariadb, "kept")
        .await
        .auth_secret
        .expect("secret");
    ctx.cluster
        .delete_database(Engine::Mariadb, &ctx.ns, "kept", &Owner::of(&b), false)
        .await
        .expect("delete");
    wait_gone(&ctx, Engine::Mariadb, "kept").await;
    assert!(
        secrets.get_opt(&secret_b).await.expect("get").is_some(),
        "Delete keeps secrets"
    );
    ctx.cluster
        .delete_database(
            Engine::Mariadb,
            &ctx.ns,
            "never-existed",
            &Owner::of(&b),
            false,
        )
        .await
        .expect("NotFound is Ok");
    ctx.sim.shutdown().await;
}

/// Objects with the platform's names but another owner are never read, changed or deleted, and a
/// namespace of another project is never adopted.
#[tokio::test]
async fn foreign_objects_are_never_touched() {
    let ctx = setup("owned").await;
    let victim = common::database(Engine::Postgres, "orders");
    ctx.cluster
        .create_database(Engine::Postgres, &plan_object(&ctx, &victim, "ClusterIP"))
        .await
        .expect("create");
    let policy = translate::network_policy(&victim, &ctx.ns, &BTreeMap::new());
    ctx.cluster.ensure_object(&policy).await.expect("policy");
    let seen = wait_ready(&ctx, Engine::Postgres, "orders").await;
    let secret = seen.auth_secret.clone().expect("secret");
    // the secret itself relabelled as another database's is refused even to its owner
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        ctx.sim.client(),
        &ctx.ns,
        &ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            plural: "secrets".into(),
        },
    );
    let relabel = |id: Option<&str>| json!({"metadata": {"labels": {"dbaas.io/database-id": id}}});
    secrets
        .patch(
            &secret,
            &Default::default(),
            &kube::api::Patch::Merge(relabel(Some("someone-else"))),
        )
        .await
        .expect("relabel");
    let e = ctx
        .cluster
        .read_credentials(Engine::Postgres, &ctx.ns, "orders", &Owner::of(&victim))
        .await
        .expect_err("a foreign secret");
    assert!(
        matches!(&e, ProviderError::Conflict(m) if m.contains(&secret)),
        "{e:?}"
    );
    secrets
        .patch(
            &secret,
            &Default::default(),
            &kube::api::Patch::Merge(relabel(None)),
        )
        .await
        .expect("label removed");

    // another database (another tenant's record) that claims the same place
    let mut intruder = common::database(Engine::Postgres, "orders");
    intruder.id = "0190a8e4-0000-7000-8000-0000000000ee".into();
    intruder.domain = "acme-corp".into();
    let thief = Owner::of(&intruder);
    let conflict =
        |e: ProviderError| matches!(&e, ProviderError::Conflict(m) if m.contains("belongs to"));

    let e = ctx
        .cluster
        .get_owned_database(Engine::Postgres, &ctx.ns, "orders", &thief)
        .await
        .expect_err("not its object");
    assert!(conflict(e));
    let e = ctx
        .cluster
        .read_credentials(Engine::Postgres, &ctx.ns, "orders", &thief)
        .await
        .expect_err("not its secret");
    assert!(conflict(e));
    let e = ctx
        .cluster
        .delete_database(Engine::Postgres, &ctx.ns, "orders", &thief, true)
        .await
        .expect_err("not its object");
    assert!(conflict(e));
    let policy_name = translate::network_policy_name("orders");
    let e = ctx
        .cluster
        .delete_object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &ctx.ns,
            &policy_name,
            &thief,
        )
        .await
        .expect_err("not its policy");
    assert!(conflict(e));
    let intruder_policy = translate::network_policy(&intruder, &ctx.ns, &BTreeMap::new());
    let e = ctx
        .cluster
        .ensure_object(&intruder_policy)
        .await
        .expect_err("never adopted");
    assert!(conflict(e));

    // untouched: still there, still Ready, deletion policy unchanged, readable by its owner
    let mine = ctx
        .cluster
        .get_owned_database(Engine::Postgres, &ctx.ns, "orders", &Owner::of(&victim))
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(mine.phase.as_deref(), Some("Ready"));
    assert_eq!(mine.deletion_policy, seen.deletion_policy);
    assert!(ctx
        .cluster
        .read_credentials(Engine::Postgres, &ctx.ns, "orders", &Owner::of(&victim))
        .await
        .expect("read")
        .is_some());

    // a namespace of another project, or one made outside the platform, is not adopted
    let theirs = translate::namespace_name("acme-corp", "default");
    let e = ctx
        .cluster
        .ensure_namespace(&translate::namespace_object(
            &ctx.ns,
            "acme-corp",
            "default",
        ))
        .await
        .expect_err("another project's namespace");
    assert!(conflict(e));
    let bare: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": theirs },
    }))
    .expect("namespace");
    Api::<DynamicObject>::all_with(
        ctx.sim.client(),
        &ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Namespace".into(),
            plural: "namespaces".into(),
        },
    )
    .create(&PostParams::default(), &bare)
    .await
    .expect("made outside the platform");
    let e = ctx
        .cluster
        .ensure_namespace(&translate::namespace_object(
            &theirs,
            "acme-corp",
            "default",
        ))
        .await
        .expect_err("not adopted");
    assert!(conflict(e));
    let owner_there = Owner {
        domain: "acme-corp",
        project: "default",
        database_id: &intruder.id,
    };
    assert!(conflict(
        ctx.cluster
            .check_namespace(&theirs, &owner_there)
            .await
            .expect_err("unlabelled")
    ));
    ctx.cluster
        .check_namespace(
            &ctx.ns,
            &Owner {
                domain: "acme",
                project: "owned",
                database_id: &victim.id,
            },
        )
        .await
        .expect("its own namespace");
    ctx.sim.shutdown().await;
}
