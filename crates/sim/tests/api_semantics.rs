//! Kubernetes API semantics of the simulated server, exercised with the real `kube` client.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, Service};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Client, Discovery};
use serde_json::json;
use sim::{SimConfig, SimHandle};

async fn sim() -> SimHandle {
    sim::start(SimConfig {
        run_operator: false,
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

async fn sim_with_history(history: usize) -> SimHandle {
    sim::start(SimConfig {
        run_operator: false,
        watch_history: history,
        bookmark_interval: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .expect("sim starts")
}

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .unwrap()
}

async fn make_ns(client: &Client, name: &str) {
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
    )
    .await
    .unwrap();
}

fn api_err(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_conflicts_and_errors() {
    let sim = sim().await;
    let client = sim.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("a", &[]))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    assert_eq!(meta.generation, Some(1));

    let dup = api_err(
        cms.create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let missing = api_err(cms.get("nope").await.unwrap_err());
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(
        missing.details.as_ref().map(|d| d.name.as_str()),
        Some("nope")
    );

    // Optimistic concurrency: replace with a stale resourceVersion is a 409 Conflict.
    let mut fresh = created.clone();
    fresh.data = Some(BTreeMap::from([("k".into(), "v2".into())]));
    let updated = cms
        .replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    let stale = api_err(
        cms.replace("a", &PostParams::default(), &fresh)
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));

    // generateName
    let mut gen = cm("", &[]);
    gen.metadata.name = None;
    gen.metadata.generate_name = Some("gen-".into());
    let g = cms.create(&PostParams::default(), &gen).await.unwrap();
    assert!(g.metadata.name.as_deref().unwrap().starts_with("gen-"));
    assert_eq!(g.metadata.name.as_deref().unwrap().len(), 9);

    // Namespace must exist.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "missing-ns");
    let e = api_err(
        elsewhere
            .create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
    assert!(
        e.message.contains("namespaces \"missing-ns\" not found"),
        "{}",
        e.message
    );

    // Secrets fold stringData into base64 data.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    )
    .unwrap();
    let s = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(s.data.unwrap()["password"].0, b"hunter2");
    assert!(s.string_data.is_none());

    // Services get a ClusterIP; LoadBalancers an ingress IP.
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 5432}]}})).unwrap();
    let svc = svcs.create(&PostParams::default(), &svc).await.unwrap();
    let ip = svc.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.9"), "{ip}");
    assert!(
        svc.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip
            .is_some()
    );

    // Nodes and the default StorageClass are installed.
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(nodes.items.len(), 3);
    assert!(nodes.items[0]
        .status
        .as_ref()
        .unwrap()
        .allocatable
        .as_ref()
        .unwrap()
        .contains_key("cpu"));

    // Bad token → 401.
    let bad = sim.kubeconfig_yaml.replace(&sim.token, "wrong-token");
    let bad_client = sim::client_from_kubeconfig(&bad).await.unwrap();
    let e = api_err(
        Api::<ConfigMap>::namespaced(bad_client, "default")
            .get("a")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 401);

    let counts = sim.request_counts();
    assert!(counts.get("create", "configmaps") >= 3, "{counts:?}");
    assert!(counts.get("update", "configmaps") >= 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn selectors_and_pagination() {
    let sim = sim().await;
    let client = sim.client();
    make_ns(&client, "sel").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "sel");
    for i in 0..25 {
        let tier = if i % 2 == 0 { "gold" } else { "silver" };
        let mut labels = vec![("app", "db"), ("tier", tier)];
        if i % 5 == 0 {
            labels.push(("backup", "yes"));
        }
        cms.create(&PostParams::default(), &cm(&format!("cm-{i:02}"), &labels))
            .await
            .unwrap();
    }
    let count = |sel: &'static str| {
        let cms = cms.clone();
        async move {
            cms.list(&ListParams::default().labels(sel))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(count("app=db").await, 25);
    assert_eq!(count("tier==gold").await, 13);
    assert_eq!(count("tier!=gold").await, 12);
    assert_eq!(count("tier in (gold,silver)").await, 25);
    assert_eq!(count("tier notin (gold)").await, 12);
    assert_eq!(count("backup").await, 5);
    assert_eq!(count("!backup").await, 20);
    assert_eq!(count("app=db,tier=gold,backup").await, 3);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-07"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let all_ns: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        all_ns
            .list(&ListParams::default().fields("metadata.namespace=sel"))
            .await
            .unwrap()
            .items
            .len(),
        25
    );

    // limit/continue walks every item exactly once, in order.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(10).labels("app=db");
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        assert!(page.metadata.resource_version.is_some());
        seen.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(t) => {
                assert!(page.metadata.remaining_item_count.unwrap() > 0);
                token = Some(t);
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_resume_bookmarks_and_gone() {
    let sim = sim_with_history(20).await;
    let client = sim.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms
        .create(&PostParams::default(), &cm("w0", &[]))
        .await
        .unwrap();
    let start_rv = first.metadata.resource_version.clone().unwrap();
    for i in 1..4 {
        cms.create(&PostParams::default(), &cm(&format!("w{i}"), &[]))
            .await
            .unwrap();
    }
    cms.delete("w1", &DeleteParams::default()).await.unwrap();

    // Resume from a resourceVersion: exactly the later events, in order.
    let wp = WatchParams::default().timeout(5).disable_bookmarks();
    let mut stream = cms.watch(&wp, &start_rv).await.unwrap().boxed();
    let mut got = Vec::new();
    while got.len() < 4 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Added(c)) => got.push(format!("+{}", c.metadata.name.unwrap())),
            Some(WatchEvent::Deleted(c)) => got.push(format!("-{}", c.metadata.name.unwrap())),
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(got, vec!["+w1", "+w2", "+w3", "-w1"]);

    // Live events arrive on an open watch, with bookmarks when asked for.
    let now_rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut live = cms
        .watch(&WatchParams::default().timeout(10), &now_rv)
        .await
        .unwrap()
        .boxed();
    let mut changed = cms.get("w2").await.unwrap();
    changed.data = Some(BTreeMap::from([("k".into(), "changed".into())]));
    cms.replace("w2", &PostParams::default(), &changed)
        .await
        .unwrap();
    let mut saw_modified = false;
    let mut saw_bookmark = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(saw_modified && saw_bookmark) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), live.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(WatchEvent::Modified(c)) => {
                assert_eq!(c.data.unwrap()["k"], "changed");
                saw_modified = true;
            }
            Some(WatchEvent::Bookmark(b)) => {
                assert!(!b.metadata.resource_version.is_empty());
                saw_bookmark = true;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert!(saw_modified && saw_bookmark);

    // Push the history window past the first version: resuming there is 410 Gone.
    for i in 0..30 {
        cms.create(&PostParams::default(), &cm(&format!("fill{i}"), &[]))
            .await
            .unwrap();
    }
    let mut old = cms
        .watch(&WatchParams::default().timeout(5), &start_rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), old.try_next())
        .await
        .unwrap()
    {
        Ok(Some(WatchEvent::Error(s))) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }

    // kube-runtime's watcher (list + watch) sees the state too.
    let events = kube::runtime::watcher(cms.clone(), kube::runtime::watcher::Config::default());
    let objs = kube::runtime::WatchStreamExt::applied_objects(events);
    let first_seen = tokio::time::timeout(Duration::from_secs(5), Box::pin(objs).try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(first_seen.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn finalizers_owner_gc_and_namespace_cascade() {
    let sim = sim().await;
    let client = sim.client();
    make_ns(&client, "gc").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "gc");

    // Finalizers hold the object with a deletionTimestamp until they are removed.
    let mut held = cm("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    let add = api_err(
        cms.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "other/new"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(add.code, 403);
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // Owner references: deleting the owner collects the dependents.
    let owner = cms
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    let uid = owner.metadata.uid.clone().unwrap();
    for i in 0..3 {
        let dep: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("dep{i}"),
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}}))
        .unwrap();
        cms.create(&PostParams::default(), &dep).await.unwrap();
    }
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = cms.list(&ListParams::default()).await.unwrap().items.len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0);

    // Namespace deletion cascades to everything in it.
    for i in 0..5 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("gc", &DeleteParams::default()).await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if nss.get_opt("gc").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "namespace was not removed");
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default().fields("metadata.namespace=gc"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    sim.shutdown().await;
}

