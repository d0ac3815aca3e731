//! KubeDB webhook behaviour through the API server: defaulting, and rejections that name the
//! field and the rule.

mod kubedb_common;

use kubedb_common::*;
use serde_json::{json, Value};

fn db(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "kubedb.com/v1", "kind": kind, "metadata": { "name": name, "namespace": "adm" }, "spec": spec })
}

fn op(kind: &str, name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "ops.kubedb.com/v1alpha1", "kind": format!("{kind}OpsRequest"), "metadata": { "name": name, "namespace": "adm" }, "spec": spec })
}

fn storage() -> Value {
    json!({ "resources": { "requests": { "storage": "10Gi" } } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaulting_and_rejections_name_the_field() {
    let sim = start().await;
    ensure_namespace(&sim, "adm").await;

    // defaulting
    let created = create(
        &sim,
        &db_ar("MySQL"),
        db(
            "MySQL",
            "def",
            json!({ "version": "8.4.8", "storage": storage() }),
        ),
    )
    .await
    .expect("create");
    let spec = &created.data["spec"];
    assert_eq!(spec["deletionPolicy"], "Delete");
    assert_eq!(spec["storageType"], "Durable");
    assert_eq!(spec["authSecret"]["kind"], "Secret");
    assert_eq!(spec["replicas"], 1);
    let c = &spec["podTemplate"]["spec"]["containers"][0];
    assert_eq!(c["name"], "mysql");
    assert_eq!(c["resources"]["requests"]["memory"], "1Gi");
    assert_eq!(c["resources"]["requests"]["cpu"], "500m");

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "Postgres",
            db(
                "Postgres",
                "v1",
                json!({ "version": "99.1", "storage": storage() }),
            ),
            "spec.version",
        ),
        (
            "Postgres",
            db(
                "Postgres",
                "v2",
                json!({ "version": "13.22", "storage": storage() }),
            ),
            "deprecated",
        ),
        (
            "Postgres",
            db(
                "Postgres",
                "v3",
                json!({ "version": "17.9", "storageType": "Ephemeral", "deletionPolicy": "Halt" }),
            ),
            "spec.deletionPolicy",
        ),
        (
            "Postgres",
            db(
                "Postgres",
                "v4",
                json!({ "version": "17.9", "halted": true, "deletionPolicy": "DoNotTerminate", "storage": storage() }),
            ),
            "spec.halted",
        ),
        (
            "MongoDB",
            db(
                "MongoDB",
                "v5",
                json!({ "version": "8.0.17", "replicas": 3, "storage": storage() }),
            ),
            "spec.replicas",
        ),
        (
            "MongoDB",
            db(
                "MongoDB",
                "v6",
                json!({ "version": "8.0.17", "replicas": 3, "shardTopology": {
                    "shard": { "shards": 2, "replicas": 3, "storage": storage() },
                    "configServer": { "replicas": 3, "storage": storage() }, "mongos": { "replicas": 2 } } }),
            ),
            "spec.replicas",
        ),
        (
            "MySQL",
            db(
                "MySQL",
                "v7",
                json!({ "version": "8.4.8", "replicas": 2, "topology": { "mode": "GroupReplication" }, "storage": storage() }),
            ),
            "spec.replicas",
        ),
        (
            "MariaDB",
            db(
                "MariaDB",
                "v8",
                json!({ "version": "11.8.5", "replicas": 2, "topology": { "mode": "GaleraCluster" }, "storage": storage() }),
            ),
            "spec.replicas",
        ),
        (
            "Redis",
            db(
                "Redis",
                "v9",
                json!({ "version": "7.4.6", "mode": "Cluster", "cluster": { "shards": 2, "replicas": 2 }, "storage": storage() }),
            ),
            "spec.cluster.shards",
        ),
        (
            "Redis",
            db(
                "Redis",
                "v10",
                json!({ "version": "7.4.6", "mode": "Sentinel", "replicas": 3, "storage": storage() }),
            ),
            "spec.sentinelRef",
        ),
        (
            "Elasticsearch",
            db(
                "Elasticsearch",
                "v11",
                json!({ "version": "xpack-9.2.3", "replicas": 3, "topology": {
                    "master": { "replicas": 1, "storage": storage() }, "ingest": { "replicas": 1, "storage": storage() },
                    "data": { "replicas": 1, "storage": storage() } } }),
            ),
            "spec.replicas",
        ),
        (
            "MySQL",
            db(
                "MySQL",
                "v12",
                json!({ "version": "8.4.8", "storage": storage(), "podTemplate": { "spec": { "containers": [
                    { "name": "mysql", "env": [{ "name": "MYSQL_ROOT_PASSWORD", "value": "x" }] }] } } }),
            ),
            "MYSQL_ROOT_PASSWORD",
        ),
        (
            "Postgres",
            db(
                "Postgres",
                "v13",
                json!({ "version": "17.9", "storage": storage(), "authSecret": { "name": "nope", "externallyManaged": true } }),
            ),
            "spec.authSecret.name",
        ),
    ];
    for (kind, obj, needle) in cases {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let msg = err_message(create(&sim, &db_ar(kind), obj).await);
        assert!(
            msg.contains(needle),
            "{kind} {name}: {msg:?} should mention {needle}"
        );
    }

    // update rules: storageType immutable
    let pgs = api(&sim, "adm", &db_ar("Postgres"));
    create(
        &sim,
        &db_ar("Postgres"),
        db(
            "Postgres",
            "pg",
            json!({ "version": "17.9", "replicas": 3, "storage": storage() }),
        ),
    )
    .await
    .expect("pg");
    let msg = err_message(
        merge(
            &pgs,
            "pg",
            json!({ "spec": { "storageType": "Ephemeral" } }),
        )
        .await,
    );
    assert!(msg.contains("spec.storageType"), "{msg}");
    wait_phase(&pgs, "pg", "Ready", 20).await;

    // OpsRequest rules
    let dbref = json!({ "name": "pg" });
    let ops_cases: Vec<(&str, Value, &str)> = vec![
        (
            "Postgres",
            op(
                "Postgres",
                "o1",
                json!({ "type": "UpdateVersion", "databaseRef": dbref, "updateVersion": { "targetVersion": "16.10" } }),
            ),
            "spec.updateVersion.targetVersion",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o2",
                json!({ "type": "UpdateVersion", "databaseRef": dbref, "updateVersion": { "targetVersion": "17.9-bookworm" } }),
            ),
            "baseOS",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o3",
                json!({ "type": "VolumeExpansion", "databaseRef": dbref, "volumeExpansion": { "mode": "Online", "postgres": "5Gi" } }),
            ),
            "spec.volumeExpansion.postgres",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o4",
                json!({ "type": "VolumeExpansion", "databaseRef": dbref, "volumeExpansion": { "mode": "Online", "postgres": "10Gi" } }),
            ),
            "volume can only grow",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o5",
                json!({ "type": "HorizontalScaling", "databaseRef": { "name": "missing" }, "horizontalScaling": { "replicas": 3 } }),
            ),
            "spec.databaseRef.name",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o6",
                json!({ "type": "Reconfigure", "databaseRef": dbref, "configuration": { "applyConfig": { "postgresql.conf": "x" } } }),
            ),
            "user.conf",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o7",
                json!({ "type": "Announce", "databaseRef": dbref }),
            ),
            "spec.type",
        ),
        (
            "Postgres",
            op(
                "Postgres",
                "o8",
                json!({ "type": "HorizontalScaling", "databaseRef": dbref, "horizontalScaling": { "replicas": 0 } }),
            ),
            "spec.horizontalScaling.replicas",
        ),
    ];
    for (kind, obj, needle) in ops_cases {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let msg = err_message(create(&sim, &ops_ar(kind), obj).await);
        assert!(
            msg.contains(needle),
            "{name}: {msg:?} should mention {needle}"
        );
    }

    // engine-specific horizontal scaling rules
    create(
        &sim,
        &db_ar("Redis"),
        db(
            "Redis",
            "solo",
            json!({ "version": "7.4.6", "storage": storage() }),
        ),
    )
    .await
    .expect("redis");
    let msg = err_message(
        create(&sim, &ops_ar("Redis"), op("Redis", "r1", json!({ "type": "HorizontalScaling", "databaseRef": { "name": "solo" }, "horizontalScaling": { "replicas": 3 } }))).await,
    );
    assert!(msg.contains("Standalone"), "{msg}");
    create(&sim, &db_ar("MySQL"), db("MySQL", "gr", json!({ "version": "8.4.8", "replicas": 3, "topology": { "mode": "GroupReplication" }, "storage": storage() })))
        .await
        .expect("mysql");
    let msg = err_message(
        create(&sim, &ops_ar("MySQL"), op("MySQL", "m1", json!({ "type": "HorizontalScaling", "databaseRef": { "name": "gr" }, "horizontalScaling": { "member": 9 } }))).await,
    );
    assert!(msg.contains("spec.horizontalScaling.member"), "{msg}");

    // spec of an OpsRequest is immutable
    let opses = api(&sim, "adm", &ops_ar("Postgres"));
    create(
        &sim,
        &ops_ar("Postgres"),
        op(
            "Postgres",
            "ok",
            json!({ "type": "Restart", "databaseRef": dbref, "restart": {} }),
        ),
    )
    .await
    .expect("restart");
    let msg = err_message(merge(&opses, "ok", json!({ "spec": { "timeout": "5m" } })).await);
    assert!(msg.contains("immutable"), "{msg}");

    // deleting a DoNotTerminate database is refused
    merge(
        &pgs,
        "pg",
        json!({ "spec": { "deletionPolicy": "DoNotTerminate" } }),
    )
    .await
    .expect("dnt");
    let msg = err_message(delete(&pgs, "pg").await);
    assert!(msg.contains("DoNotTerminate"), "{msg}");
    sim.shutdown().await;
}
