//! Which engine versions new databases may use: the allowed-versions policy (loaded once at start)
//! and the version catalogs stored on providers (refreshed by onboarding and health checks).
//!
//! Other server code calls [`AppState::version_policy`] and [`AppState::offered_catalog`] (or the
//! free function [`provider_catalog`]); version listings read providers through
//! [`AppState::catalog_providers`], a short cache that provider writes on this replica invalidate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use domain::model::Provider;
use domain::versions::{CatalogVersion, VersionPolicy};
use serde_json::Value;
use store::{ProviderFilter, StoreError};

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the versions policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the versions policy file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Loads the policy file (JSON when it ends in `.json`, YAML otherwise); `None` allows every
/// non-deprecated version. An empty file is the empty policy.
pub fn load_policy(path: Option<&Path>) -> Result<VersionPolicy, PolicyError> {
    let Some(path) = path else {
        return Ok(VersionPolicy::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_policy(&text, path)
}

fn parse_policy(text: &str, path: &Path) -> Result<VersionPolicy, PolicyError> {
    let bad = |message: String| PolicyError::Parse {
        path: path.to_path_buf(),
        message,
    };
    if text.trim().is_empty() {
        return Ok(VersionPolicy::default());
    }
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))
    } else {
        serde_yaml::from_str(text).map_err(|e| bad(e.to_string()))
    }
}

/// The catalog a provider's last probe found (`kubedb.catalog`), deprecated entries included;
/// empty when it was never probed or the stored value does not parse.
pub fn provider_catalog(p: &Provider) -> Vec<CatalogVersion> {
    let Some(items) = p.kubedb.get("catalog").and_then(Value::as_array) else {
        return Vec::new();
    };
    items
        .iter()
        // One malformed entry (e.g. an engine this build does not know) must not hide the rest.
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// What the platform keeps about a cluster's KubeDB after probing it (`Provider.kubedb`):
/// `{installed, version, engines, missing_crds, catalog}`. Shown without the catalog in provider
/// answers; the catalog is what [`provider_catalog`] reads back.
pub fn kubedb_facts(report: &provider::ProbeReport) -> Value {
    let catalog: Vec<CatalogVersion> = report
        .catalog
        .iter()
        .map(|c| CatalogVersion {
            engine: c.engine,
            name: c.name.clone(),
            version: c.version.clone(),
            distribution: c.distribution.clone(),
            deprecated: c.deprecated,
            update_allowlist: c.update_allowlist.clone(),
            update_denylist: c.update_denylist.clone(),
            update_allowlist_ha: c.update_allowlist_ha.clone(),
            update_denylist_ha: c.update_denylist_ha.clone(),
        })
        .collect();
    serde_json::json!({
        "installed": report.kubedb_installed,
        "version": report.kubedb_version,
        "engines": report.engines,
        "missing_crds": report.missing_crds,
        "catalog": catalog,
    })
}

impl AppState {
    /// The allowed-versions policy every offer and every database create goes through.
    pub fn version_policy(&self) -> &VersionPolicy {
        &self.version_policy
    }

    /// The catalog stored on that provider (see [`provider_catalog`]); resolve a requested version
    /// with `self.version_policy().resolve(engine, requested, &catalog)`.
    pub fn offered_catalog(&self, p: &Provider) -> Vec<CatalogVersion> {
        provider_catalog(p)
    }

    /// Every provider, cached for a few seconds for version listings (which every UI page
    /// load may ask for).
    pub async fn catalog_providers(&self) -> Result<Arc<Vec<Provider>>, StoreError> {
        if let Some(v) = self.provider_list.get(&()).await {
            return Ok(v);
        }
        let list = Arc::new(
            self.store
                .list_providers(&ProviderFilter::default())
                .await?,
        );
        self.provider_list.insert((), list.clone()).await;
        Ok(list)
    }

    /// Call after any provider write on this replica: drops the cached list and client, and tells
    /// the status watchers.
    pub async fn provider_written(&self, id: &str) {
        self.workflows()
            .committed(crate::context::Committed {
                provider: Some(id),
                ..Default::default()
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::engine::Engine;

    fn entry(name: &str, version: &str, deprecated: bool) -> CatalogVersion {
        CatalogVersion {
            engine: Engine::Postgres,
            name: name.into(),
            version: version.into(),
            distribution: Some("Official".into()),
            deprecated,
            update_allowlist: vec![],
            update_denylist: vec![],
            update_allowlist_ha: None,
            update_denylist_ha: None,
        }
    }

    #[test]
    fn yaml_json_and_empty_files_parse() {
        let y = parse_policy(
            "postgres:\n  deny: [\"16.*\"]\nredis:\n  enabled: false\n",
            Path::new("p.yaml"),
        )
        .unwrap();
        assert!(!y.allows(&entry("16.10", "16.10", false)));
        assert!(y.allows(&entry("17.6", "17.6", false)));
        let j = parse_policy(r#"{"postgres": {"allow": ["17.*"]}}"#, Path::new("p.json")).unwrap();
        assert!(!j.allows(&entry("16.10", "16.10", false)));
        assert!(j.allows(&entry("17.6", "17.6", false)));
        assert_eq!(
            parse_policy("  \n", Path::new("p.yaml")).unwrap(),
            VersionPolicy::default()
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let e = parse_policy("postgress:\n  deny: []\n", Path::new("/etc/p.yaml")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("/etc/p.yaml") && text.contains("postgress"),
            "{text}"
        );
        let e = parse_policy("postgres:\n  denny: []\n", Path::new("p.yaml")).unwrap_err();
        assert!(e.to_string().contains("denny"), "{e}");
        let e = load_policy(Some(Path::new("/nonexistent/policy.yaml"))).unwrap_err();
        assert!(matches!(e, PolicyError::Read { .. }), "{e}");
        assert_eq!(load_policy(None).unwrap(), VersionPolicy::default());
    }

    #[test]
    fn catalog_is_read_from_the_stored_kubedb_facts() {
        let mut p = crate::routes::providers::tests::provider_fixture();
        p.kubedb = serde_json::json!({
            "installed": true,
            "catalog": [
                {"engine": "postgres", "name": "16.10", "version": "16.10", "distribution": "Official", "deprecated": false},
                {"engine": "postgres", "name": "13.22", "version": "13.22", "distribution": null, "deprecated": true},
                {"engine": "cassandra", "name": "5.0", "version": "5.0"}
            ]
        });
        let cat = provider_catalog(&p);
        assert_eq!(cat.len(), 2);
        assert_eq!(cat[0], entry("16.10", "16.10", false));
        assert!(cat[1].deprecated && cat[1].distribution.is_none());
        p.kubedb = Value::Null;
        assert!(provider_catalog(&p).is_empty());
    }
}
