//! Structural-schema validation, defaulting and pruning for custom resources, as the real API
//! server does it with a CRD's `openAPIV3Schema`. A schema is compiled once per CRD version into a
//! tree; regexes are shared across the tree (the same quantity pattern appears hundreds of times).

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Object => "object",
            Ty::Array => "array",
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Number => "number",
            Ty::Boolean => "boolean",
        }
    }
}

/// One compiled schema node.
#[derive(Debug, Default)]
pub struct Schema {
    ty: Option<Ty>,
    properties: Option<HashMap<String, Schema>>,
    /// `additionalProperties`: a schema for every other key (maps).
    additional: Option<Box<Schema>>,
    /// `additionalProperties: true`
    additional_any: bool,
    items: Option<Box<Schema>>,
    required: Vec<String>,
    enum_values: Option<Vec<Value>>,
    pattern: Option<Arc<Regex>>,
    pattern_src: Option<String>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_min: bool,
    exclusive_max: bool,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    min_properties: Option<usize>,
    max_properties: Option<usize>,
    format: Option<String>,
    int_or_string: bool,
    preserve_unknown: bool,
    embedded: bool,
    nullable: bool,
    default: Option<Value>,
    any_of: Vec<Schema>,
    one_of: Vec<Schema>,
    all_of: Vec<Schema>,
}

/// One validation failure, shaped like a `metav1.StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

#[derive(Default)]
pub struct Compiler {
    regexes: HashMap<String, Option<Arc<Regex>>>,
}

