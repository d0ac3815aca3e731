//! Version catalogs as stored on providers (refreshed by onboarding and health checks).

use domain::model::Provider;
use domain::versions::CatalogVersion;

/// The catalog stored on a provider (`kubedb.catalog`); empty when never read.
pub fn provider_catalog(p: &Provider) -> Vec<CatalogVersion> {
    p.kubedb
        .get("catalog")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

impl crate::state::AppState {
    /// The allowed-versions policy (replaced by the configured policy file on merge).
    pub fn version_policy(&self) -> domain::versions::VersionPolicy {
        domain::versions::VersionPolicy::default()
    }
}

/// What the platform keeps about a cluster's KubeDB after probing it: shown (without the catalog)
/// in provider responses, and the catalog that version checks and placement read.
pub fn kubedb_facts(report: &provider::ProbeReport) -> serde_json::Value {
    let catalog: Vec<CatalogVersion> = report
        .catalog
        .iter()
        .map(|c| CatalogVersion {
            engine: c.engine,
            name: c.name.clone(),
            version: c.version.clone(),
            distribution: c.distribution.clone(),
            deprecated: c.deprecated,
        })
        .collect();
    serde_json::json!({
        "installed": report.kubedb_installed,
        "version": report.kubedb_version,
        "engines": report.engines,
        "catalog": catalog,
    })
}
