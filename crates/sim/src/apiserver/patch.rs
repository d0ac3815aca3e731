//! The four patch types the API server accepts.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next().unwrap_or("").trim();
        match ct {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("invalid patch body: {0}")]
    Body(String),
    #[error("the JSON patch could not be applied: {0}")]
    Apply(String),
}

/// Parses a patch body (YAML is accepted for apply patches; JSON is valid YAML).
pub fn parse_body(ty: PatchType, body: &[u8]) -> Result<Value, PatchError> {
    match ty {
        PatchType::Apply => {
            serde_yaml::from_slice(body).map_err(|e| PatchError::Body(e.to_string()))
        }
        _ => serde_json::from_slice(body).map_err(|e| PatchError::Body(e.to_string())),
    }
}

/// Applies a patch to `target` in place.
pub fn apply(ty: PatchType, target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    match ty {
        PatchType::Merge => {
            json_patch::merge(target, patch);
            Ok(())
        }
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| PatchError::Body(e.to_string()))?;
            json_patch::patch(target, &p).map_err(|e| PatchError::Apply(e.to_string()))
        }
        PatchType::Strategic | PatchType::Apply => {
            strategic_merge(target, patch, "");
            Ok(())
        }
    }
}

/// The merge key Kubernetes uses for well-known lists (strategic merge / apply).
fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let all_have = |k: &str| !items.is_empty() && items.iter().all(|i| i.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "volumeClaimTemplates" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "ports" if all_have("containerPort") => Some("containerPort"),
        "ports" if all_have("port") => Some("port"),
        "ownerReferences" => Some("uid"),
        "finalizers" => None,
        _ => None,
    }
}

/// JSON merge semantics plus list-merge-by-key for the lists Kubernetes declares mergeable,
/// and `$patch: delete` / `$retainKeys` directives ignored as a simplification.
pub fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_maps(t, p),
        (t @ Value::Array(_), Value::Array(p)) => {
            let key = merge_key(field, p);
            match (key, t) {
                (Some(key), Value::Array(existing))
                    if existing.iter().all(|i| i.get(key).is_some()) =>
                {
                    for item in p {
                        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                            existing.retain(|e| e.get(key) != item.get(key));
                            continue;
                        }
                        match existing.iter_mut().find(|e| e.get(key) == item.get(key)) {
                            Some(e) => strategic_merge(e, item, ""),
                            None => existing.push(item.clone()),
                        }
                    }
                }
                (_, t) => *t = Value::Array(p.clone()),
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn merge_maps(t: &mut Map<String, Value>, p: &Map<String, Value>) {
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match t.get_mut(k) {
            Some(existing)
                if (existing.is_object() && v.is_object())
                    || (existing.is_array() && v.is_array()) =>
            {
                strategic_merge(existing, v, k)
            }
            _ => {
                let mut fresh = v.clone();
                strip_nulls(&mut fresh);
                t.insert(k.clone(), fresh);
            }
        }
    }
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            strip_nulls(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_lists_by_key() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}], "args": ["1"]},
                           "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}], "args": ["2"]},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Paused", "status": "False"}]}});
        strategic_merge(&mut t, &p, "");
        assert_eq!(t["spec"]["containers"].as_array().unwrap().len(), 3);
        assert_eq!(t["spec"]["containers"][1]["image"], "z");
        assert_eq!(t["spec"]["args"], json!(["2"]));
        assert_eq!(t["status"]["conditions"][0]["status"], "True");
        assert_eq!(t["status"]["conditions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn merge_and_json_patch() {
        let mut t = json!({"a": 1, "b": {"c": 2}});
        apply(PatchType::Merge, &mut t, &json!({"b": {"c": null, "d": 3}})).unwrap();
        assert_eq!(t, json!({"a": 1, "b": {"d": 3}}));
        apply(
            PatchType::Json,
            &mut t,
            &json!([{"op": "replace", "path": "/a", "value": 5}]),
        )
        .unwrap();
        assert_eq!(t["a"], 5);
        assert!(apply(
            PatchType::Json,
            &mut t,
            &json!([{"op": "test", "path": "/a", "value": 6}])
        )
        .is_err());
    }
}
