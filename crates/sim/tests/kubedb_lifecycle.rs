//! Each engine's lifecycle against the simulated cluster with the real `kube` client:
//! create → Ready → halted → resumed → deleted under each deletionPolicy, plus forced phases,
//! DataRestoring and the exporters behind the service proxy.

mod kubedb_common;

use kubedb_common::*;
use serde_json::{json, Value};

struct Engine {
    kind: &'static str,
    short: &'static str,
    user: &'static str,
    pods: usize,
    standby: bool,
    spec: Value,
}

fn engines() -> Vec<Engine> {
    let storage = json!({ "resources": { "requests": { "storage": "1Gi" } } });
    let monitor = json!({ "agent": "prometheus.io/builtin" });
    vec![
        Engine {
            kind: "MongoDB",
            short: "mg",
            user: "root",
            pods: 3,
            standby: false,
            spec: json!({ "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0" }, "storage": storage, "monitor": monitor }),
        },
        Engine {
            kind: "Postgres",
            short: "pg",
            user: "postgres",
            pods: 3,
            standby: true,
            spec: json!({ "version": "17.9", "replicas": 3, "storage": storage, "monitor": monitor }),
        },
        Engine {
            kind: "MySQL",
            short: "my",
            user: "root",
            pods: 3,
            standby: true,
            spec: json!({ "version": "8.4.8", "replicas": 3, "topology": { "mode": "GroupReplication" }, "storage": storage, "monitor": monitor }),
        },
        Engine {
            kind: "MariaDB",
            short: "md",
            user: "root",
            pods: 3,
            standby: false,
            spec: json!({ "version": "11.8.5", "replicas": 3, "topology": { "mode": "GaleraCluster" }, "storage": storage, "monitor": monitor }),
        },
        Engine {
            kind: "Redis",
            short: "rd",
            user: "default",
            pods: 6,
            standby: false,
            spec: json!({ "version": "7.4.6", "mode": "Cluster", "cluster": { "shards": 3, "replicas": 2 }, "storage": storage, "monitor": monitor }),
        },
        Engine {
            kind: "Elasticsearch",
            short: "es",
            user: "elastic",
            pods: 3,
            standby: false,
            spec: json!({ "version": "xpack-9.2.3", "replicas": 3, "storage": storage, "monitor": monitor }),
        },
    ]
}

