//! Reaching a provider's cluster: clients come from the per-provider cache (built in memory from
//! the decrypted kubeconfig, rebuilt when the provider changes, rate-limited per provider).

use domain::model::Provider;
use provider::{Cluster, Endpoint, ProviderError};
use store::DatabasePatch;

use crate::error::ApiError;
use crate::state::AppState;

/// The cached client of a provider's cluster.
pub async fn cluster_for(state: &AppState, p: &Provider) -> Result<Cluster, ProviderError> {
    state.workflows().cluster(p).await
}

/// A cluster failure as an HTTP answer: unreachable → 503, refused → 400 with the reason.
pub fn api_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Transient(m) => {
            ApiError::unavailable(format!("the database's cluster is unreachable: {m}"))
        }
        ProviderError::NotFound(m) => {
            ApiError::bad_request(format!("not found in the cluster: {m}"))
        }
        // An object with the platform's name but another owner: the platform refuses to touch it.
        ProviderError::Conflict(m) => ApiError::conflict(m),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// The record's endpoint columns as the cluster's service gives them (`None`: no service yet).
pub fn endpoint_patch(endpoint: Option<Endpoint>) -> DatabasePatch {
    match endpoint {
        Some(e) => DatabasePatch {
            endpoint: Some(Some(e.host)),
            port: Some(Some(e.port as i64)),
            service_type: Some(Some(e.service_type)),
            loadbalancer_ip: Some(e.loadbalancer_ip),
            ..Default::default()
        },
        None => DatabasePatch {
            endpoint: Some(None),
            port: Some(None),
            loadbalancer_ip: Some(None),
            ..Default::default()
        },
    }
}
