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
