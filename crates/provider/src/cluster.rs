//! Idempotent operations on one cluster. Every step can be retried: a create finds its own
//! object, a delete of something already gone succeeds.

use base64::Engine as _;
use domain::engine::Engine;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{json, Value};

use crate::connect::Cluster;
use crate::error::ProviderError;
use crate::kubedb::names::{DB_GROUP, DB_VERSION};
use crate::observe::{observe_database, ObservedDatabase};
use crate::translate::{meta, LABEL_DATABASE_ID, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE};

/// Where a database is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// In-cluster DNS name, or the load balancer's IP/hostname once assigned.
    pub host: String,
    pub port: u16,
    pub service_type: String,
    pub loadbalancer_ip: Option<String>,
}

/// The KubeDB database kind of an engine.
pub fn database_resource(engine: Engine) -> ApiResource {
    let m = meta(engine);
    ApiResource {
        group: DB_GROUP.into(),
        version: DB_VERSION.into(),
        api_version: format!("{DB_GROUP}/{DB_VERSION}"),
        kind: m.kind.into(),
        plural: m.plural.into(),
    }
}

fn core(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: String::new(),
        version: "v1".into(),
        api_version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// Plurals of the kinds the platform creates, so no discovery round trip is needed.
fn known_plural(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("v1", "Secret") => "secrets",
        ("v1", "Namespace") => "namespaces",
        ("v1", "Service") => "services",
        ("v1", "ConfigMap") => "configmaps",
        ("networking.k8s.io/v1", "NetworkPolicy") => "networkpolicies",
        _ => return None,
    })
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

fn label<'a>(obj: &'a DynamicObject, key: &str) -> Option<&'a str> {
    obj.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

fn to_dynamic(obj: &Value) -> Result<DynamicObject, ProviderError> {
    serde_json::from_value(obj.clone())
        .map_err(|e| ProviderError::Permanent(format!("malformed object: {e}")))
}

