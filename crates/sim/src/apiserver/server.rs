//! The API server's object semantics, independent of HTTP: create/update/patch/delete with
//! metadata management, optimistic concurrency, the status subresource, schema validation,
//! admission, finalizers, garbage collection and namespace cascade.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use parking_lot::RwLock;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::error::{ApiError, Subject};
use super::metrics::Metrics;
use super::patch::{self, PatchType};
use super::registry::{
    compile_version_schema, crd_identity, crd_status, resource_from_crd, Registry, ResourceInfo,
};
use super::schema::Cause;
use super::state::ClusterState;
use super::store::{rv_of, Store, StoreError};
use crate::admission::{Admission, AdmissionOp, AdmissionRequest, AllowAll};
use crate::faults::Faults;
use crate::proxy::ProxyBackend;

/// Options shared by the write verbs.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned silently.
    pub strict: bool,
    pub field_manager: Option<String>,
    pub force: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub dry_run: bool,
    pub precondition_rv: Option<u64>,
    pub precondition_uid: Option<String>,
    /// `Orphan` leaves dependents alone.
    pub orphan: bool,
}

pub struct ApiServer {
    pub store: Arc<Store>,
    pub registry: Registry,
    admission: RwLock<Arc<dyn Admission>>,
    proxy: RwLock<Option<Arc<dyn ProxyBackend>>>,
    pub faults: Arc<Faults>,
    /// Bearer token → client name; empty means no authentication.
    pub tokens: std::collections::HashMap<String, String>,
    pub metrics: Metrics,
    next_ip: AtomicU32,
    next_lb_ip: AtomicU32,
    /// Seconds between watch bookmarks when a client asks for them.
    pub bookmark_interval: Duration,
    /// Set by `into_arc`, for background work (namespace cleanup).
    me: RwLock<Option<std::sync::Weak<ApiServer>>>,
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(key)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata was just made an object")
}

fn finalizers(obj: &Value) -> usize {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0)
}

/// Everything but metadata and status: what `metadata.generation` tracks.
fn spec_equal(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let skip =
                |k: &String| matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind");
            let ak: Vec<_> = a.iter().filter(|(k, _)| !skip(k)).collect();
            let bk: Vec<_> = b.iter().filter(|(k, _)| !skip(k)).collect();
            ak == bk
        }
        _ => a == b,
    }
}

/// `a` and `b` hold the same keys with the same values, `skip` aside, and `same_skipped` accepts
/// their values at `skip`.
fn same_except(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    skip: &str,
    same_skipped: impl Fn(Option<&Value>, Option<&Value>) -> bool,
) -> bool {
    let count = |m: &Map<String, Value>| m.len() - usize::from(m.contains_key(skip));
    count(a) == count(b)
        && a.iter().all(|(k, v)| k == skip || b.get(k) == Some(v))
        && same_skipped(a.get(skip), b.get(skip))
}

/// The write would store what is stored already (the resourceVersion aside). The API server
/// then writes nothing: the resourceVersion stays and watchers get no event.
fn unchanged(old: &Value, new: &Value) -> bool {
    match (old.as_object(), new.as_object()) {
        (Some(o), Some(n)) => same_except(o, n, "metadata", |a, b| {
            match (a.and_then(Value::as_object), b.and_then(Value::as_object)) {
                (Some(a), Some(b)) => same_except(a, b, "resourceVersion", |_, _| true),
                _ => a == b,
            }
        }),
        _ => old == new,
    }
}

/// Converts a stored object to the requested version (versions differ only in apiVersion here).
pub fn present(obj: &Arc<Value>, info: &ResourceInfo, version: &str) -> Arc<Value> {
    let want = info.api_version(version);
    if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
        return obj.clone();
    }
    let mut v = (**obj).clone();
    v["apiVersion"] = Value::String(want);
    Arc::new(v)
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

