//! Onboarding, changing and removing providers (Kubernetes clusters running KubeDB). The domain
//! checks the request; the store says whether the name is free and the tenant exists; a probe of
//! the cluster (in memory, before anything is stored) says whether it can be used. The audit
//! entry commits with the write.

use std::time::Duration;

use chrono::Utc;
use domain::ids::{new_id, IdKind};
use domain::model::{Provider, ProviderCapacity};
use domain::quota::Usage;
use domain::requests::{ProviderCreate, ProviderUpdate};
use domain::validate;
use serde_json::{json, Value};
use store::ProviderFilter;

use super::{Actor, Committed, Ctx};
use crate::catalog::kubedb_facts;
use crate::error::{ApiError, ApiResult};
use crate::health_check::{connection_value, ConnectionStatus};
use crate::state::Audit;

/// Onboarding answers within the request timeout (30 s) even when the cluster hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// Onboards a cluster: checked, probed, then stored with its kubeconfig sealed.
pub async fn create(ctx: &Ctx<'_>, actor: &Actor<'_>, req: ProviderCreate) -> ApiResult<Provider> {
    req.validate()?;
    tenant_exists(ctx, &req.domain).await?;
    // Before the probe: a duplicate need not wait for a cluster round trip.
    name_free(ctx, &req.name, None).await?;
    let facts = probe(&req.kubeconfig_content, req.verify_ssl).await?;
    let now = Utc::now();
    let p = Provider {
        id: new_id(IdKind::Provider),
        name: req.name,
        region: req.region,
        availability_zone: req.availability_zone,
        cloud_provider: req.cloud_provider,
        domain: req.domain,
        capacity: ProviderCapacity {
            cpu_total_cores: req.cpu_total_cores,
            memory_total_gb: req.memory_total_gb,
            storage_total_gb: req.storage_total_gb,
            cpu_reservation_percent: req.cpu_reservation_percent,
            memory_reservation_percent: req.memory_reservation_percent,
            storage_reservation_percent: req.storage_reservation_percent,
        },
        allocated: Usage::default(),
        verify_ssl: req.verify_ssl,
        enable_loadbalancer: req.enable_loadbalancer,
        is_active: req.is_active,
        is_maintenance: false,
        priority: req.priority,
        tags: req.tags,
        metadata: validate::json_object("metadata", req.metadata)?,
        kubedb: facts["kubedb"].clone(),
        connection: facts["connection"].clone(),
        created_at: now,
        updated_at: now,
    };
    let audit = audit_of(
        actor,
        "provider.create",
        &p,
        201,
        json!({"name": p.name, "region": p.region}),
    );
    ctx.store
        .create_provider(&p, &req.kubeconfig_content, &[audit])
        .await?;
    ctx.committed(Committed {
        provider: Some(&p.id),
        ..Default::default()
    })
    .await;
    Ok(p)
}

/// Changes a provider; a new kubeconfig or TLS setting must work before it replaces what works now.
pub async fn update(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    id: &str,
    req: ProviderUpdate,
) -> ApiResult<Provider> {
    let mut p = load(ctx, id).await?;
    let ssl_changed = req.verify_ssl.is_some_and(|v| v != p.verify_ssl);
    let renamed = req.name.as_ref().is_some_and(|n| *n != p.name);
    let changed = req.apply(&mut p)?;
    if renamed {
        name_free(ctx, &p.name, Some(&p.id)).await?;
    }
    if let Some(d) = &req.domain {
        tenant_exists(ctx, d).await?;
    }
    if req.kubeconfig_content.is_some() || ssl_changed {
        let content = match &req.kubeconfig_content {
            Some(k) => k.clone(),
            None => ctx
                .store
                .provider_kubeconfig(&p.id)
                .await?
                .ok_or_else(|| ApiError::not_found("Provider", id))?,
        };
        let facts = probe(&content, p.verify_ssl).await?;
        p.kubedb = facts["kubedb"].clone();
        p.connection = facts["connection"].clone();
    }
    p.updated_at = Utc::now();
    let audit = audit_of(
        actor,
        "provider.update",
        &p,
        200,
        json!({"fields": changed}),
    );
    ctx.store
        .update_provider(&p, req.kubeconfig_content.as_deref(), &[audit])
        .await?;
    ctx.committed(Committed {
        provider: Some(&p.id),
        ..Default::default()
    })
    .await;
    Ok(p)
}

/// Removes a provider no live database uses (409 otherwise).
pub async fn delete(ctx: &Ctx<'_>, actor: &Actor<'_>, id: &str) -> ApiResult<()> {
    let p = load(ctx, id).await?;
    let audit = audit_of(actor, "provider.delete", &p, 204, json!({"name": p.name}));
    if !ctx.store.delete_provider(id, &[audit]).await? {
        return Err(ApiError::not_found("Provider", id));
    }
    ctx.committed(Committed {
        provider: Some(id),
        ..Default::default()
    })
    .await;
    Ok(())
}

pub async fn load(ctx: &Ctx<'_>, id: &str) -> ApiResult<Provider> {
    ctx.store
        .get_provider(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Provider", id))
}

fn audit_of(
    actor: &Actor<'_>,
    action: &'static str,
    p: &Provider,
    code: u16,
    details: Value,
) -> domain::audit::AuditEntry {
    Audit::new(action, "provider")
        .id(&p.id)
        .scope(p.domain.as_deref(), None)
        .by(actor.user_id, actor.email)
        .status(code)
        .details(details)
        .entry(actor.ctx)
}

/// A dedicated provider's tenant must exist: a provider dedicated to a name nobody holds yet
/// would go to whoever registers that name first. (A tenant with dedicated providers cannot be
/// deleted, so the dedication stays valid.)
async fn tenant_exists(ctx: &Ctx<'_>, domain: &Option<String>) -> ApiResult<()> {
    let Some(d) = domain else { return Ok(()) };
    if ctx.store.get_tenant(d).await?.is_none() {
        // A rule against what is stored, not the request's shape: 400, like a missing binding scope.
        let message =
            format!("tenant '{d}' does not exist: create it before dedicating a provider to it");
        return Err(ApiError::bad_request(format!("domain: {message}"))
            .with_details(serde_json::json!([{ "field": "domain", "message": message }])));
    }
    Ok(())
}

async fn name_free(ctx: &Ctx<'_>, name: &str, except: Option<&str>) -> ApiResult<()> {
    let all = ctx.store.list_providers(&ProviderFilter::default()).await?;
    if all
        .iter()
        .any(|p| p.name == name && Some(p.id.as_str()) != except)
    {
        return Err(ApiError::conflict(format!(
            "provider '{name}' already exists"
        )));
    }
    Ok(())
}

/// Connects in memory and probes; any failure is a 400 carrying the probe's reason.
async fn probe(content: &str, verify_ssl: bool) -> ApiResult<Value> {
    let checked = async {
        let cluster = provider::Cluster::connect(content, verify_ssl).await?;
        cluster.probe().await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, checked).await {
        Ok(Ok(report)) => Ok(json!({
            "kubedb": kubedb_facts(&report),
            "connection": connection_value(ConnectionStatus::Connected, Utc::now(), Some(&report.server_version), None),
        })),
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "The cluster cannot be used: {e}"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "The cluster cannot be used: no answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}