impl Cluster {
    fn api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if !ns.is_empty() => Api::namespaced_with(self.client().clone(), ns, ar),
            _ => Api::all_with(self.client().clone(), ar),
        }
    }

    async fn resource_for(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource, ProviderError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if let Some(plural) = known_plural(api_version, kind) {
            return Ok(ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural: plural.into(),
            });
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, _caps) = kube::discovery::pinned_kind(self.client(), &gvk)
            .await
            .map_err(|e| {
                ProviderError::from(e).context(&format!("looking up {api_version}/{kind}"))
            })?;
        Ok(ar)
    }

    /// Creates the namespace, or on 409 adds our labels where they are missing.
    pub async fn ensure_namespace(&self, obj: &Value) -> Result<(), ProviderError> {
        let name = str_at(obj, "/metadata/name")
            .unwrap_or_default()
            .to_string();
        let api = self.api(&core("Namespace", "namespaces"), None);
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(&name).await?;
                    let have = existing.metadata.labels.unwrap_or_default();
                    let want = obj["metadata"]["labels"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    let missing: serde_json::Map<String, Value> = want
                        .into_iter()
                        .filter(|(k, _)| !have.contains_key(k))
                        .collect();
                    if !missing.is_empty() {
                        let patch = json!({ "metadata": { "labels": missing } });
                        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await?;
                    }
                    Ok(())
                }
                other => Err(other.context(&format!("creating namespace {name}"))),
            },
        }
    }

    /// Create-if-absent for a namespaced object (Secret, NetworkPolicy, …) by apiVersion/kind.
    /// Never patches what exists; an existing object the platform did not create, or created for
    /// another database, is a Conflict.
    pub async fn ensure_object(&self, obj: &Value) -> Result<(), ProviderError> {
        let api_version = str_at(obj, "/apiVersion").unwrap_or_default();
        let kind = str_at(obj, "/kind").unwrap_or_default();
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace");
        let ar = self.resource_for(api_version, kind).await?;
        let api = self.api(&ar, ns);
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(name).await?;
                    let ours = label(&existing, LABEL_MANAGED_BY) == Some(LABEL_MANAGED_BY_VALUE);
                    let want_id = obj["metadata"]["labels"][LABEL_DATABASE_ID].as_str();
                    let same_db =
                        want_id.is_none_or(|id| label(&existing, LABEL_DATABASE_ID) == Some(id));
                    if ours && same_db {
                        Ok(())
                    } else {
                        Err(ProviderError::Conflict(format!(
                            "{kind} {}/{name} already exists and does not belong to this database; remove or rename it",
                            ns.unwrap_or_default()
                        )))
                    }
                }
                other => Err(other.context(&format!("creating {kind} {name}"))),
            },
        }
    }

    /// Creates the KubeDB object if absent. One that exists with our `dbaas.io/database-id`
    /// label = the object's: Ok (a retry). With another or no id: Conflict.
    pub async fn create_database(&self, engine: Engine, obj: &Value) -> Result<(), ProviderError> {
        let name = str_at(obj, "/metadata/name").unwrap_or_default();
        let ns = str_at(obj, "/metadata/namespace").unwrap_or_default();
        let api = self.api(&database_resource(engine), Some(ns));
        let kind = meta(engine).kind;
        match api.create(&PostParams::default(), &to_dynamic(obj)?).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::Conflict(_) => {
                    let existing = api.get(name).await?;
                    let want = obj["metadata"]["labels"][LABEL_DATABASE_ID].as_str();
                    let have = label(&existing, LABEL_DATABASE_ID);
                    if want.is_some() && want == have {
                        Ok(())
                    } else {
                        Err(ProviderError::Conflict(format!(
                            "a {kind} named {name} already exists in namespace {ns} and is not this database; choose another name"
                        )))
                    }
                }
                other => Err(other.context(&format!("creating {kind} {ns}/{name}"))),
            },
        }
    }

    pub async fn get_database(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
    ) -> Result<Option<ObservedDatabase>, ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        Ok(api
            .get_opt(name)
            .await?
            .map(|o| observe_database(engine, &o)))
    }

    /// Sets `deletionPolicy` (`WipeOut` when `wipe_out`, which also removes the secrets KubeDB
    /// made; `Delete` otherwise, which removes the volumes) with a merge patch, then deletes.
    /// Already gone = Ok.
    pub async fn delete_database(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
        wipe_out: bool,
    ) -> Result<(), ProviderError> {
        let api = self.api(&database_resource(engine), Some(ns));
        let policy = if wipe_out { "WipeOut" } else { "Delete" };
        let patch = json!({ "spec": { "deletionPolicy": policy } });
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound(_) => return Ok(()),
                other => {
                    return Err(other.context(&format!("setting deletionPolicy of {ns}/{name}")))
                }
            },
        }
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other.context(&format!("deleting {ns}/{name}"))),
            },
        }
    }

    /// Deletes any namespaced object; NotFound = Ok.
    pub async fn delete_object(
        &self,
        api_version: &str,
        kind: &str,
        ns: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let ar = self.resource_for(api_version, kind).await?;
        let api = self.api(&ar, Some(ns));
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other.context(&format!("deleting {kind} {ns}/{name}"))),
            },
        }
    }

    /// The primary Service `<name>` (same name for every engine). ClusterIP → host
    /// `<svc>.<ns>.svc.cluster.local`; LoadBalancer → the ingress IP/hostname once assigned, the
    /// in-cluster name until then (`loadbalancer_ip: None`). None when the Service is not there yet.
    pub async fn read_endpoint(
        &self,
        engine: Engine,
        ns: &str,
        name: &str,
    ) -> Result<Option<Endpoint>, ProviderError> {
        let api = self.api(&core("Service", "services"), Some(ns));
        let Some(svc) = api.get_opt(name).await? else {
            return Ok(None);
        };
        let m = meta(engine);
        let spec = &svc.data["spec"];
        let ports = spec["ports"].as_array().cloned().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p["name"] == m.port_name)
            .or_else(|| {
                ports
                    .iter()
                    .find(|p| p["port"].as_i64() == Some(i64::from(m.port)))
            })
            .or(ports.first())
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| engine.default_port());
        let service_type = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
        let internal = format!("{name}.{ns}.svc.cluster.local");
        if service_type == "LoadBalancer" {
            let ingress = &svc.data["status"]["loadBalancer"]["ingress"][0];
            let lb = ingress["ip"]
                .as_str()
                .or_else(|| ingress["hostname"].as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            return Ok(Some(Endpoint {
                host: lb.clone().unwrap_or(internal),
                port,
                service_type,
                loadbalancer_ip: lb,
            }));
        }
        Ok(Some(Endpoint {
            host: internal,
            port,
            service_type,
            loadbalancer_ip: None,
        }))
    }

    /// `username`/`password` of the Secret, decoded. None when the Secret is not there.
    pub async fn read_credentials(
        &self,
        ns: &str,
        secret: &str,
    ) -> Result<Option<(String, String)>, ProviderError> {
        let api = self.api(&core("Secret", "secrets"), Some(ns));
        let Some(s) = api.get_opt(secret).await? else {
            return Ok(None);
        };
        let field = |key: &str| -> Result<String, ProviderError> {
            let missing = || {
                ProviderError::Permanent(format!("secret {ns}/{secret} has no usable {key:?} key"))
            };
            if let Some(b64) = s.data["data"][key].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| missing())?;
                return String::from_utf8(bytes).map_err(|_| missing());
            }
            s.data["stringData"][key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(missing)
        };
        Ok(Some((field("username")?, field("password")?)))
    }
}