impl Compiler {
    pub fn compile(&mut self, v: &Value) -> Schema {
        let Some(m) = v.as_object() else {
            return Schema::default();
        };
        let mut s = Schema {
            ty: match m.get("type").and_then(Value::as_str) {
                Some("object") => Some(Ty::Object),
                Some("array") => Some(Ty::Array),
                Some("string") => Some(Ty::String),
                Some("integer") => Some(Ty::Integer),
                Some("number") => Some(Ty::Number),
                Some("boolean") => Some(Ty::Boolean),
                _ => None,
            },
            ..Default::default()
        };
        if let Some(props) = m.get("properties").and_then(Value::as_object) {
            s.properties = Some(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), self.compile(v)))
                    .collect(),
            );
        }
        match m.get("additionalProperties") {
            Some(Value::Bool(true)) => s.additional_any = true,
            Some(v @ Value::Object(_)) => s.additional = Some(Box::new(self.compile(v))),
            _ => {}
        }
        if let Some(items) = m.get("items") {
            s.items = Some(Box::new(self.compile(items)));
        }
        if let Some(req) = m.get("required").and_then(Value::as_array) {
            s.required = req
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect();
        }
        s.enum_values = m.get("enum").and_then(Value::as_array).cloned();
        if let Some(p) = m.get("pattern").and_then(Value::as_str) {
            let re = self
                .regexes
                .entry(p.to_string())
                .or_insert_with(|| Regex::new(p).ok().map(Arc::new))
                .clone();
            s.pattern = re;
            s.pattern_src = Some(p.to_string());
        }
        let num = |k: &str| m.get(k).and_then(Value::as_f64);
        let size = |k: &str| m.get(k).and_then(Value::as_u64).map(|n| n as usize);
        s.minimum = num("minimum");
        s.maximum = num("maximum");
        s.exclusive_min = m
            .get("exclusiveMinimum")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        s.exclusive_max = m
            .get("exclusiveMaximum")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        s.min_length = size("minLength");
        s.max_length = size("maxLength");
        s.min_items = size("minItems");
        s.max_items = size("maxItems");
        s.min_properties = size("minProperties");
        s.max_properties = size("maxProperties");
        s.format = m.get("format").and_then(Value::as_str).map(String::from);
        let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
        s.int_or_string = flag("x-kubernetes-int-or-string");
        s.preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
        s.embedded = flag("x-kubernetes-embedded-resource");
        s.nullable = flag("nullable");
        s.default = m.get("default").cloned();
        let list = |c: &mut Self, k: &str| -> Vec<Schema> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|x| c.compile(x)).collect())
                .unwrap_or_default()
        };
        s.any_of = list(self, "anyOf");
        s.one_of = list(self, "oneOf");
        s.all_of = list(self, "allOf");
        s
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Object(_) => "object".into(),
        Value::Array(_) => "array".into(),
        other => {
            let s = other.to_string();
            if s.len() > 64 {
                format!(
                    "{}...",
                    &s[..s.char_indices().nth(60).map(|(i, _)| i).unwrap_or(s.len())]
                )
            } else {
                s
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Outcome of running a schema over an object.
#[derive(Debug, Default)]
pub struct Outcome {
    pub causes: Vec<Cause>,
    /// Paths of fields that were pruned (reported as errors under `fieldValidation=Strict`).
    pub unknown: Vec<String>,
}

impl Schema {
    /// Defaults, prunes and validates a whole custom resource. `apiVersion`, `kind` and
    /// `metadata` at the root are the server's business, except `metadata.name` restrictions.
    pub fn process_root(&self, obj: &mut Value) -> Outcome {
        let mut out = Outcome::default();
        let Some(map) = obj.as_object_mut() else {
            out.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                field: String::new(),
                message: "must be an object".into(),
            });
            return out;
        };
        let props = self.properties.as_ref();
        // Defaults first, so required checks see them.
        if let Some(props) = props {
            for (k, sub) in props {
                if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if map.get(k).is_some_and(Value::is_null) && !sub.nullable {
                    map.remove(k);
                }
                if !map.contains_key(k) {
                    if let Some(d) = &sub.default {
                        map.insert(k.clone(), d.clone());
                    }
                }
            }
        }
        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "apiVersion" | "kind") {
                continue;
            }
            if k == "metadata" {
                if let (Some(name_schema), Some(name)) = (
                    props
                        .and_then(|p| p.get("metadata"))
                        .and_then(|m| m.properties.as_ref())
                        .and_then(|p| p.get("name")),
                    map.get("metadata").and_then(|m| m.get("name")).cloned(),
                ) {
                    name_schema.check_scalar(&name, "metadata.name", &mut out);
                }
                continue;
            }
            match props.and_then(|p| p.get(&k)) {
                Some(sub) => {
                    if let Some(v) = map.get_mut(&k) {
                        sub.process(v, &k, &mut out);
                    }
                }
                None if self.preserve_unknown => {}
                None => {
                    map.remove(&k);
                    out.unknown.push(k);
                }
            }
        }
        for r in &self.required {
            if !map.contains_key(r) {
                out.causes.push(Cause {
                    reason: "FieldValueRequired",
                    field: r.clone(),
                    message: "Required value".into(),
                });
            }
        }
        out
    }

    fn type_ok(&self, v: &Value) -> bool {
        if self.int_or_string {
            return matches!(v, Value::String(_)) || v.as_i64().is_some() || v.as_u64().is_some();
        }
        match self.ty {
            None => true,
            Some(Ty::Object) => v.is_object(),
            Some(Ty::Array) => v.is_array(),
            Some(Ty::String) => v.is_string(),
            Some(Ty::Integer) => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Some(Ty::Number) => v.is_number(),
            Some(Ty::Boolean) => v.is_boolean(),
        }
    }

    /// Checks that need no recursion: type, enum, pattern, bounds.
    fn check_scalar(&self, v: &Value, path: &str, out: &mut Outcome) -> bool {
        if v.is_null() {
            if self.nullable || self.ty.is_none() {
                return true;
            }
            let ty = self.ty.map(Ty::name).unwrap_or("object");
            out.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                field: path.into(),
                message: format!(
                    "Invalid value: \"null\": {path} in body must be of type {ty}: \"null\""
                ),
            });
            return false;
        }
        if !self.type_ok(v) {
            let ty = if self.int_or_string {
                "integer or string".to_string()
            } else {
                self.ty.map(Ty::name).unwrap_or("").to_string()
            };
            out.causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                field: path.into(),
                message: format!(
                    "Invalid value: \"{}\": {path} in body must be of type {ty}: \"{}\"",
                    type_name(v),
                    type_name(v)
                ),
            });
            return false;
        }
        if let Some(values) = &self.enum_values {
            if !values.contains(v) {
                let supported: Vec<String> = values.iter().map(|x| x.to_string()).collect();
                out.causes.push(Cause {
                    reason: "FieldValueNotSupported",
                    field: path.into(),
                    message: format!(
                        "Unsupported value: {}: supported values: {}",
                        short(v),
                        supported.join(", ")
                    ),
                });
            }
        }
        if let Value::String(s) = v {
            if let (Some(re), Some(src)) = (&self.pattern, &self.pattern_src) {
                if !re.is_match(s) {
                    out.causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: path.into(),
                        message: format!(
                            "Invalid value: \"{s}\": {path} in body should match '{src}'"
                        ),
                    });
                }
            }
            let len = s.chars().count();
            if let Some(max) = self.max_length.filter(|m| len > *m) {
                out.causes.push(Cause {
                    reason: "FieldValueTooLong",
                    field: path.into(),
                    message: format!("Too long: may not be more than {max} bytes"),
                });
            }
            if let Some(min) = self.min_length.filter(|m| len < *m) {
                out.causes.push(Cause {
                    reason: "FieldValueInvalid",
                    field: path.into(),
                    message: format!("Invalid value: \"{s}\": {path} in body should be at least {min} chars long"),
                });
            }
            if let Some(fmt) = &self.format {
                if !format_ok(fmt, s) {
                    out.causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: path.into(),
                        message: format!(
                            "Invalid value: \"{s}\": {path} in body must be of type {fmt}: \"{s}\""
                        ),
                    });
                }
            }
        }
        if let Some(n) = v.as_f64().filter(|_| v.is_number()) {
            if let Some(min) = self.minimum {
                if n < min || (self.exclusive_min && n <= min) {
                    let op = if self.exclusive_min {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    out.causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: path.into(),
                        message: format!("Invalid value: {v}: {path} in body should be {op} {min}"),
                    });
                }
            }
            if let Some(max) = self.maximum {
                if n > max || (self.exclusive_max && n >= max) {
                    let op = if self.exclusive_max {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    out.causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: path.into(),
                        message: format!("Invalid value: {v}: {path} in body should be {op} {max}"),
                    });
                }
            }
        }
        true
    }

    fn process(&self, v: &mut Value, path: &str, out: &mut Outcome) {
        if !self.check_scalar(v, path, out) || v.is_null() {
            return;
        }
        // Combinators validate only (structural schemas may not add fields through them).
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.matches(v)) {
            out.causes.push(Cause {
                reason: "FieldValueInvalid",
                field: path.into(),
                message: format!(
                    "Invalid value: {}: {path} in body must match at least one schema in anyOf",
                    short(v)
                ),
            });
        }
        if !self.one_of.is_empty() && self.one_of.iter().filter(|s| s.matches(v)).count() != 1 {
            out.causes.push(Cause {
                reason: "FieldValueInvalid",
                field: path.into(),
                message: format!(
                    "Invalid value: {}: {path} in body must match exactly one schema in oneOf",
                    short(v)
                ),
            });
        }
        for s in &self.all_of {
            if !s.matches(v) {
                out.causes.push(Cause {
                    reason: "FieldValueInvalid",
                    field: path.into(),
                    message: format!(
                        "Invalid value: {}: {path} in body must match all schemas in allOf",
                        short(v)
                    ),
                });
            }
        }
        match v {
            Value::Object(map) => self.process_object(map, path, out),
            Value::Array(items) => {
                if let Some(max) = self.max_items.filter(|m| items.len() > *m) {
                    out.causes.push(Cause {
                        reason: "FieldValueTooMany",
                        field: path.into(),
                        message: format!(
                            "Too many: {}: must have at most {max} items",
                            items.len()
                        ),
                    });
                }
                if let Some(min) = self.min_items.filter(|m| items.len() < *m) {
                    out.causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: path.into(),
                        message: format!(
                            "Invalid value: {}: {path} in body should have at least {min} items",
                            items.len()
                        ),
                    });
                }
                if let Some(item_schema) = &self.items {
                    for (i, item) in items.iter_mut().enumerate() {
                        item_schema.process(item, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    fn process_object(&self, map: &mut Map<String, Value>, path: &str, out: &mut Outcome) {
        if let Some(props) = &self.properties {
            for (k, sub) in props {
                if map.get(k).is_some_and(Value::is_null) && !sub.nullable {
                    map.remove(k);
                }
                if !map.contains_key(k) {
                    if let Some(d) = &sub.default {
                        map.insert(k.clone(), d.clone());
                    }
                }
            }
        }
        let keys: Vec<String> = map.keys().cloned().collect();
        for k in keys {
            let sub = self
                .properties
                .as_ref()
                .and_then(|p| p.get(&k))
                .or(self.additional.as_deref());
            match sub {
                Some(sub) => {
                    if let Some(v) = map.get_mut(&k) {
                        sub.process(v, &join(path, &k), out);
                    }
                }
                None if self.preserve_unknown || self.additional_any || self.ty.is_none() => {}
                None if self.embedded
                    && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") => {}
                None => {
                    map.remove(&k);
                    out.unknown.push(join(path, &k));
                }
            }
        }
        for r in &self.required {
            if !map.contains_key(r) {
                out.causes.push(Cause {
                    reason: "FieldValueRequired",
                    field: join(path, r),
                    message: "Required value".into(),
                });
            }
        }
        if let Some(max) = self.max_properties.filter(|m| map.len() > *m) {
            out.causes.push(Cause {
                reason: "FieldValueTooMany",
                field: path.into(),
                message: format!("Too many: {}: must have at most {max} items", map.len()),
            });
        }
        if let Some(min) = self.min_properties.filter(|m| map.len() < *m) {
            out.causes.push(Cause {
                reason: "FieldValueInvalid",
                field: path.into(),
                message: format!("{path} in body should have at least {min} properties"),
            });
        }
    }

    /// Whether a value satisfies this schema (for anyOf/oneOf/allOf), without changing it.
    fn matches(&self, v: &Value) -> bool {
        let mut copy = v.clone();
        let mut out = Outcome::default();
        self.process(&mut copy, "", &mut out);
        out.causes.is_empty()
    }
}

fn format_ok(fmt: &str, s: &str) -> bool {
    match fmt {
        "int32" | "int64" | "byte" | "" => true,
        "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        "uuid" => s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
        // Other formats (duration, uri, email, quantity...) are accepted as the server does for
        // unknown formats.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Compiler::default().compile(&json!({
            "type": "object",
            "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
                "spec": {
                    "type": "object",
                    "required": ["version"],
                    "properties": {
                        "version": {"type": "string"},
                        "replicas": {"type": "integer", "minimum": 1, "default": 1},
                        "policy": {"type": "string", "enum": ["Delete", "WipeOut"], "default": "Delete"},
                        "size": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "items": {"type": "array", "maxItems": 2, "items": {"type": "string", "pattern": "^[a-z]+$"}}
                    }
                }
            }
        }))
    }

    #[test]
    fn defaults_prunes_and_validates() {
        let s = schema();
        let mut obj = json!({"metadata": {"name": "ok"}, "spec": {"version": "16", "size": "1Gi", "junk": 1, "free": {"x": {"y": 1}}, "labels": {"a": "b"}}});
        let out = s.process_root(&mut obj);
        assert!(out.causes.is_empty(), "{:?}", out.causes);
        assert_eq!(out.unknown, vec!["spec.junk".to_string()]);
        assert_eq!(obj["spec"]["replicas"], 1);
        assert_eq!(obj["spec"]["policy"], "Delete");
        assert_eq!(obj["spec"]["free"]["x"]["y"], 1);
        assert!(obj["spec"].get("junk").is_none());
    }

    #[test]
    fn names_the_failing_fields() {
        let s = schema();
        let mut obj = json!({"metadata": {"name": "much-too-long-name"}, "spec": {"replicas": "three", "policy": "Keep", "size": true, "items": ["a", "B", "c"], "labels": {"a": 1}}});
        let out = s.process_root(&mut obj);
        let fields: Vec<&str> = out.causes.iter().map(|c| c.field.as_str()).collect();
        for f in [
            "metadata.name",
            "spec.replicas",
            "spec.policy",
            "spec.size",
            "spec.items",
            "spec.items[1]",
            "spec.labels.a",
            "spec.version",
        ] {
            assert!(fields.contains(&f), "missing {f} in {fields:?}");
        }
    }
}