impl ApiServer {
    pub fn new(tokens: std::collections::HashMap<String, String>, faults: Arc<Faults>) -> Self {
        Self {
            store: Arc::new(Store::default()),
            registry: Registry::with_builtins(),
            admission: RwLock::new(Arc::new(AllowAll)),
            proxy: RwLock::new(None),
            faults,
            tokens,
            metrics: Metrics::default(),
            // 10.96.0.0/12: .0.1 is the kubernetes service, start after it.
            next_ip: AtomicU32::new(u32::from(Ipv4Addr::new(10, 96, 0, 10))),
            next_lb_ip: AtomicU32::new(u32::from(Ipv4Addr::new(172, 18, 255, 1))),
            bookmark_interval: Duration::from_secs(5),
            me: RwLock::new(None),
        }
    }

    pub fn into_arc(self) -> Arc<Self> {
        let arc = Arc::new(self);
        *arc.me.write() = Some(Arc::downgrade(&arc));
        arc
    }

    pub fn state(&self) -> ClusterState {
        ClusterState::new(self.store.clone())
    }

    pub fn set_admission(&self, a: Arc<dyn Admission>) {
        *self.admission.write() = a;
    }

    pub fn set_proxy(&self, p: Arc<dyn ProxyBackend>) {
        *self.proxy.write() = Some(p);
    }

    pub fn proxy_backend(&self) -> Option<Arc<dyn ProxyBackend>> {
        self.proxy.read().clone()
    }

