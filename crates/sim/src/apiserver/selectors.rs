//! Label and field selectors as the API server parses them.

use serde_json::Value;

use super::store::LabelTerm;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn value_list(s: &str) -> Result<Vec<String>, SelectorError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| SelectorError(s.to_string()))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement {
                    key: key.trim().to_string(),
                    op: Op::NotExists,
                }
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotEq(v.trim().to_string()),
                }
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::Eq(v.trim().to_string()),
                }
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::Eq(v.trim().to_string()),
                }
            } else if let Some(idx) = part.find(" notin ") {
                Requirement {
                    key: part[..idx].trim().to_string(),
                    op: Op::NotIn(value_list(&part[idx + 7..])?),
                }
            } else if let Some(idx) = part.find(" in ") {
                Requirement {
                    key: part[..idx].trim().to_string(),
                    op: Op::In(value_list(&part[idx + 4..])?),
                }
            } else if let Some(idx) = part.find("notin(") {
                Requirement {
                    key: part[..idx].trim().to_string(),
                    op: Op::NotIn(value_list(&part[idx + 5..])?),
                }
            } else if let Some(idx) = part.find("in(") {
                Requirement {
                    key: part[..idx].trim().to_string(),
                    op: Op::In(value_list(&part[idx + 2..])?),
                }
            } else {
                Requirement {
                    key: part.to_string(),
                    op: Op::Exists,
                }
            };
            if !valid_key(&req.key) {
                return Err(SelectorError(part.to_string()));
            }
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The requirements a label index can answer (`key=v`, `key==v`, `key in (…)`): every object
    /// the selector matches carries, for each term, its key with one of its values.
    pub fn index_terms(&self) -> Vec<LabelTerm<'_>> {
        self.reqs
            .iter()
            .filter_map(|r| match &r.op {
                Op::Eq(v) => Some(LabelTerm {
                    key: &r.key,
                    values: vec![v.as_str()],
                }),
                Op::In(vs) => Some(LabelTerm {
                    key: &r.key,
                    values: vs.iter().map(String::as_str).collect(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Matches against an object's `metadata.labels`.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        self.reqs.iter().all(|r| {
            let v = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => !v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }
}

/// A field selector: `path=value`, `path==value`, `path!=value`, comma-separated. Any dotted path
/// into the object is accepted (metadata.name, metadata.namespace, involvedObject.name,
/// involvedObject.uid, reason, type, status.phase); `source` is an Event's `source.component`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(SelectorError(part.to_string()));
            };
            let k = match k.trim() {
                // the one Event field whose selector name is not its path
                "source" => "source.component",
                k => k,
            };
            reqs.push((
                format!("/{}", k.replace('.', "/")),
                eq,
                v.trim().to_string(),
            ));
        }
        Ok(Self { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(ptr, eq, want)| {
            let actual = match obj.pointer(ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let obj = json!({"metadata": {"name": "a", "labels": {"app": "db", "tier": "gold"}}});
        for (sel, want) in [
            ("app=db", true),
            ("app==db", true),
            ("app!=db", false),
            ("app in (db, cache)", true),
            ("app notin (db,cache)", false),
            ("tier,app=db", true),
            ("!tier", false),
            ("!missing", true),
            ("missing", false),
            ("app=db,tier in (silver)", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in db").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "ns"}, "status": {"phase": "Ready"}});
        assert!(
            FieldSelector::parse("metadata.name=a,metadata.namespace==ns")
                .unwrap()
                .matches(&obj)
        );
        assert!(!FieldSelector::parse("metadata.name!=a")
            .unwrap()
            .matches(&obj));
        assert!(FieldSelector::parse("status.phase=Ready")
            .unwrap()
            .matches(&obj));
        assert!(FieldSelector::parse("nonsense").is_err());
        let event = json!({"involvedObject": {"kind": "Postgres", "name": "pg", "uid": "u-1"},
            "reason": "Ready", "type": "Normal", "source": {"component": "KubeDB Operator"}});
        for (sel, want) in [
            ("involvedObject.uid=u-1,involvedObject.kind=Postgres", true),
            ("involvedObject.name=pg,reason=Ready,type=Normal", true),
            ("source=KubeDB Operator", true),
            ("involvedObject.uid=u-2", false),
            ("type!=Normal", false),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&event),
                want,
                "{sel}"
            );
        }
    }
}