fn widget_crd() -> serde_json::Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 1, "maximum": 10},
                        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "string"}}}}
                    }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}, "observedGeneration": {"type": "integer"}}}
                }}}}]}
    })
}

#[tokio::test]
async fn crd_status_subresource_and_patch_types() {
    let sim = sim().await;
    let client = sim.client();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(client.clone());
    let crd = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(widget_crd()).unwrap(),
        )
        .await
        .unwrap();
    let conds = crd.status.unwrap().conditions.unwrap();
    assert!(conds
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True"));

    // Discovery finds it.
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("widget discovered");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);

    let obj = |size: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": size, "unknownField": 1, "items": [{"name": "a", "v": "1"}]}, "status": {"phase": "Ignored"}}))
        .unwrap()
    };
    // Schema: type error names the field.
    let e = api_err(
        widgets
            .create(&PostParams::default(), &obj(json!("three")))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.contains("spec.size"), "{}", e.message);
    assert_eq!(e.details.unwrap().causes[0].field, "spec.size");
    let e = api_err(
        widgets
            .create(&PostParams::default(), &obj(json!(11)))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("spec.size") && e.message.contains("less than or equal to 10"),
        "{}",
        e.message
    );

    // Defaults applied, unknown fields pruned, status dropped on create.
    let w = widgets
        .create(&PostParams::default(), &obj(json!(2)))
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["mode"], "safe");
    assert!(w.data["spec"].get("unknownField").is_none());
    assert!(w.data.get("status").is_none());
    assert_eq!(w.metadata.generation, Some(1));

    // Strict field validation rejects unknown fields.
    let mut strict = obj(json!(2));
    strict.metadata.name = Some("strict".into());
    let e = api_err(
        widgets
            .patch(
                "strict",
                &PatchParams::apply("tests").validation_strict(),
                &Patch::Apply(&strict),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert!(
        e.message.contains("unknown field \"spec.unknownField\""),
        "{}",
        e.message
    );

    // Status subresource: only status changes; generation does not move.
    let s = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(s.data["status"]["phase"], "Ready");
    assert_eq!(s.data["spec"]["size"], 2);
    assert_eq!(s.metadata.generation, Some(1));
    // Main resource: status changes are ignored; spec changes bump generation; metadata-only do not.
    let m = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Hacked"}, "metadata": {"labels": {"a": "b"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(m.data["status"]["phase"], "Ready");
    assert_eq!(m.metadata.generation, Some(1));
    let m = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(m.metadata.generation, Some(2));

    // JSON patch, with a failing test op.
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/size", "value": 4}]))
            .unwrap();
    let m = widgets
        .patch("w", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(m.data["spec"]["size"], 4);
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/size", "value": 99}])).unwrap();
    assert_eq!(
        api_err(
            widgets
                .patch("w", &PatchParams::default(), &Patch::<()>::Json(bad))
                .await
                .unwrap_err()
        )
        .code,
        422
    );

    // Strategic merge: lists merge by name.
    let m = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(
                json!({"spec": {"items": [{"name": "a", "v": "2"}, {"name": "b", "v": "3"}]}}),
            ),
        )
        .await
        .unwrap();
    let items = m.data["spec"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(m.data["spec"]["items"][0]["v"], "2");
    // Server-side apply: creates when absent, merges when present; schema still applies.
    let applied: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "ssa"}, "spec": {"size": 5}})).unwrap();
    let a = widgets
        .patch(
            "ssa",
            &PatchParams::apply("tests").force(),
            &Patch::Apply(&applied),
        )
        .await
        .unwrap();
    assert_eq!(a.data["spec"]["mode"], "safe");
    let applied2: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "ssa"}, "spec": {"size": 6, "mode": "fast"}})).unwrap();
    let a = widgets
        .patch(
            "ssa",
            &PatchParams::apply("tests"),
            &Patch::Apply(&applied2),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            a.data["spec"]["size"].as_i64(),
            a.data["spec"]["mode"].as_str()
        ),
        (Some(6), Some("fast"))
    );
    assert_eq!(a.metadata.generation, Some(2));
    let bad_apply: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "ssa"}, "spec": {"mode": "slow"}})).unwrap();
    let e = api_err(
        widgets
            .patch(
                "ssa",
                &PatchParams::apply("tests"),
                &Patch::Apply(&bad_apply),
            )
            .await
            .unwrap_err(),
    );
    assert!(e.message.contains("spec.mode"), "{}", e.message);

    // Deleting the CRD stops serving it.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let e = api_err(widgets.get("w").await.unwrap_err());
    assert_eq!(e.code, 404);
    let _ = ApiResource::erase::<ConfigMap>(&());
    sim.shutdown().await;
}

