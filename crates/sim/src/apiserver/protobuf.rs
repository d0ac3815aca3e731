//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
//! JSON object the same request would carry as JSON.
//!
//! client-go's typed clients (kubectl `create namespace|secret|configmap|serviceaccount|service`,
//! event recorders, leader election) send built-in kinds as protobuf, and fall back to JSON on
//! 415 only for CBOR, never for protobuf: answering 415 would leave kubectl failing. So the kinds
//! those clients write are decoded here, with the wire types of `k8s-pb`. Other kinds answer 415
//! with a message naming the ones decoded (CRDs are never sent as protobuf).

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::coordination::v1::{Lease, LeaseSpec};
use k8s_pb::api::core::v1::{
    ClientIpConfig, ConfigMap, Event, EventSeries, EventSource, LoadBalancerIngress,
    LoadBalancerStatus, LocalObjectReference, Namespace, NamespaceCondition, NamespaceSpec,
    NamespaceStatus, ObjectReference, PortStatus, Secret, Service, ServiceAccount, ServicePort,
    ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1::{
    Condition, DeleteOptions, FieldsV1, ManagedFieldsEntry, MicroTime, ObjectMeta, OwnerReference,
    Preconditions, Time,
};
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every protobuf body starts with this, then a `runtime.Unknown` wrapping the object.
const MAGIC: &[u8] = b"k8s\0";

/// The kinds whose protobuf bodies are decoded, as (apiVersion, kind).
pub const DECODED: &[(&str, &str)] = &[
    ("v1", "Namespace"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("v1", "Service"),
    ("v1", "Event"),
    ("coordination.k8s.io/v1", "Lease"),
];

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// Not a well-formed Kubernetes protobuf body: a 400.
    #[error("invalid protobuf body: {0}")]
    Invalid(String),
    /// A kind (or encoding) this server does not decode: a 415.
    #[error("{0}")]
    Unsupported(String),
}

/// Whether a Content-Type names the Kubernetes protobuf encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Decodes a protobuf request body into its JSON form, `apiVersion` and `kind` included.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ProtoError::Invalid("missing the k8s\\0 prefix".into()))?;
    let unknown = Unknown::decode(rest).map_err(|e| ProtoError::Invalid(e.to_string()))?;
    if unknown
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(ProtoError::Unsupported(format!(
            "content encoding {:?} of protobuf bodies is not supported",
            unknown.content_encoding.unwrap_or_default()
        )));
    }
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let raw = raw.as_slice();
    fn object<M: Message + Default + ToJson>(raw: &[u8]) -> Result<Option<Value>, ProtoError> {
        let m = M::decode(raw).map_err(|e| ProtoError::Invalid(e.to_string()))?;
        Ok(m.to_json())
    }
    let value = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => object::<Namespace>(raw)?,
        ("v1", "Secret") => object::<Secret>(raw)?,
        ("v1", "ConfigMap") => object::<ConfigMap>(raw)?,
        ("v1", "ServiceAccount") => object::<ServiceAccount>(raw)?,
        ("v1", "Service") => object::<Service>(raw)?,
        ("v1", "Event") => object::<Event>(raw)?,
        ("coordination.k8s.io/v1", "Lease") => object::<Lease>(raw)?,
        // Typed deletes send their options in the body; their apiVersion varies by client.
        (_, "DeleteOptions") => object::<DeleteOptions>(raw)?,
        _ => {
            let decoded: Vec<String> = DECODED.iter().map(|(v, k)| format!("{k} ({v})")).collect();
            return Err(ProtoError::Unsupported(format!(
                "protobuf bodies are decoded for {} only; send {kind:?} ({api_version}) as application/json",
                decoded.join(", ")
            )));
        }
    };
    let mut value = value.unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(m) = value.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(value)
}

/// A protobuf message as JSON; `None` when the JSON form omits it (a zero time).
trait ToJson {
    fn to_json(&self) -> Option<Value>;
}

/// A field's JSON value, `None` to omit it. Go encodes its non-pointer fields even when empty;
/// their JSON tags say `omitempty`, so empty strings, zero numbers and empty lists and maps are
/// left out. Booleans and messages are kept as sent (`spec: {}`, `automount…: false` matter).
trait Field {
    fn json(&self) -> Option<Value>;
}

impl Field for Option<String> {
    fn json(&self) -> Option<Value> {
        self.as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.clone()))
    }
}

impl Field for Option<i32> {
    fn json(&self) -> Option<Value> {
        self.filter(|n| *n != 0).map(Value::from)
    }
}

impl Field for Option<i64> {
    fn json(&self) -> Option<Value> {
        self.filter(|n| *n != 0).map(Value::from)
    }
}

impl Field for Option<bool> {
    fn json(&self) -> Option<Value> {
        self.map(Value::Bool)
    }
}

impl Field for Vec<String> {
    fn json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| Value::from(self.clone()))
    }
}

impl<T: ToJson> Field for Option<T> {
    fn json(&self) -> Option<Value> {
        self.as_ref().and_then(ToJson::to_json)
    }
}

