//! The upstream KubeDB/KubeStash CRDs served by the simulated API server: every one of the 29
//! is served, and objects are validated against their real openAPIV3Schema.

use std::path::PathBuf;
use std::time::Instant;

use kube::api::{Api, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::Discovery;
use serde_json::{json, Value};
use sim::SimConfig;

fn crds_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/kubedb-crds"
    ));
    if dir.is_dir() {
        println!("using the real upstream CRDs in {}", dir.display());
        Some(dir)
    } else {
        println!("../shared/kubedb-crds not found: testing against the CRDs generated from the typed definitions");
        None
    }
}

fn status(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_upstream_crd_is_served() {
    let Some(dir) = crds_dir() else { return };
    let started = Instant::now();
    let files = sim::load_crd_dir(&dir).unwrap();
    println!(
        "parsed {} CRD files in {:?}",
        files.len(),
        started.elapsed()
    );
    assert_eq!(files.len(), 29);
    let sim = sim::start(SimConfig {
        run_operator: false,
        crds_dir: Some(dir),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    println!(
        "sim with all CRDs started in {:?} (debug build)",
        started.elapsed()
    );
    println!(
        "catalog objects rejected by the served schemas: {}",
        sim.bootstrap_warnings.len()
    );
    for w in &sim.bootstrap_warnings {
        println!("  {w}");
    }
    assert!(
        sim.bootstrap_warnings.is_empty(),
        "the catalog must validate against the upstream CRDs"
    );
    let discovery = Discovery::new(sim.client()).run().await.unwrap();
    for crd in &files {
        let group = crd["spec"]["group"].as_str().unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap();
        for v in crd["spec"]["versions"].as_array().unwrap() {
            let version = v["name"].as_str().unwrap();
            let (ar, _) = discovery
                .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
                .unwrap_or_else(|| panic!("{group}/{version} {kind} not served"));
            assert_eq!(ar.plural, plural);
            // And it answers a list.
            let api: Api<DynamicObject> = Api::all_with(sim.client(), &ar);
            api.list(&Default::default())
                .await
                .unwrap_or_else(|e| panic!("list {plural}.{group}/{version}: {e}"));
        }
    }
    sim.shutdown().await;
}

fn postgres(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "kubedb.com/v1", "kind": "Postgres", "metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
}

#[tokio::test]
async fn postgres_schema_rejections_name_the_field() {
    let dir = crds_dir();
    let real = dir.is_some();
    let sim = sim::start(SimConfig {
        run_operator: false,
        crds_dir: dir,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let discovery = Discovery::new(sim.client()).run().await.unwrap();
    let (ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("kubedb.com", "v1", "Postgres"))
        .expect("postgres served");
    let pgs: Api<DynamicObject> = Api::namespaced_with(sim.client(), "default", &ar);
    let version = sim
        .state
        .list("catalog.kubedb.com/v1alpha1", "postgresversions", None)
        .iter()
        .find(|v| v.pointer("/spec/deprecated").and_then(Value::as_bool) != Some(true))
        .and_then(|v| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .expect("a postgres version in the catalog");

    let cases: Vec<(&str, DynamicObject, &str)> = vec![
        (
            "wrong type",
            postgres("bad-type", json!({"version": version, "replicas": "three"})),
            "spec.replicas",
        ),
        (
            "enum",
            postgres(
                "bad-enum",
                json!({"version": version, "storageType": "Floppy"}),
            ),
            "spec.storageType",
        ),
        (
            "enum",
            postgres(
                "bad-policy",
                json!({"version": version, "deletionPolicy": "Sometimes"}),
            ),
            "spec.deletionPolicy",
        ),
        (
            "required",
            postgres("no-version", json!({"replicas": 1})),
            "spec.version",
        ),
        (
            "nested type",
            postgres(
                "bad-nested",
                json!({"version": version, "storage": {"accessModes": "ReadWriteOnce"}}),
            ),
            "spec.storage.accessModes",
        ),
    ];
    for (what, obj, field) in cases {
        let e = status(pgs.create(&PostParams::default(), &obj).await.unwrap_err());
        assert_eq!(e.code, 422, "{what}: {}", e.message);
        assert_eq!(e.reason, "Invalid");
        assert!(
            e.message.contains(field),
            "{what}: message {:?} should name {field}",
            e.message
        );
        assert!(
            e.details
                .as_ref()
                .unwrap()
                .causes
                .iter()
                .any(|c| c.field == field),
            "{what}: causes {:?}",
            e.details
        );
    }
    if real {
        // The upstream schema also restricts metadata.name.
        let e = status(
            pgs.create(
                &PostParams::default(),
                &postgres("Bad_Name", json!({"version": version})),
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(e.code, 422, "{}", e.message);
        assert!(e.message.contains("metadata.name"), "{}", e.message);
    }

    // A valid object is accepted; unknown fields are pruned; int-or-string quantities pass.
    let ok = postgres(
        "good",
        json!({"version": version, "replicas": 1, "notAField": true,
               "storage": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
               "podTemplate": {"spec": {"containers": [{"name": "postgres", "resources": {"requests": {"cpu": 1, "memory": "512Mi"}}}]}}}),
    );
    let created = pgs.create(&PostParams::default(), &ok).await.unwrap();
    assert!(created.data["spec"].get("notAField").is_none());
    assert_eq!(
        created.data["spec"]["podTemplate"]["spec"]["containers"][0]["resources"]["requests"]
            ["cpu"],
        1
    );
    sim.shutdown().await;
}