#[tokio::test]
async fn https_kubeconfig_faults_state_file_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = || SimConfig {
        run_operator: false,
        tls: true,
        state_file: Some(state.clone()),
        ..SimConfig::default()
    };
    let sim = sim::start(config()).await.unwrap();
    assert!(sim.url.starts_with("https://"));
    assert!(sim.kubeconfig_yaml.contains("certificate-authority-data"));
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    cms.create(&PostParams::default(), &cm("kept", &[("keep", "yes")]))
        .await
        .unwrap();

    // Fault injection through the admin endpoint: every list fails with 500.
    let http = reqwest_like_get(&sim, "/sim/faults").await;
    assert!(http.contains("\"api\""));
    sim.faults.set(sim::FaultSettings {
        api: vec![sim::faults::ApiFault {
            verb: Some("list".into()),
            resource: Some("configmaps".into()),
            error_rate: 1.0,
            error: Some(sim::faults::FaultKind::ServerError),
            latency_ms: 0,
        }],
        ..Default::default()
    });
    let e = api_err(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 500);
    assert!(cms.get("kept").await.is_ok());
    sim.faults.set(sim::FaultSettings::default());

    let metrics = reqwest_like_get(&sim, "/metrics").await;
    assert!(
        metrics.contains("apiserver_request_total{verb=\"create\",resource=\"configmaps\""),
        "{metrics}"
    );
    let rv_before = cms
        .get("kept")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    sim.shutdown().await;

    // Restart from the state file: the object and the resourceVersion counter survive.
    let sim = sim::start(config()).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client(), "default");
    let kept = cms.get("kept").await.unwrap();
    assert_eq!(kept.metadata.resource_version.unwrap(), rv_before);
    let next = cms
        .create(&PostParams::default(), &cm("after", &[]))
        .await
        .unwrap();
    assert!(
        next.metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv_before.parse::<u64>().unwrap()
    );
    sim.shutdown().await;
}

