//! `meta.k8s.io/v1` Table output, which kubectl asks for on `get`: Name, the CRD's printer
//! columns (or a few well-known columns for built-ins), and Age.

use std::sync::Arc;

use serde_json::{json, Value};

use super::registry::{PrinterColumn, ResourceInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn col(name: &str, ty: &str, path: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        ty: ty.into(),
        json_path: path.into(),
        priority: 0,
        description: String::new(),
    }
}

fn builtin_columns(info: &ResourceInfo) -> Vec<PrinterColumn> {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "namespaces") => vec![col("Status", "string", ".status.phase")],
        ("", "pods") => vec![
            col("Status", "string", ".status.phase"),
            col("IP", "string", ".status.podIP"),
        ],
        ("", "services") => vec![
            col("Type", "string", ".spec.type"),
            col("Cluster-IP", "string", ".spec.clusterIP"),
            col(
                "External-IP",
                "string",
                ".status.loadBalancer.ingress[0].ip",
            ),
        ],
        ("", "secrets") => vec![col("Type", "string", ".type")],
        ("", "persistentvolumeclaims") => vec![
            col("Status", "string", ".status.phase"),
            col("Capacity", "string", ".status.capacity.storage"),
            col("StorageClass", "string", ".spec.storageClassName"),
        ],
        ("", "events") => vec![
            col("Type", "string", ".type"),
            col("Reason", "string", ".reason"),
            col("Message", "string", ".message"),
        ],
        ("storage.k8s.io", "storageclasses") => vec![col("Provisioner", "string", ".provisioner")],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            vec![col("Created At", "date", ".metadata.creationTimestamp")]
        }
        _ => Vec::new(),
    }
}

/// Evaluates the simple JSONPath forms printer columns use: `.a.b`, `.a[0].b`, `.a['x.y']`.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = obj;
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim_matches(|c| c == '\'' || c == '"');
            cur = match inner.parse::<usize>() {
                Ok(i) => cur.get(i)?,
                Err(_) => cur.get(inner)?,
            };
            rest = &r[end + 1..];
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        cur = cur.get(&rest[..end])?;
        rest = &rest[end..];
    }
    Some(cur)
}

/// "5s", "3m", "2h", "4d" as kubectl prints ages.
pub fn human_age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn cell(obj: &Value, c: &PrinterColumn) -> Value {
    match json_path(obj, &c.json_path) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if c.ty == "date" => json!(human_age(s)),
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => v.clone(),
        Some(other) => json!(other.to_string()),
    }
}

pub fn table(
    info: &ResourceInfo,
    version: &str,
    objects: &[Arc<Value>],
    rv: &str,
    include: Include,
) -> Value {
    let custom = info
        .version(version)
        .map(|v| v.printer_columns.clone())
        .unwrap_or_default();
    let mut columns = if info.crd {
        custom
    } else {
        builtin_columns(info)
    };
    let has_age = columns.iter().any(|c| c.name == "Age");
    if !has_age {
        columns.push(col("Age", "date", ".metadata.creationTimestamp"));
    }
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for c in &columns {
        defs.push(json!({"name": c.name, "type": if c.ty == "date" { "string" } else { c.ty.as_str() }, "format": "", "description": c.description, "priority": c.priority}));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(json!(""))];
            cells.extend(columns.iter().map(|c| cell(o, c)));
            let object = match include {
                Include::None => Value::Null,
                Include::Metadata => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")}),
                Include::Object => (**o).clone(),
            };
            let mut row = json!({"cells": cells});
            if !object.is_null() {
                row["object"] = object;
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let o = json!({"a": {"b": [{"c": 1}], "x.y": "z"}});
        assert_eq!(json_path(&o, ".a.b[0].c"), Some(&json!(1)));
        assert_eq!(json_path(&o, ".a['x.y']"), Some(&json!("z")));
        assert_eq!(json_path(&o, ".a.missing"), None);
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }
}
