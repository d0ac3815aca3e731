//! Shared helpers for the KubeDB simulator tests: a cluster with the real upstream CRDs when
//! `../shared/kubedb-crds` exists, the operator running with zero delays, and small API helpers.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use sim::{OperatorConfig, SimConfig, SimHandle};

pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

/// The upstream CRDs, unless `SIM_TEST_GENERATED_CRDS=1` asks for the generated ones.
pub fn crds_dir() -> Option<PathBuf> {
    if std::env::var("SIM_TEST_GENERATED_CRDS").is_ok_and(|v| v == "1") {
        eprintln!(
            "NOTE: SIM_TEST_GENERATED_CRDS=1: using the CRDs generated from the typed definitions"
        );
        return None;
    }
    let d = shared_dir().join("kubedb-crds");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "NOTE: {} not found; running against the CRDs generated from the typed definitions",
            d.display()
        );
        None
    }
}

pub async fn start() -> SimHandle {
    start_with(OperatorConfig {
        provisioning_delay: Duration::ZERO,
        step_delay: Duration::ZERO,
    })
    .await
}

pub async fn start_with(operator: OperatorConfig) -> SimHandle {
    let config = SimConfig {
        crds_dir: crds_dir(),
        operator,
        ..Default::default()
    };
    sim::start(config).await.expect("simulated cluster starts")
}

pub fn ar(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    };
    ApiResource {
        group,
        version,
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub fn db_ar(kind: &str) -> ApiResource {
    let meta = provider::kubedb::names::by_kind(kind).expect("known kind");
    ar("kubedb.com/v1", meta.kind, meta.plural)
}

pub fn ops_ar(kind: &str) -> ApiResource {
    let meta = provider::kubedb::names::by_kind(kind).expect("known kind");
    ar("ops.kubedb.com/v1alpha1", meta.ops_kind, meta.ops_plural)
}

pub fn api(sim: &SimHandle, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(sim.client(), ns, ar)
}

pub fn core(sim: &SimHandle, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    api(sim, ns, &ar("v1", kind, plural))
}

pub async fn ensure_namespace(sim: &SimHandle, ns: &str) {
    let nss: Api<DynamicObject> = Api::all_with(sim.client(), &ar("v1", "Namespace", "namespaces"));
    let obj: DynamicObject = serde_json::from_value(
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } }),
    )
    .expect("namespace");
    match nss.create(&PostParams::default(), &obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("creating namespace {ns}: {e}"),
    }
}

/// Creates an object from JSON with the right API.
pub async fn create(
    sim: &SimHandle,
    ar: &ApiResource,
    obj: Value,
) -> Result<DynamicObject, kube::Error> {
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let dobj: DynamicObject = serde_json::from_value(obj).expect("object json");
    api(sim, &ns, ar)
        .create(&PostParams::default(), &dobj)
        .await
}

pub async fn merge(
    api: &Api<DynamicObject>,
    name: &str,
    patch: Value,
) -> Result<DynamicObject, kube::Error> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
}

pub async fn delete(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    api.delete(name, &DeleteParams::default()).await.map(|_| ())
}

/// The API error's message, for asserting on admission denials.
pub fn err_message(r: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match r {
        Ok(v) => panic!("expected a rejection, got {v:?}"),
        Err(kube::Error::Api(s)) => format!("{} {}", s.code, s.message),
        Err(e) => panic!("expected an API error, got {e}"),
    }
}

/// Polls until `f` yields `Some`, or panics after `secs` with `what`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

pub async fn wait_phase(
    api: &Api<DynamicObject>,
    name: &str,
    phase: &str,
    secs: u64,
) -> DynamicObject {
    let what = format!("{name} to reach phase {phase}");
    wait_for(secs, &what, || async {
        let o = api.get_opt(name).await.ok().flatten()?;
        (o.data["status"]["phase"] == phase).then_some(o)
    })
    .await
}

pub async fn wait_gone(api: &Api<DynamicObject>, name: &str, secs: u64) {
    let what = format!("{name} to be deleted");
    wait_for(secs, &what, || async {
        matches!(api.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
}

pub async fn names(api: &Api<DynamicObject>, selector: &str) -> Vec<String> {
    let lp = kube::api::ListParams::default().labels(selector);
    let mut v: Vec<String> = api
        .list(&lp)
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .collect();
    v.sort();
    v
}

pub fn instance(db: &str) -> String {
    format!("app.kubernetes.io/instance={db}")
}
