//! Which engine versions the platform offers: the providers' KubeDB catalogs filtered by the
//! operator's allowed-versions policy. Deprecated catalog entries are never offered.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::Engine;
use crate::DomainError;

/// One version object of a provider's catalog (e.g. `PostgresVersion/16.10`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct CatalogVersion {
    pub engine: Engine,
    /// The catalog object's name: what goes into the database's `spec.version`.
    pub name: String,
    /// The engine version it runs (`spec.version`).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
    /// `spec.updateConstraints`: the versions this one may be upgraded to (Masterminds
    /// constraints; an empty allowlist allows any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_allowlist: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_denylist: Vec<String>,
    /// MySQL keeps separate lists for group replication (HA); other engines have one set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_allowlist_ha: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_denylist_ha: Option<Vec<String>>,
}

/// Per engine: which distributions are enabled, and explicit allow/deny lists (matched against the
/// catalog name or the version; a trailing `*` matches a prefix).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnginePolicy {
    /// Disables the engine entirely when false.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Only these distributions (case-insensitive); empty = all.
    #[serde(default)]
    pub distributions: Vec<String>,
    /// Only these versions; empty = all.
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The allowed-versions policy file: `{ "postgres": {"allow": ["16.*", "17.*"]}, … }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionPolicy(pub BTreeMap<Engine, EnginePolicy>);

fn pattern_matches(pattern: &str, v: &CatalogVersion) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => v.name.starts_with(prefix) || v.version.starts_with(prefix),
        None => v.name == pattern || v.version == pattern,
    }
}

impl VersionPolicy {
    /// Whether a catalog entry may be offered for new databases.
    pub fn allows(&self, v: &CatalogVersion) -> bool {
        if v.deprecated {
            return false;
        }
        let Some(p) = self.0.get(&v.engine) else {
            return true;
        };
        if !p.enabled {
            return false;
        }
        if !p.distributions.is_empty() {
            let d = v.distribution.as_deref().unwrap_or("");
            if !p.distributions.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                return false;
            }
        }
        if !p.allow.is_empty() && !p.allow.iter().any(|a| pattern_matches(a, v)) {
            return false;
        }
        !p.deny.iter().any(|d| pattern_matches(d, v))
    }

    /// The offered versions of one engine, deduplicated by name, newest first.
    pub fn offered<'a>(
        &self,
        engine: Engine,
        catalog: impl IntoIterator<Item = &'a CatalogVersion>,
    ) -> Vec<CatalogVersion> {
        let mut out: Vec<CatalogVersion> = catalog
            .into_iter()
            .filter(|v| v.engine == engine && self.allows(v))
            .cloned()
            .collect();
        out.sort_by(newest_first);
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// Finds the requested version (by catalog name or engine version) in a provider's catalog,
    /// or says why it cannot be used.
    pub fn resolve<'a>(
        &self,
        engine: Engine,
        requested: &str,
        catalog: &'a [CatalogVersion],
    ) -> Result<&'a CatalogVersion, DomainError> {
        let matching: Vec<&CatalogVersion> = catalog
            .iter()
            .filter(|v| v.engine == engine && (v.name == requested || v.version == requested))
            .collect();
        if let Some(v) = matching.iter().find(|v| self.allows(v)) {
            return Ok(v);
        }
        let offered: Vec<String> = self
            .offered(engine, catalog)
            .into_iter()
            .map(|v| v.name)
            .take(8)
            .collect();
        let choose = if offered.is_empty() {
            format!("no {engine} version is offered")
        } else {
            format!("offered: {}", offered.join(", "))
        };
        let why = if matching.iter().any(|v| v.deprecated) {
            format!("{engine} version '{requested}' is deprecated")
        } else if matching.is_empty() {
            format!("{engine} version '{requested}' is not in the catalog")
        } else {
            format!(
                "{engine} version '{requested}' is not allowed by the platform's version policy"
            )
        };
        Err(DomainError::VersionUnavailable(format!("{why}; {choose}")))
    }
}

/// Compares versions numerically component by component (`16.10` > `16.9`), newest first;
/// non-numeric parts compare as text.
pub fn newest_first(a: &CatalogVersion, b: &CatalogVersion) -> Ordering {
    compare_versions(&b.version, &a.version).then_with(|| b.name.cmp(&a.name))
}

pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |s: &str| -> Vec<String> {
        s.split(['.', '-', '+'])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, version: &str, dist: Option<&str>, deprecated: bool) -> CatalogVersion {
        CatalogVersion {
            engine: Engine::Postgres,
            name: name.into(),
            version: version.into(),
            distribution: dist.map(str::to_string),
            deprecated,
            update_allowlist: vec![],
            update_denylist: vec![],
            update_allowlist_ha: None,
            update_denylist_ha: None,
        }
    }

    #[test]
    fn sorted_newest_first_numerically() {
        let cat = vec![
            v("16.9", "16.9", None, false),
            v("16.10", "16.10", None, false),
            v("9.6", "9.6", None, false),
        ];
        let names: Vec<_> = VersionPolicy::default()
            .offered(Engine::Postgres, &cat)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, ["16.10", "16.9", "9.6"]);
    }

    #[test]
    fn policy_filters_and_resolve_explains() {
        let cat = vec![
            v("13.2", "13.2", Some("Official"), true),
            v("16.10", "16.10", Some("Official"), false),
            v("timescaledb-2.14", "16.1", Some("TimescaleDB"), false),
            v("17.6", "17.6", Some("Official"), false),
        ];
        let policy: VersionPolicy = serde_json::from_value(serde_json::json!({
            "postgres": {"distributions": ["official"], "deny": ["17.*"]}
        }))
        .unwrap();
        let offered: Vec<_> = policy
            .offered(Engine::Postgres, &cat)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(offered, ["16.10"]);
        assert_eq!(
            policy
                .resolve(Engine::Postgres, "16.10", &cat)
                .unwrap()
                .name,
            "16.10"
        );
        let e = policy.resolve(Engine::Postgres, "13.2", &cat).unwrap_err();
        assert!(e.to_string().contains("deprecated"), "{e}");
        let e = policy.resolve(Engine::Postgres, "17.6", &cat).unwrap_err();
        assert!(e.to_string().contains("policy"), "{e}");
        let e = policy.resolve(Engine::Postgres, "8.0", &cat).unwrap_err();
        assert!(
            e.to_string().contains("not in the catalog") && e.to_string().contains("16.10"),
            "{e}"
        );
        let off: VersionPolicy =
            serde_json::from_value(serde_json::json!({"postgres": {"enabled": false}})).unwrap();
        assert!(off.offered(Engine::Postgres, &cat).is_empty());
    }
}