/// A raw GET through the kube client's HTTP stack (non-resource paths).
async fn reqwest_like_get(sim: &SimHandle, path: &str) -> String {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    sim.client().request_text(req).await.unwrap()
}

struct EchoBackend;

impl sim::proxy::ProxyBackend for EchoBackend {
    fn proxy(
        &self,
        namespace: &str,
        service: &str,
        port: &str,
        path: &str,
        query: Option<&str>,
    ) -> Option<sim::proxy::ProxyResponse> {
        (service != "dark").then(|| sim::proxy::ProxyResponse {
            status: 200,
            content_type: "text/plain; version=0.0.4".into(),
            body: bytes::Bytes::from(format!(
                "echo {namespace}/{service}:{port}{path}?{}",
                query.unwrap_or("")
            )),
        })
    }
}

#[tokio::test]
async fn service_proxy_forwards_to_the_backend() {
    let sim = sim().await;
    sim.api_server().set_proxy(std::sync::Arc::new(EchoBackend));
    let svcs: Api<Service> = Api::namespaced(sim.client(), "default");
    let dark: Service = serde_json::from_value(
        json!({"metadata": {"name": "dark"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    svcs.create(&PostParams::default(), &dark).await.unwrap();
    let text = reqwest_like_get(
        &sim,
        "/api/v1/namespaces/default/services/kubernetes:https/proxy/metrics?x=1",
    )
    .await;
    assert_eq!(text, "echo default/kubernetes:https/metrics?x=1");
    // Nothing behind the service: 503 as a real server without endpoints; unknown service: 404.
    let req = http::Request::get("/api/v1/namespaces/default/services/dark:80/proxy/metrics")
        .body(Vec::new())
        .unwrap();
    let no_retry = sim.client_without_retries().await.unwrap();
    assert_eq!(
        api_err(no_retry.request_text(req).await.unwrap_err()).code,
        503
    );
    let req = http::Request::get("/api/v1/namespaces/default/services/nope:80/proxy/metrics")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        api_err(sim.client().request_text(req).await.unwrap_err()).code,
        404
    );
    assert_eq!(sim.request_counts().verb("proxy"), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn fault_injection_cuts_watches_drops_and_throttles() {
    let sim = sim().await;
    let cms: Api<ConfigMap> =
        Api::namespaced(sim.client_without_retries().await.unwrap(), "default");
    sim.faults.set(sim::FaultSettings {
        cut_watches_after_secs: Some(1),
        ..Default::default()
    });
    let started = std::time::Instant::now();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(60), "0")
        .await
        .unwrap()
        .boxed();
    // The watch ends (stream closes) after about a second instead of 60.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.try_next().await {}
    })
    .await;
    assert!(ended.is_ok(), "watch was not cut");
    assert!(started.elapsed() < Duration::from_secs(4));

    let rule = |kind| sim::faults::ApiFault {
        verb: Some("get".into()),
        resource: Some("configmaps".into()),
        latency_ms: 0,
        error_rate: 1.0,
        error: Some(kind),
    };
    sim.faults.set(sim::FaultSettings {
        api: vec![rule(sim::faults::FaultKind::TooManyRequests)],
        ..Default::default()
    });
    let e = api_err(cms.get("x").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
    sim.faults.set(sim::FaultSettings {
        api: vec![rule(sim::faults::FaultKind::Drop)],
        ..Default::default()
    });
    let e = cms.get("x").await.unwrap_err();
    assert!(
        !matches!(e, kube::Error::Api(_)),
        "a dropped connection is a transport error: {e:?}"
    );
    // Latency only.
    sim.faults.set(sim::FaultSettings {
        api: vec![sim::faults::ApiFault {
            verb: Some("list".into()),
            resource: None,
            latency_ms: 300,
            error_rate: 0.0,
            error: None,
        }],
        ..Default::default()
    });
    let t = std::time::Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.faults.set(sim::FaultSettings::default());
    assert_eq!(api_err(cms.get("x").await.unwrap_err()).code, 404);
    sim.shutdown().await;
}
