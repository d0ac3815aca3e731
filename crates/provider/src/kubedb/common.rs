//! Building blocks shared by every KubeDB database kind (`kubedb.com/v1`).
//!
//! Only the fields the platform reads or writes are typed; everything else is kept in `extra`
//! maps (`#[serde(flatten)]`, rendered as `x-kubernetes-preserve-unknown-fields` in the CRD) so
//! objects written by KubeDB or by hand round-trip without losing fields.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Unknown fields kept verbatim.
pub type Extra = BTreeMap<String, Value>;

/// An object whose content is not modelled; any fields are accepted and kept.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OpenObject(pub BTreeMap<String, Value>);

impl JsonSchema for OpenObject {
    fn schema_name() -> Cow<'static, str> {
        "OpenObject".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// What happens to the database's resources when the object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    Halt,
    Delete,
    WipeOut,
    DoNotTerminate,
}

impl DeletionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Halt => "Halt",
            Self::Delete => "Delete",
            Self::WipeOut => "WipeOut",
            Self::DoNotTerminate => "DoNotTerminate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Halt" => Some(Self::Halt),
            "Delete" => Some(Self::Delete),
            "WipeOut" => Some(Self::WipeOut),
            "DoNotTerminate" => Some(Self::DoNotTerminate),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StorageType {
    Durable,
    Ephemeral,
}

/// `{name}` reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LocalObjectRef {
    #[serde(default)]
    pub name: String,
}

/// `spec.authSecret`. The upstream schema requires `kind` and `name` whenever the block is sent
/// (Go writes an empty name), so both are always serialised.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecret {
    #[serde(default)]
    pub name: String,
    #[serde(default = "default_secret_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub externally_managed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_from: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn default_secret_kind() -> String {
    "Secret".to_string()
}

impl Default for AuthSecret {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: default_secret_kind(),
            api_group: None,
            externally_managed: None,
            secret_store_name: None,
            rotate_after: None,
            active_from: None,
            extra: Extra::new(),
        }
    }
}

/// `labels`/`annotations` of a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TemplateMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// offshoot-api v2 pod template: resources live on the container named after the DB container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PodTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<TemplateMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodTemplateSpec>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl PodTemplate {
    /// Resources of the container `name`, if the template sets them.
    pub fn container_resources(&self, name: &str) -> Option<&ResourceRequirements> {
        self.spec
            .as_ref()?
            .containers
            .iter()
            .find(|c| c.name == name)?
            .resources
            .as_ref()
    }

    /// Sets resources on container `name`, adding the container entry when missing.
    pub fn set_container_resources(&mut self, name: &str, resources: ResourceRequirements) {
        let spec = self.spec.get_or_insert_with(Default::default);
        match spec.containers.iter_mut().find(|c| c.name == name) {
            Some(c) => c.resources = Some(resources),
            None => spec.containers.push(Container {
                name: name.to_string(),
                resources: Some(resources),
                extra: Extra::new(),
            }),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_placement_policy: Option<LocalObjectRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A container entry: `name` is required, everything but resources is kept as-is.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Container {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.serviceTemplates[]`: customises the generated Service with the given alias.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ServiceTemplate {
    /// `primary` | `standby` | `stats`
    pub alias: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ServiceTemplateSpec>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTemplateSpec {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ServiceTemplatePort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_source_ranges: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceTemplatePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.monitor` (kmodules monitoring-agent-api).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Monitor {
    /// `prometheus.io/operator` | `prometheus.io/builtin` | `prometheus.io`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Monitor {
    /// The exporter port, 56790 unless set.
    pub fn exporter_port(&self) -> i32 {
        self.prometheus
            .as_ref()
            .and_then(|p| p.exporter.as_ref())
            .and_then(|e| e.port)
            .unwrap_or(super::names::EXPORTER_PORT)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter: Option<ExporterSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_monitor: Option<ServiceMonitorSpec>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ExporterSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ServiceMonitorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.configuration`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// config file name -> content
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.init`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_initial_restore: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.healthChecker`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthChecker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_write_check: Option<bool>,
}

/// kmodules `Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` | `False` | `Unknown`
    pub status: String,
    /// RFC 3339
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// Database phase, derived from conditions (kubedb-api §2.7).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DatabasePhase {
    Provisioning,
    DataRestoring,
    Ready,
    Critical,
    NotReady,
    Halted,
    Unknown,
}

impl DatabasePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "Provisioning",
            Self::DataRestoring => "DataRestoring",
            Self::Ready => "Ready",
            Self::Critical => "Critical",
            Self::NotReady => "NotReady",
            Self::Halted => "Halted",
            Self::Unknown => "Unknown",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecretStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_timestamp: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Status of every database kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DatabasePhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<AuthSecretStatus>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Expands to a database spec struct carrying the fields shared by all kinds (kubedb-api §2.2)
/// followed by the engine's own fields.
macro_rules! database_spec {
    ($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(::serde::Serialize, ::serde::Deserialize, Clone, Debug, Default, PartialEq, ::schemars::JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Name of a catalog version object.
            pub version: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub replicas: Option<i32>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub storage_type: Option<$crate::kubedb::common::StorageType>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub storage: Option<::k8s_openapi::api::core::v1::PersistentVolumeClaimSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub pod_template: Option<$crate::kubedb::common::PodTemplate>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub service_templates: Option<Vec<$crate::kubedb::common::ServiceTemplate>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub monitor: Option<$crate::kubedb::common::Monitor>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deletion_policy: Option<$crate::kubedb::common::DeletionPolicy>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub halted: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub auth_secret: Option<$crate::kubedb::common::AuthSecret>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub configuration: Option<$crate::kubedb::common::Configuration>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub config_secret: Option<$crate::kubedb::common::LocalObjectRef>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tls: Option<$crate::kubedb::common::OpenObject>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub init: Option<$crate::kubedb::common::InitSpec>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub health_checker: Option<$crate::kubedb::common::HealthChecker>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub auto_ops: Option<$crate::kubedb::common::OpenObject>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub allowed_schemas: Option<$crate::kubedb::common::OpenObject>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub archiver: Option<$crate::kubedb::common::OpenObject>,
            $($body)*
            #[serde(flatten)]
            pub extra: $crate::kubedb::common::Extra,
        }
    };
}
pub(crate) use database_spec;