impl<T: ToJson> Field for Vec<T> {
    fn json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| Value::Array(self.iter().filter_map(T::to_json).collect()))
    }
}

impl Field for BTreeMap<String, String> {
    fn json(&self) -> Option<Value> {
        (!self.is_empty()).then(|| {
            Value::Object(
                self.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        })
    }
}

/// Bytes (Secret `data`, ConfigMap `binaryData`) are base64 in JSON.
impl Field for BTreeMap<String, Vec<u8>> {
    fn json(&self) -> Option<Value> {
        let b64 = base64::engine::general_purpose::STANDARD;
        (!self.is_empty()).then(|| {
            Value::Object(
                self.iter()
                    .map(|(k, v)| (k.clone(), Value::String(b64.encode(v))))
                    .collect(),
            )
        })
    }
}

/// `snake_case` (prost's field names) to the API's `lowerCamelCase`; irregular names (`clusterIP`)
/// are spelled out where the message is declared.
fn camel(field: &str) -> String {
    let field = field.strip_prefix("r#").unwrap_or(field);
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! json_name {
    ($field:ident) => {
        camel(stringify!($field))
    };
    ($field:ident, $json:literal) => {
        $json.to_string()
    };
}

/// Declares a message's JSON form. Every field must be named (the pattern has no `..`), so a
/// field that a newer `k8s-pb` adds is a compile error here rather than silently dropped.
macro_rules! message {
    ($ty:ident { $($field:ident $(as $json:literal)?),* $(,)? }) => {
        impl ToJson for $ty {
            fn to_json(&self) -> Option<Value> {
                let $ty { $($field),* } = self;
                let mut m = Map::new();
                $(
                    if let Some(v) = Field::json($field) {
                        m.insert(json_name!($field $(, $json)?), v);
                    }
                )*
                Some(Value::Object(m))
            }
        }
    };
}

message!(ObjectMeta {
    name,
    generate_name,
    namespace,
    self_link,
    uid,
    resource_version,
    generation,
    creation_timestamp,
    deletion_timestamp,
    deletion_grace_period_seconds,
    labels,
    annotations,
    owner_references,
    finalizers,
    managed_fields,
});
message!(OwnerReference {
    api_version,
    kind,
    name,
    uid,
    controller,
    block_owner_deletion,
});
message!(ManagedFieldsEntry {
    manager,
    operation,
    api_version,
    time,
    fields_type,
    fields_v1,
    subresource,
});
message!(Condition {
    r#type,
    status,
    observed_generation,
    last_transition_time,
    reason,
    message,
});
message!(DeleteOptions {
    grace_period_seconds,
    preconditions,
    orphan_dependents,
    propagation_policy,
    dry_run,
    ignore_store_read_error_with_cluster_breaking_potential,
});
message!(Preconditions {
    uid,
    resource_version
});

message!(Namespace {
    metadata,
    spec,
    status
});
message!(NamespaceSpec { finalizers });
message!(NamespaceStatus { phase, conditions });
message!(NamespaceCondition {
    r#type,
    status,
    last_transition_time,
    reason,
    message,
});
message!(Secret {
    metadata,
    immutable,
    data,
    string_data,
    r#type,
});
message!(ConfigMap {
    metadata,
    immutable,
    data,
    binary_data,
});
message!(ServiceAccount {
    metadata,
    secrets,
    image_pull_secrets,
    automount_service_account_token,
});
message!(ObjectReference {
    kind,
    namespace,
    name,
    uid,
    api_version,
    resource_version,
    field_path,
});
message!(LocalObjectReference { name });
message!(Service {
    metadata,
    spec,
    status
});
message!(ServiceSpec {
    ports,
    selector,
    cluster_ip as "clusterIP",
    cluster_ips as "clusterIPs",
    r#type,
    external_ips as "externalIPs",
    session_affinity,
    load_balancer_ip as "loadBalancerIP",
    load_balancer_source_ranges,
    external_name,
    external_traffic_policy,
    health_check_node_port,
    publish_not_ready_addresses,
    session_affinity_config,
    ip_families,
    ip_family_policy,
    allocate_load_balancer_node_ports,
    load_balancer_class,
    internal_traffic_policy,
    traffic_distribution,
});
message!(ServicePort {
    name,
    protocol,
    app_protocol,
    port,
    target_port,
    node_port,
});
message!(SessionAffinityConfig {
    client_ip as "clientIP"
});
message!(ClientIpConfig { timeout_seconds });
message!(ServiceStatus {
    load_balancer,
    conditions
});
message!(LoadBalancerStatus { ingress });
message!(LoadBalancerIngress {
    ip,
    hostname,
    ip_mode,
    ports
});
message!(PortStatus {
    port,
    protocol,
    error
});
message!(Event {
    metadata,
    involved_object,
    reason,
    message,
    source,
    first_timestamp,
    last_timestamp,
    count,
    r#type,
    event_time,
    series,
    action,
    related,
    reporting_component,
    reporting_instance,
});
message!(EventSource { component, host });
message!(EventSeries {
    count,
    last_observed_time
});
message!(Lease { metadata, spec });
message!(LeaseSpec {
    holder_identity,
    lease_duration_seconds,
    acquire_time,
    renew_time,
    lease_transitions,
    strategy,
    preferred_holder,
});

/// `metav1.Time`: RFC 3339 in seconds; the zero time is omitted (Go writes it as null).
impl ToJson for Time {
    fn to_json(&self) -> Option<Value> {
        timestamp(self.seconds, self.nanos, chrono::SecondsFormat::Secs)
    }
}

/// `metav1.MicroTime`: RFC 3339 in microseconds.
impl ToJson for MicroTime {
    fn to_json(&self) -> Option<Value> {
        timestamp(self.seconds, self.nanos, chrono::SecondsFormat::Micros)
    }
}

fn timestamp(
    seconds: Option<i64>,
    nanos: Option<i32>,
    format: chrono::SecondsFormat,
) -> Option<Value> {
    let (s, n) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if s == 0 && n == 0 {
        return None;
    }
    let t = chrono::DateTime::from_timestamp(s, u32::try_from(n).unwrap_or(0))?;
    Some(Value::String(t.to_rfc3339_opts(format, true)))
}

/// `intstr.IntOrString`: a number or a string, as its `type` says.
impl ToJson for IntOrString {
    fn to_json(&self) -> Option<Value> {
        Some(if self.r#type == Some(1) {
            Value::String(self.str_val.clone().unwrap_or_default())
        } else {
            Value::from(self.int_val.unwrap_or(0))
        })
    }
}

/// `FieldsV1` carries its JSON verbatim.
impl ToJson for FieldsV1 {
    fn to_json(&self) -> Option<Value> {
        serde_json::from_slice(self.raw.as_deref()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    fn meta(name: &str) -> ObjectMeta {
        // What Go sends: every non-pointer field, empty, and a zero creationTimestamp.
        ObjectMeta {
            name: Some(name.into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(Time::default()),
            ..Default::default()
        }
    }

    #[test]
    fn secret_with_bytes_and_string_data() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                labels: BTreeMap::from([("app".into(), "x".into())]),
                ..meta("s")
            }),
            data: BTreeMap::from([("password".into(), b"s3cret".to_vec())]),
            string_data: BTreeMap::from([("user".into(), "admin".into())]),
            r#type: Some("Opaque".into()),
            immutable: None,
        };
        let v = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s", "labels": {"app": "x"}},
                "data": {"password": "czNjcmV0"},
                "stringData": {"user": "admin"},
                "type": "Opaque"
            })
        );
    }

    #[test]
    fn service_ports_irregular_names_and_int_or_string() {
        let svc = Service {
            metadata: Some(meta("web")),
            spec: Some(ServiceSpec {
                ports: vec![ServicePort {
                    name: Some("80-80".into()),
                    protocol: Some("TCP".into()),
                    port: Some(80),
                    target_port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("http".into()),
                    }),
                    node_port: Some(0),
                    app_protocol: None,
                }],
                cluster_ip: Some("10.96.0.10".into()),
                external_ips: vec!["1.2.3.4".into()],
                r#type: Some("ClusterIP".into()),
                allocate_load_balancer_node_ports: Some(false),
                ..Default::default()
            }),
            status: Some(ServiceStatus::default()),
        };
        let v = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"],
            serde_json::json!({
                "ports": [{"name": "80-80", "protocol": "TCP", "port": 80, "targetPort": "http"}],
                "clusterIP": "10.96.0.10",
                "externalIPs": ["1.2.3.4"],
                "type": "ClusterIP",
                "allocateLoadBalancerNodePorts": false
            })
        );
        assert_eq!(v["status"], serde_json::json!({}));
    }

    #[test]
    fn times_and_lease() {
        let lease = Lease {
            metadata: Some(meta("leader")),
            spec: Some(LeaseSpec {
                holder_identity: Some("me".into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime {
                    seconds: Some(1_700_000_000),
                    nanos: Some(123_456_000),
                }),
                ..Default::default()
            }),
        };
        let v = decode(&envelope(
            "coordination.k8s.io/v1",
            "Lease",
            lease.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(v["spec"]["renewTime"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 15);
        assert!(v["metadata"].get("creationTimestamp").is_none());
    }

    #[test]
    fn unknown_kinds_and_garbage_are_refused_clearly() {
        let e = decode(&envelope("apps/v1", "Deployment", vec![])).unwrap_err();
        assert!(matches!(e, ProtoError::Unsupported(ref m) if m.contains("application/json")));
        assert!(matches!(
            decode(b"{\"kind\":\"Secret\"}"),
            Err(ProtoError::Invalid(_))
        ));
        assert!(matches!(
            decode(b"k8s\0\xff\xff\xff"),
            Err(ProtoError::Invalid(_))
        ));
        assert!(is_protobuf(
            "application/vnd.kubernetes.protobuf; charset=x"
        ));
        assert!(!is_protobuf("application/json"));
    }

    #[test]
    fn camel_case_of_prost_names() {
        assert_eq!(camel("r#type"), "type");
        assert_eq!(camel("fields_v1"), "fieldsV1");
        assert_eq!(
            camel("automount_service_account_token"),
            "automountServiceAccountToken"
        );
    }
}