    fn subject<'a>(info: &'a ResourceInfo, gk: &'a str, name: &'a str) -> Subject<'a> {
        Subject {
            group: &info.group,
            plural: &info.plural,
            group_kind: gk,
            name,
        }
    }

    pub fn get(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        let gk = info.group_kind();
        self.store
            .resource(&info.group, &info.plural)
            .and_then(|r| r.get(ns, name))
            .ok_or_else(|| ApiError::not_found(Self::subject(info, &gk, name)))
    }

    fn check_namespace(&self, ns: &str) -> Result<(), ApiError> {
        let nss = self.store.ensure("", "namespaces");
        match nss.get("", ns) {
            None => Err(ApiError::not_found(Subject {
                group: "",
                plural: "namespaces",
                group_kind: "Namespace",
                name: ns,
            })),
            Some(n) if meta(&n).is_some_and(|m| m.contains_key("deletionTimestamp")) => {
                Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Schema defaulting/pruning/validation for custom resources.
    fn validate_schema(
        &self,
        info: &ResourceInfo,
        version: &str,
        obj: &mut Value,
        name: &str,
        opts: &WriteOpts,
    ) -> Result<(), ApiError> {
        let Some(v) = info.version(version).filter(|v| v.has_schema) else {
            return Ok(());
        };
        let schema = v.schema.get_or_init(|| {
            let crd = self
                .store
                .resource("apiextensions.k8s.io", "customresourcedefinitions")
                .and_then(|r| r.get("", &info.crd_name))?;
            compile_version_schema(&crd, version)
        });
        let Some(schema) = schema else {
            return Ok(());
        };
        let out = schema.process_root(obj);
        let gk = info.group_kind();
        if !out.causes.is_empty() {
            return Err(ApiError::invalid(
                Self::subject(info, &gk, name),
                out.causes,
            ));
        }
        if opts.strict && !out.unknown.is_empty() {
            let fields: Vec<String> = out
                .unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                info.kind,
                version,
                info.kind,
                fields.join(", ")
            )));
        }
        Ok(())
    }

    fn admit(
        &self,
        info: &ResourceInfo,
        version: &str,
        op: AdmissionOp,
        sub: Option<&str>,
        old: Option<&Value>,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        if !info.crd {
            return Ok(());
        }
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let ns = meta_str(obj, "namespace").map(String::from);
        let req = AdmissionRequest {
            op,
            group: &info.group,
            version,
            kind: &info.kind,
            plural: &info.plural,
            namespace: ns.as_deref(),
            name: &name,
            subresource: sub,
            old,
        };
        let admission = self.admission.read().clone();
        admission.admit(&req, obj).map_err(|e| {
            let gk = info.group_kind();
            match e.field {
                Some(field) => ApiError::invalid(
                    Self::subject(info, &gk, &name),
                    vec![Cause {
                        reason: "FieldValueInvalid",
                        field,
                        message: e.message,
                    }],
                ),
                None => ApiError::forbidden(format!(
                    "admission webhook \"{}.validators.kubedb.com\" denied the request: {}",
                    info.singular, e.message
                )),
            }
        })
    }

    /// Built-in kinds' server-side behaviour on create.
    fn prepare_builtin_create(&self, info: &ResourceInfo, obj: &mut Value) {
        match (info.group.as_str(), info.plural.as_str()) {
            ("", "secrets") => fold_string_data(obj),
            ("", "namespaces") => {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
                let name = meta_str(obj, "name").unwrap_or("").to_string();
                let labels = meta_mut(obj).entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), Value::String(name));
                }
            }
            ("", "services") => self.allocate_service(obj),
            ("", "persistentvolumeclaims") => {
                // A simulated provisioner binds every claim immediately at its requested size.
                if obj.pointer("/status/phase").is_none() {
                    let size = obj
                        .pointer("/spec/resources/requests/storage")
                        .cloned()
                        .unwrap_or(json!("1Gi"));
                    let modes = obj
                        .pointer("/spec/accessModes")
                        .cloned()
                        .unwrap_or(json!(["ReadWriteOnce"]));
                    obj["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}});
                }
                if obj.pointer("/spec/storageClassName").is_none() {
                    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("storageClassName".into(), json!("standard"));
                    }
                }
            }
            ("", "pods") if obj.pointer("/status/phase").is_none() => {
                obj["status"] = json!({"phase": "Pending"});
            }
            _ => {}
        }
    }

    fn allocate_service(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            obj["spec"] = json!({});
            return self.allocate_service(obj);
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        spec.entry("type").or_insert_with(|| json!("ClusterIP"));
        let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
        let has_ip = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !headless && !has_ip {
            let ip = Ipv4Addr::from(self.next_ip.fetch_add(1, Ordering::SeqCst)).to_string();
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        spec.entry("sessionAffinity")
            .or_insert_with(|| json!("None"));
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                if let Some(p) = p.as_object_mut() {
                    p.entry("protocol").or_insert_with(|| json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        p.entry("targetPort").or_insert(port);
                    }
                }
            }
        }
        let status = if ty == "LoadBalancer" {
            let ip = Ipv4Addr::from(self.next_lb_ip.fetch_add(1, Ordering::SeqCst)).to_string();
            json!({"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}})
        } else {
            json!({"loadBalancer": {}})
        };
        obj["status"] = status;
    }

    /// Creates an object. `ns` is the namespace from the URL (None for cluster-scoped kinds).
    pub fn create(
        &self,
        info: &ResourceInfo,
        version: &str,
        ns: Option<&str>,
        mut obj: Value,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        let want_av = info.api_version(version);
        if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
            if av != want_av {
                return Err(ApiError::bad_request(format!("the API version in the data ({av}) does not match the expected API version ({want_av})")));
            }
        }
        if let Some(k) = obj.get("kind").and_then(Value::as_str) {
            if k != info.kind {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    info.kind
                )));
            }
        }
        obj["apiVersion"] = Value::String(want_av);
        obj["kind"] = Value::String(info.kind.clone());
        let namespace = if info.namespaced {
            let url_ns = ns.unwrap_or("default");
            if let Some(body_ns) = meta_str(&obj, "namespace") {
                if !body_ns.is_empty() && body_ns != url_ns {
                    return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
                }
            }
            self.check_namespace(url_ns)?;
            url_ns.to_string()
        } else {
            String::new()
        };
        let m = meta_mut(&mut obj);
        if m.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            match m.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let name = format!("{prefix}{}", random_suffix());
                    m.insert("name".into(), Value::String(name));
                }
                _ => {
                    let gk = info.group_kind();
                    return Err(ApiError::invalid(
                        Self::subject(info, &gk, ""),
                        vec![Cause {
                            reason: "FieldValueRequired",
                            field: "metadata.name".into(),
                            message: "Required value: name or generateName is required".into(),
                        }],
                    ));
                }
            }
        }
        if info.namespaced {
            m.insert("namespace".into(), Value::String(namespace.clone()));
        } else {
            m.remove("namespace");
        }
        m.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
        m.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        m.insert("generation".into(), json!(1));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("resourceVersion");
        if let Some(mgr) = &opts.field_manager {
            m.insert(
                "managedFields".into(),
                json!([{"manager": mgr, "operation": "Update", "apiVersion": info.api_version(version), "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}}]),
            );
        }
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        if info.crd {
            if info.has_status(version) {
                if let Some(o) = obj.as_object_mut() {
                    o.remove("status");
                }
            }
            self.validate_schema(info, version, &mut obj, &name, opts)?;
            self.admit(info, version, AdmissionOp::Create, None, None, &mut obj)?;
            self.validate_schema(info, version, &mut obj, &name, opts)?;
        } else {
            self.prepare_builtin_create(info, &mut obj);
        }
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            self.prepare_crd(&mut obj)?;
        }
        let gk = info.group_kind();
        if opts.dry_run {
            let exists = self
                .store
                .resource(&info.group, &info.plural)
                .and_then(|r| r.get(&namespace, &name))
                .is_some();
            if exists {
                return Err(ApiError::already_exists(Self::subject(info, &gk, &name)));
            }
            return Ok(Arc::new(obj));
        }
        let res = self.store.ensure(&info.group, &info.plural);
        let stored = res
            .create(&namespace, &name, obj)
            .map_err(|_| ApiError::already_exists(Self::subject(info, &gk, &name)))?;
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            self.serve_crd(&stored);
        }
        self.metrics.objects_changed();
        Ok(stored)
    }

    /// Validates a CRD and fills in its status.
    fn prepare_crd(&self, obj: &mut Value) -> Result<(), ApiError> {
        let (group, plural) = crd_identity(obj).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!("CustomResourceDefinition is invalid: {e}"),
            )
        })?;
        let expected = format!("{plural}.{group}");
        let name = meta_str(obj, "name").unwrap_or("");
        if name != expected {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!("CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            ));
        }
        obj["status"] = crd_status(obj, &now_rfc3339());
        Ok(())
    }

    /// Makes a stored CRD's resource served (compiles its schemas).
    pub fn serve_crd(&self, crd: &Value) {
        if let Ok(info) = resource_from_crd(crd) {
            self.store.ensure(&info.group, &info.plural);
            self.registry.insert(info);
        }
    }

    /// Replaces an object (PUT), or only its status when `status_only`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        info: &ResourceInfo,
        version: &str,
        ns: &str,
        name: &str,
        obj: Value,
        status_only: bool,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        if let Some(n) = meta_str(&obj, "name") {
            if n != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        let old = self.get(info, ns, name)?;
        let given_rv = meta_str(&obj, "resourceVersion").and_then(|s| s.parse::<u64>().ok());
        let expected = match given_rv {
            Some(rv) => rv,
            None if info.crd => {
                let gk = info.group_kind();
                return Err(ApiError::invalid(
                    Self::subject(info, &gk, name),
                    vec![Cause {
                        reason: "FieldValueInvalid",
                        field: "metadata.resourceVersion".into(),
                        message: "Invalid value: 0x0: must be specified for an update".into(),
                    }],
                ));
            }
            None => rv_of(&old),
        };
        self.commit_update(
            info,
            version,
            ns,
            name,
            &old,
            obj,
            expected,
            status_only,
            opts,
        )
    }

    /// The common tail of update and patch: carry over what the client may not change, validate,
    /// admit, bump generation, store with optimistic concurrency.
    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &self,
        info: &ResourceInfo,
        version: &str,
        ns: &str,
        name: &str,
        old: &Arc<Value>,
        mut obj: Value,
        expected_rv: u64,
        status_only: bool,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        let gk = info.group_kind();
        if expected_rv != rv_of(old) {
            return Err(ApiError::conflict(Self::subject(info, &gk, name)));
        }
        if status_only {
            // Only .status changes through the status subresource.
            let status = obj.get("status").cloned();
            obj = (**old).clone();
            match status {
                Some(s) => obj["status"] = s,
                None => {
                    if let Some(o) = obj.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        } else if info.has_status(version) || info.plural == "namespaces" {
            match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(o) = obj.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        obj["apiVersion"] = Value::String(info.api_version(version));
        obj["kind"] = Value::String(info.kind.clone());
        // Server-owned metadata is kept from the stored object.
        let old_meta = meta(old).cloned().unwrap_or_default();
        let m = meta_mut(&mut obj);
        for key in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ] {
            match old_meta.get(key) {
                Some(v) => {
                    m.insert(key.into(), v.clone());
                }
                None => {
                    m.remove(key);
                }
            }
        }
        let old_gen = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        m.insert("generation".into(), json!(old_gen));
        if old_meta.contains_key("deletionTimestamp") {
            // New finalizers cannot be added while deleting; removing them is how deletion completes.
            let old_f: HashSet<String> = old_meta
                .get("finalizers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(new_f) = m.get("finalizers").and_then(Value::as_array) {
                if new_f
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|f| !old_f.contains(f))
                {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{name}\" is being deleted: no new finalizers can be added if the object is being deleted",
                        info.qualified_plural()
                    )));
                }
            }
        }
        if info.plural == "secrets" && info.group.is_empty() {
            fold_string_data(&mut obj);
        }
        if info.crd && !status_only {
            self.validate_schema(info, version, &mut obj, name, opts)?;
            self.admit(
                info,
                version,
                AdmissionOp::Update,
                None,
                Some(old),
                &mut obj,
            )?;
            self.validate_schema(info, version, &mut obj, name, opts)?;
        } else if info.crd {
            self.admit(
                info,
                version,
                AdmissionOp::Update,
                Some("status"),
                Some(old),
                &mut obj,
            )?;
        }
        if info.group == "apiextensions.k8s.io"
            && info.plural == "customresourcedefinitions"
            && !status_only
        {
            self.prepare_crd(&mut obj)?;
        }
        if info.plural == "services" && info.group.is_empty() && !status_only {
            // clusterIP is immutable and allocated once.
            if let Some(ip) = old.pointer("/spec/clusterIP").cloned() {
                if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.insert("clusterIP".into(), ip);
                    if let Some(ips) = old.pointer("/spec/clusterIPs").cloned() {
                        spec.insert("clusterIPs".into(), ips);
                    }
                }
            }
        }
        if !spec_equal(old, &obj) {
            meta_mut(&mut obj).insert("generation".into(), json!(old_gen + 1));
        }
        if opts.dry_run {
            return Ok(Arc::new(obj));
        }
        let deleting_done = meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp"))
            && finalizers(&obj) == 0;
        if !deleting_done && unchanged(old, &obj) {
            // As etcd3's GuaranteedUpdate: a no-op write is not stored.
            return Ok(old.clone());
        }
        let res = self.store.ensure(&info.group, &info.plural);
        let stored = res
            .update(ns, name, expected_rv, obj)
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found(Self::subject(info, &gk, name)),
                _ => ApiError::conflict(Self::subject(info, &gk, name)),
            })?;
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            self.serve_crd(&stored);
        }
        self.metrics.objects_changed();
        if deleting_done {
            // The last finalizer is gone: the object goes away now.
            return self.remove(info, ns, name, Some(rv_of(&stored)), false);
        }
        Ok(stored)
    }

    /// Applies a patch with retries on concurrent writes. Returns the object and whether it was
    /// created (server-side apply of an absent object).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        info: &ResourceInfo,
        version: &str,
        ns: &str,
        name: &str,
        ty: PatchType,
        patch_body: &Value,
        status_only: bool,
        opts: &WriteOpts,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        if ty == PatchType::Apply && opts.field_manager.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requires fieldManager to be set",
            ));
        }
        let gk = info.group_kind();
        for _ in 0..16 {
            let old = match self.get(info, ns, name) {
                Ok(o) => o,
                Err(e) if ty == PatchType::Apply && e.code == 404 && !status_only => {
                    let mut obj = patch_body.clone();
                    meta_mut(&mut obj).insert("name".into(), Value::String(name.to_string()));
                    let ns_opt = info.namespaced.then_some(ns);
                    match self.create(info, version, ns_opt, obj, opts) {
                        Ok(o) => return Ok((o, true)),
                        Err(e) if e.reason == "AlreadyExists" => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            let mut new = (*present(&old, info, version)).clone();
            patch::apply(ty, &mut new, patch_body)
                .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
            let old_rv = rv_of(&old);
            // A resourceVersion in the patch is a precondition.
            let patched_rv = meta_str(&new, "resourceVersion").and_then(|s| s.parse::<u64>().ok());
            if let Some(rv) = patched_rv {
                if rv != old_rv {
                    return Err(ApiError::conflict(Self::subject(info, &gk, name)));
                }
            }
            if ty == PatchType::Apply {
                if let Some(mgr) = &opts.field_manager {
                    record_manager(&mut new, mgr, &info.api_version(version), "Apply");
                }
            }
            match self.commit_update(
                info,
                version,
                ns,
                name,
                &old,
                new,
                old_rv,
                status_only,
                opts,
            ) {
                Err(e) if e.reason == "Conflict" && patched_rv.is_none() => continue,
                other => return other.map(|o| (o, false)),
            }
        }
        Err(ApiError::conflict(Self::subject(info, &gk, name)))
    }

    /// DELETE: with finalizers the object is only marked; otherwise it goes, and its dependents
    /// are collected in the background.
    pub fn delete(
        self: &Arc<Self>,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Arc<Value>, ApiError> {
        let gk = info.group_kind();
        let old = self.get(info, ns, name)?;
        if let Some(rv) = opts.precondition_rv {
            if rv != rv_of(&old) {
                return Err(ApiError::conflict(Self::subject(info, &gk, name)));
            }
        }
        if let Some(uid) = &opts.precondition_uid {
            if meta_str(&old, "uid") != Some(uid.as_str()) {
                return Err(ApiError::conflict(Self::subject(info, &gk, name)));
            }
        }
        let mut scratch = (*old).clone();
        self.admit(
            info,
            info.storage_version(),
            AdmissionOp::Delete,
            None,
            Some(&old),
            &mut scratch,
        )?;
        if opts.dry_run {
            return Ok(old);
        }
        let is_ns = info.group.is_empty() && info.plural == "namespaces";
        if finalizers(&old) > 0 || is_ns {
            if meta(&old).is_some_and(|m| m.contains_key("deletionTimestamp")) {
                return Ok(old);
            }
            let mut marked = (*old).clone();
            let m = meta_mut(&mut marked);
            m.insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            if is_ns {
                marked["status"] = json!({"phase": "Terminating"});
            }
            let res = self.store.ensure(&info.group, &info.plural);
            let stored = res
                .update(ns, name, rv_of(&old), marked)
                .map_err(|_| ApiError::conflict(Self::subject(info, &gk, name)))?;
            self.metrics.objects_changed();
            if is_ns {
                self.spawn_namespace_cleanup(name.to_string());
            }
            return Ok(stored);
        }
        self.remove(info, ns, name, Some(rv_of(&old)), opts.orphan)
    }

    /// Removes an object from the store for good and collects its dependents.
    fn remove(
        &self,
        info: &ResourceInfo,
        ns: &str,
        name: &str,
        expected_rv: Option<u64>,
        orphan: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let gk = info.group_kind();
        let res = self.store.ensure(&info.group, &info.plural);
        let gone = res.delete(ns, name, expected_rv).map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(Self::subject(info, &gk, name)),
            _ => ApiError::conflict(Self::subject(info, &gk, name)),
        })?;
        self.metrics.objects_changed();
        if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
            if let Ok((group, plural)) = crd_identity(&gone) {
                self.registry.remove(&group, &plural);
            }
        }
        if !orphan {
            if let Some(uid) = meta_str(&gone, "uid") {
                self.collect_dependents(uid);
            }
        }
        Ok(gone)
    }

    /// Garbage collection: objects owned by `uid` lose that owner; with no owner left they go
    /// (or are marked for deletion when they carry finalizers).
    fn collect_dependents(&self, uid: &str) {
        let dependents = self.store.shared().owners.lock().dependents_of(uid);
        for (group, plural, ns, name) in dependents {
            let (Some(info), Some(res)) = (
                self.registry.get(&group, &plural),
                self.store.resource(&group, &plural),
            ) else {
                continue;
            };
            let Some(obj) = res.get(&ns, &name) else {
                continue;
            };
            let refs = meta(&obj)
                .and_then(|m| m.get("ownerReferences"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let remaining: Vec<Value> = refs
                .into_iter()
                .filter(|r| r.get("uid").and_then(Value::as_str) != Some(uid))
                .collect();
            let others_alive = {
                let owners = self.store.shared().owners.lock();
                remaining.iter().any(|r| {
                    r.get("uid")
                        .and_then(Value::as_str)
                        .is_some_and(|u| owners.exists(u))
                })
            };
            if others_alive {
                let mut updated = (*obj).clone();
                meta_mut(&mut updated).insert("ownerReferences".into(), Value::Array(remaining));
                let _ = res.update(&ns, &name, rv_of(&obj), updated);
                continue;
            }
            if finalizers(&obj) > 0 {
                if !meta(&obj).is_some_and(|m| m.contains_key("deletionTimestamp")) {
                    let mut marked = (*obj).clone();
                    meta_mut(&mut marked)
                        .insert("deletionTimestamp".into(), Value::String(now_rfc3339()));
                    let _ = res.update(&ns, &name, rv_of(&obj), marked);
                }
                continue;
            }
            let _ = self.remove(&info, &ns, &name, None, false);
        }
    }

    /// Namespace deletion: delete everything inside, then drop the namespace once it is empty
    /// (objects with finalizers keep it Terminating until their finalizers are removed).
    fn spawn_namespace_cleanup(&self, ns: String) {
        let Some(me) = self.self_ref() else { return };
        tokio::spawn(async move {
            loop {
                let mut remaining = 0usize;
                for res in me.store.all() {
                    let Some(info) = me.registry.get(&res.group, &res.plural) else {
                        continue;
                    };
                    if !info.namespaced {
                        continue;
                    }
                    let (objs, _) = res.list(Some(&ns));
                    remaining += objs.len();
                    for obj in objs {
                        let name = meta_str(&obj, "name").unwrap_or("").to_string();
                        let _ = me.delete(&info, &ns, &name, &DeleteOpts::default());
                    }
                }
                if remaining == 0 {
                    let nss = me.store.ensure("", "namespaces");
                    let _ = nss.delete("", &ns, None);
                    me.metrics.objects_changed();
                    return;
                }
                if me
                    .store
                    .resource("", "namespaces")
                    .and_then(|r| r.get("", &ns))
                    .is_none()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    fn self_ref(&self) -> Option<Arc<ApiServer>> {
        self.me.read().as_ref().and_then(std::sync::Weak::upgrade)
    }
}

fn record_manager(obj: &mut Value, manager: &str, api_version: &str, op: &str) {
    let m = meta_mut(obj);
    let mut fields: Vec<Value> = m
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    fields.retain(|f| {
        !(f.get("manager").and_then(Value::as_str) == Some(manager)
            && f.get("operation").and_then(Value::as_str) == Some(op))
    });
    fields.push(json!({"manager": manager, "operation": op, "apiVersion": api_version, "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}}));
    m.insert("managedFields".into(), Value::Array(fields));
}

/// Secrets: `stringData` is write-only and folds into base64 `data`.
fn fold_string_data(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let raw = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                d.insert(
                    k,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
                );
            }
        }
    }
    o.entry("type").or_insert_with(|| json!("Opaque"));
}