async fn lifecycle(sim: &sim::SimHandle, e: &Engine, policy: &str) {
    let ns = "life";
    let name = format!("{}-{}", e.short, policy.to_lowercase());
    let dbs = api(sim, ns, &db_ar(e.kind));
    let pods = core(sim, ns, "Pod", "pods");
    let svcs = core(sim, ns, "Service", "services");
    let pvcs = core(sim, ns, "PersistentVolumeClaim", "persistentvolumeclaims");
    let secrets = core(sim, ns, "Secret", "secrets");
    let mut spec = e.spec.clone();
    spec["deletionPolicy"] = json!(policy);
    create(sim, &db_ar(e.kind), json!({ "apiVersion": "kubedb.com/v1", "kind": e.kind, "metadata": { "name": name, "namespace": ns }, "spec": spec }))
        .await
        .unwrap_or_else(|err| panic!("create {name}: {err}"));

    // Ready, with everything KubeDB creates
    wait_phase(&dbs, &name, "Ready", 20).await;
    let db = wait_for(10, "observedGeneration", || async {
        let d = dbs.get(&name).await.ok()?;
        (d.data["status"]["observedGeneration"].as_i64() == d.metadata.generation
            && d.data["status"]["phase"] == "Ready")
            .then_some(d)
    })
    .await;
    let conds: Vec<&str> = db.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str())
        .collect();
    for c in [
        "ProvisioningStarted",
        "ReplicaReady",
        "AcceptingConnection",
        "Ready",
        "Provisioned",
    ] {
        assert!(conds.contains(&c), "{name} lacks condition {c}: {conds:?}");
    }
    let auth = format!("{name}-auth");
    let db = wait_for(10, "authSecret.name", || async {
        let d = dbs.get(&name).await.ok()?;
        (d.data["spec"]["authSecret"]["name"] == auth.as_str()).then_some(d)
    })
    .await;
    assert_eq!(db.data["spec"]["deletionPolicy"], policy);
    let secret = secrets.get(&auth).await.expect("auth secret");
    assert_eq!(secret.data["type"], "kubernetes.io/basic-auth");
    use base64::Engine as _;
    let dec = |k: &str| {
        let raw = secret.data["data"][k].as_str().unwrap_or_default();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .expect("base64"),
        )
        .expect("utf8")
    };
    assert_eq!(dec("username"), e.user);
    assert_eq!(dec("password").len(), 16);
    let pod_names = wait_for(10, "pods", || async {
        let n = names(&pods, &instance(&name)).await;
        (n.len() == e.pods).then_some(n)
    })
    .await;
    let pod = pods.get(&pod_names[0]).await.expect("pod");
    assert_eq!(pod.data["status"]["phase"], "Running");
    if e.kind == "Postgres" || e.kind == "MySQL" {
        let roles: Vec<String> = pods
            .list(
                &kube::api::ListParams::default()
                    .labels(&format!("{},kubedb.com/role=primary", instance(&name))),
            )
            .await
            .expect("list")
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        assert_eq!(roles, [format!("{name}-0")]);
    }
    let svc_names = names(&svcs, &instance(&name)).await;
    for s in [
        name.clone(),
        format!("{name}-pods"),
        format!("{name}-stats"),
    ] {
        assert!(
            svc_names.contains(&s),
            "{name}: missing service {s} in {svc_names:?}"
        );
    }
    assert_eq!(
        svc_names.contains(&format!("{name}-standby")),
        e.standby,
        "{name} standby service"
    );
    let stats = svcs.get(&format!("{name}-stats")).await.expect("stats svc");
    assert_eq!(
        stats
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("prometheus.io/scrape"))
            .map(String::as_str),
        Some("true")
    );
    let pvc_names = names(&pvcs, &instance(&name)).await;
    assert_eq!(pvc_names.len(), e.pods, "{name} PVCs {pvc_names:?}");
    let ab = api(
        sim,
        ns,
        &ar(
            "appcatalog.appscode.com/v1alpha1",
            "AppBinding",
            "appbindings",
        ),
    )
    .get(&name)
    .await
    .expect("appbinding");
    assert_eq!(ab.data["spec"]["secret"]["name"], auth.as_str());

    // Halt: pods and services go, PVCs and the secret stay.
    if policy == "DoNotTerminate" {
        let msg = err_message(merge(&dbs, &name, json!({ "spec": { "halted": true } })).await);
        assert!(
            msg.contains("spec.halted") && msg.contains("DoNotTerminate"),
            "{msg}"
        );
        merge(
            &dbs,
            &name,
            json!({ "spec": { "halted": true, "deletionPolicy": "Halt" } }),
        )
        .await
        .expect("halt");
    } else {
        merge(&dbs, &name, json!({ "spec": { "halted": true } }))
            .await
            .expect("halt");
    }
    let halted = wait_phase(&dbs, &name, "Halted", 10).await;
    assert_eq!(
        halted.data["spec"]["deletionPolicy"], "Halt",
        "halting switches the policy to Halt"
    );
    wait_for(10, "pods and services gone", || async {
        (names(&pods, &instance(&name)).await.is_empty()
            && names(&svcs, &instance(&name)).await.is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(names(&pvcs, &instance(&name)).await.len(), e.pods);
    assert!(secrets.get_opt(&auth).await.expect("get").is_some());

    // Resume with the wanted policy again.
    merge(
        &dbs,
        &name,
        json!({ "spec": { "halted": false, "deletionPolicy": policy } }),
    )
    .await
    .expect("resume");
    wait_phase(&dbs, &name, "Ready", 10).await;
    wait_for(10, "pods back", || async {
        (names(&pods, &instance(&name)).await.len() == e.pods).then_some(())
    })
    .await;

    // Delete per policy.
    if policy == "DoNotTerminate" {
        let msg = err_message(delete(&dbs, &name).await);
        assert!(msg.contains("DoNotTerminate"), "{msg}");
        merge(&dbs, &name, json!({ "spec": { "deletionPolicy": "Halt" } }))
            .await
            .expect("switch to Halt");
    }
    delete(&dbs, &name).await.expect("delete");
    wait_gone(&dbs, &name, 10).await;
    wait_for(10, "pods gone after delete", || async {
        names(&pods, &instance(&name))
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    let pvcs_left = names(&pvcs, &instance(&name)).await;
    let secret_left = secrets.get_opt(&auth).await.expect("get").is_some();
    match policy {
        "Delete" => {
            assert!(
                pvcs_left.is_empty(),
                "{name}: Delete keeps no PVCs: {pvcs_left:?}"
            );
            assert!(secret_left, "{name}: Delete keeps the secret");
        }
        "WipeOut" => {
            assert!(pvcs_left.is_empty(), "{name}: WipeOut keeps no PVCs");
            assert!(!secret_left, "{name}: WipeOut removes the secret");
        }
        _ => {
            assert_eq!(pvcs_left.len(), e.pods, "{name}: Halt keeps the PVCs");
            for p in &pvcs_left {
                let pvc = pvcs.get(p).await.expect("pvc");
                assert!(
                    pvc.metadata.owner_references.unwrap_or_default().is_empty(),
                    "{p} keeps no owner"
                );
            }
            assert!(secret_left, "{name}: Halt keeps the secret");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_lives_and_dies_by_its_deletion_policy() {
    let sim = start().await;
    ensure_namespace(&sim, "life").await;
    let all = engines();
    let runs = all.iter().map(|e| {
        let sim = &sim;
        async move {
            for policy in ["Delete", "WipeOut", "Halt", "DoNotTerminate"] {
                lifecycle(sim, e, policy).await;
            }
        }
    });
    futures::future::join_all(runs).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_phases_restores_and_exporters() {
    let sim = start().await;
    let ns = "faults";
    ensure_namespace(&sim, ns).await;
    let pgs = api(&sim, ns, &db_ar("Postgres"));
    let spec = json!({ "version": "17.9", "replicas": 2, "storage": { "resources": { "requests": { "storage": "1Gi" } } },
                       "monitor": { "agent": "prometheus.io/builtin" } });
    create(&sim, &db_ar("Postgres"), json!({ "apiVersion": "kubedb.com/v1", "kind": "Postgres", "metadata": { "name": "pg", "namespace": ns }, "spec": spec }))
        .await
        .expect("create");
    wait_phase(&pgs, "pg", "Ready", 20).await;

    sim.faults.update(|f| {
        f.force_db_phase
            .insert(format!("{ns}/pg"), "Critical".into());
    });
    wait_phase(&pgs, "pg", "Critical", 10).await;
    sim.faults.update(|f| {
        f.force_db_phase
            .insert(format!("{ns}/pg"), "NotReady".into());
    });
    wait_phase(&pgs, "pg", "NotReady", 10).await;
    sim.faults.update(|f| {
        f.force_db_phase.clear();
    });
    wait_phase(&pgs, "pg", "Ready", 10).await;

    // the exporter answers through the API server's service proxy
    let req = http::Request::get(format!(
        "/api/v1/namespaces/{ns}/services/pg-stats:metrics/proxy/metrics"
    ))
    .body(Vec::new())
    .expect("request");
    let text = sim
        .client()
        .request_text(req)
        .await
        .expect("metrics through the proxy");
    for family in [
        "pg_up",
        "pg_stat_database_xact_commit",
        "pg_stat_database_numbackends",
        "pg_replication_lag",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "missing {family}"
        );
    }
    // no monitor, no exporter: 503 like a service without endpoints
    create(
        &sim,
        &db_ar("Redis"),
        json!({ "apiVersion": "kubedb.com/v1", "kind": "Redis", "metadata": { "name": "plain", "namespace": ns },
                "spec": { "version": "7.4.6", "storage": { "resources": { "requests": { "storage": "1Gi" } } } } }),
    )
    .await
    .expect("create redis");
    let req = http::Request::get(format!(
        "/api/v1/namespaces/{ns}/services/plain-stats:metrics/proxy/metrics"
    ))
    .body(Vec::new())
    .expect("request");
    assert!(sim.client().request_text(req).await.is_err());

    // waitForInitialRestore holds the database in DataRestoring
    let mgs = api(&sim, ns, &db_ar("MongoDB"));
    create(
        &sim,
        &db_ar("MongoDB"),
        json!({ "apiVersion": "kubedb.com/v1", "kind": "MongoDB", "metadata": { "name": "copy", "namespace": ns },
                "spec": { "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0" }, "init": { "waitForInitialRestore": true },
                          "storage": { "resources": { "requests": { "storage": "1Gi" } } } } }),
    )
    .await
    .expect("create mongo");
    wait_phase(&mgs, "copy", "DataRestoring", 10).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_takes_the_configured_delay() {
    let sim = start_with(sim::OperatorConfig {
        provisioning_delay: std::time::Duration::from_millis(1500),
        step_delay: std::time::Duration::from_millis(300),
    })
    .await;
    let ns = "slow";
    ensure_namespace(&sim, ns).await;
    let rds = api(&sim, ns, &db_ar("Redis"));
    let t0 = std::time::Instant::now();
    create(
        &sim,
        &db_ar("Redis"),
        json!({ "apiVersion": "kubedb.com/v1", "kind": "Redis", "metadata": { "name": "r", "namespace": ns },
                "spec": { "version": "7.4.6", "storageType": "Ephemeral", "deletionPolicy": "Delete" } }),
    )
    .await
    .expect("create");
    wait_phase(&rds, "r", "Provisioning", 5).await;
    wait_phase(&rds, "r", "Ready", 10).await;
    // second-precision timestamps may round the start down by up to a second
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(400),
        "became Ready too early: {:?}",
        t0.elapsed()
    );
    sim.shutdown().await;
}
