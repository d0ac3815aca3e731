//! The upstream KubeDB CRD schemas (`../shared/kubedb-crds`) as JSON-schema validators.
//! Shared by the unit tests in `src/kubedb/tests.rs` (via `#[path]`) and the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Value};

pub fn shared_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

pub fn crd_dir() -> Option<PathBuf> {
    let dir = shared_dir().join("kubedb-crds");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTE: {} not found; upstream CRD schema checks skipped",
            dir.display()
        );
        None
    }
}

/// openAPIV3Schema → JSON Schema: int-or-string, nullable; unknown fields stay allowed because
/// the API server prunes rather than rejects them.
pub fn to_json_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, val) in m {
                let converted = match k.as_str() {
                    "properties" | "patternProperties" | "definitions" => match val {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(pk, pv)| (pk.clone(), to_json_schema(pv)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    "items" | "additionalProperties" | "not" => to_json_schema(val),
                    "allOf" | "anyOf" | "oneOf" => match val {
                        Value::Array(a) => Value::Array(a.iter().map(to_json_schema).collect()),
                        other => other.clone(),
                    },
                    // metadata.name patterns etc. are fine; drop formats the validator does not know anyway
                    "format" => continue,
                    _ => val.clone(),
                };
                out.insert(k.clone(), converted);
            }
            if m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                out.remove("type");
                out.insert(
                    "anyOf".into(),
                    json!([{ "type": "integer" }, { "type": "string" }]),
                );
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

pub struct Schemas(pub BTreeMap<String, jsonschema::Validator>);

impl Schemas {
    /// One validator per `apiVersion/kind` from the upstream CRD files.
    pub fn load(dir: &std::path::Path) -> Schemas {
        let mut map = BTreeMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read crd dir")
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            if !(name.starts_with("kubedb.com_")
                || name.starts_with("ops.kubedb.com_")
                || name.starts_with("catalog.kubedb.com_"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read crd");
            let crd: Value = serde_yaml::from_str(&text).expect("crd yaml");
            let group = crd["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for ver in crd["spec"]["versions"].as_array().into_iter().flatten() {
                let vname = ver["name"].as_str().unwrap_or_default();
                let schema = to_json_schema(&ver["schema"]["openAPIV3Schema"]);
                let validator =
                    jsonschema::validator_for(&schema).expect("upstream schema compiles");
                map.insert(format!("{group}/{vname}/{kind}"), validator);
            }
        }
        Schemas(map)
    }

    pub fn errors(&self, obj: &Value) -> Vec<String> {
        let key = format!(
            "{}/{}",
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default()
        );
        let Some(v) = self.0.get(&key) else {
            return vec![format!("no upstream schema for {key}")];
        };
        v.iter_errors(obj)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }
}
