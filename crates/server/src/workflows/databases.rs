//! Creating and deleting databases. A create is checked by the domain, placed by one pure
//! `placement::plan` run inside the reserving transaction (provider and catalog entry together),
//! and committed with its queued operation and audit entry; a delete queues its operation and
//! audit entry together. Refusals that touch nothing are audited on their own.

use std::collections::BTreeMap;

use chrono::Utc;
use domain::ids::{new_id, IdKind};
use domain::model::{CurrentState, Database, Operation, Provider};
use domain::placement::{self, PlacementRequest, PlanRequest};
use domain::quota::{self, Usage};
use domain::requests::DatabaseCreate;
use domain::status::{DatabaseStatus, OperationType};
use domain::DomainError;
use provider::translate::Owner;
use serde_json::{json, Value};
use store::{DatabaseChange, DatabasePatch, ProviderFilter};

use super::day2::PlanResponse;
use super::{Actor, Committed, Ctx};
use crate::catalog::provider_catalog;
use crate::clusters::api_error;
use crate::error::{ApiError, ApiResult};
use crate::ops::create::{CreateDesired, SEALED_CREDENTIALS};
use crate::state::Audit;

/// Where the caller would like a new database (the `X-Region` / `X-Availability-Zone` headers).
#[derive(Debug, Default, Clone)]
pub struct Preference {
    pub region: Option<String>,
    pub availability_zone: Option<String>,
}

/// A create or delete: queued (with its operation), or planned by a dry run.
pub enum Outcome {
    Queued {
        database: Box<Database>,
        operation_id: String,
    },
    Planned(Box<PlanResponse>),
}

/// Queues a new database (or plans it, on a dry run).
pub async fn create(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    domain: &str,
    project: &str,
    req: DatabaseCreate,
    preference: Preference,
    dry_run: bool,
) -> ApiResult<Outcome> {
    create_restored(ctx, actor, domain, project, req, preference, dry_run, None).await
}

/// Queues a new database that starts from a backup (`restore`), or an empty one.
#[allow(clippy::too_many_arguments)]
pub async fn create_restored(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    domain: &str,
    project: &str,
    req: DatabaseCreate,
    preference: Preference,
    dry_run: bool,
    restore: Option<crate::ops::backup::RestoreFrom>,
) -> ApiResult<Outcome> {
    req.validate()?;
    let Some(project_record) = ctx.store.get_project(domain, project).await? else {
        return Err(ApiError::not_found("Project", project));
    };
    let need = Usage::of_database(
        req.size,
        req.storage_gb,
        req.engine.pods(req.replicas, req.high_availability),
    );
    let plan_request = PlanRequest {
        placement: PlacementRequest {
            domain: domain.to_string(),
            need,
            region: preference.region,
            availability_zone: preference.availability_zone,
        },
        engine: req.engine,
        version: &req.version,
        provider_id: req.provider_id.as_deref(),
        policy: ctx.version_policy,
    };
    let db = new_database(domain, project, &req, need);
    let mut op = ctx.new_operation(
        &new_id(IdKind::Operation),
        &db,
        OperationType::Create,
        actor.user_id,
    );
    let desired = CreateDesired {
        credentials: sealed_credentials(ctx, &req),
        restore,
    };
    op.desired_state = json!({ "version": req.version, "size": req.size, "storage_gb": req.storage_gb,
        "replicas": req.replicas, "high_availability": req.high_availability });
    if let (Value::Object(m), Value::Object(sealed)) = (
        &mut op.desired_state,
        serde_json::to_value(&desired).expect("serialisable"),
    ) {
        m.extend(sealed);
    }

    if dry_run {
        // The quotas the reservation checks, read without a lock: a plan that could not be
        // carried out says so.
        let used = ctx.store.project_usage(domain, project).await?;
        quota::check(&project_record.quota, used, need, "project")?;
        if let Some(tenant) = ctx.store.get_tenant(domain).await? {
            let used = ctx.store.domain_usage(domain).await?;
            quota::check(&tenant.quota, used, need, "domain")?;
        }
        // The same candidates the store would lock, read without a lock.
        let candidates: Vec<Provider> = ctx
            .store
            .list_providers(&ProviderFilter::default())
            .await?
            .into_iter()
            .filter(|p| p.is_active && !p.is_maintenance)
            .filter(|p| p.domain.as_deref().is_none_or(|d| d == domain))
            .collect();
        let placed = placement::plan(&candidates, provider_catalog, &plan_request)?;
        let provider = candidates.iter().find(|p| p.id == placed.provider_id);
        return Ok(Outcome::Planned(Box::new(create_plan(
            &db,
            &op,
            &placed.version.name,
            provider,
            need,
            ctx.monitor,
        ))));
    }

    let choose =
        |candidates: &[Provider]| placement::plan(candidates, provider_catalog, &plan_request);
    let audit = Audit::new("database.create", "database")
        .id(&db.id)
        .scope(Some(domain), Some(project))
        .by(actor.user_id, actor.email)
        .status(202)
        .details(
            json!({"name": db.name, "engine": db.engine, "requested_version": req.version,
            "size": db.size, "replicas": db.replicas, "operation_id": op.id}),
        )
        .entry(actor.ctx);
    let stored = ctx
        .store
        .create_database(&db, &op, Some(&choose), &[audit])
        .await?;
    ctx.committed(Committed {
        queued: true,
        database: Some(&stored.id),
        quota_of: Some((domain, Some(project))),
        ..Default::default()
    })
    .await;
    Ok(Outcome::Queued {
        database: Box::new(stored),
        operation_id: op.id,
    })
}

/// The record a create request describes, before placement.
fn new_database(domain: &str, project: &str, req: &DatabaseCreate, need: Usage) -> Database {
    let now = Utc::now();
    Database {
        id: new_id(IdKind::Database),
        name: req.name.clone(),
        domain: domain.to_string(),
        project: project.to_string(),
        engine: req.engine,
        version: req.version.clone(),
        size: req.size,
        storage_gb: req.storage_gb,
        replicas: req.replicas,
        ready_replicas: 0,
        status: DatabaseStatus::Pending,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: req.backup_enabled,
        backup_schedule: req.backup_schedule.clone(),
        backup_retention_days: req.backup_retention_days,
        high_availability: req.high_availability,
        monitoring_enabled: req.monitoring_enabled,
        deletion_protection: req.deletion_protection,
        endpoint: None,
        port: None,
        service_type: None,
        loadbalancer_ip: None,
        labels: req.labels.clone().unwrap_or_default(),
        annotations: req.annotations.clone().unwrap_or_default(),
        provider_id: None,
        namespace: None,
        kubedb_resource_name: None,
        current: CurrentState::default(),
        upgrade_policy: None,
        conditions: json!([]),
        reserved: need,
        created_at: now,
        updated_at: now,
    }
}

/// User-chosen credentials, sealed with the platform key until the create operation uses them.
fn sealed_credentials(ctx: &Ctx<'_>, req: &DatabaseCreate) -> Option<String> {
    let password = req.password.as_ref()?;
    let user = req
        .username
        .clone()
        .unwrap_or_else(|| default_user(req.engine).to_string());
    Some(
        ctx.secrets
            .encrypt(&serde_json::to_string(&(user, password)).expect("strings serialise")),
    )
}

fn default_user(engine: domain::engine::Engine) -> &'static str {
    provider::kubedb::names::engine(engine.as_str())
        .map(|m| m.default_user)
        .unwrap_or("admin")
}

/// A create's dry run: where it would go, what it would send to the cluster, what it would hold.
fn create_plan(
    db: &Database,
    op: &Operation,
    version_name: &str,
    provider: Option<&Provider>,
    need: Usage,
    monitor: &provider::translate::MonitorAgent,
) -> PlanResponse {
    let namespace = provider::translate::namespace_name(&db.domain, &db.project);
    let mut planned = db.clone();
    planned.provider_id = provider.map(|p| p.id.clone());
    planned.namespace = Some(namespace.clone());
    planned.kubedb_resource_name = Some(db.name.clone());
    planned.version = version_name.to_string();
    let service_type = if provider.is_some_and(|p| p.enable_loadbalancer) {
        "LoadBalancer"
    } else {
        "ClusterIP"
    };
    let objects = vec![
        provider::translate::namespace_object(&namespace, &db.domain, &db.project),
        provider::translate::network_policy(&planned, &namespace, &BTreeMap::new()),
        provider::translate::database_object(&provider::CreatePlan {
            db: &planned,
            namespace: &namespace,
            version_name,
            auth_secret: None,
            storage_class: None,
            service_type,
            monitor,
        }),
    ];
    let mut desired = op.desired_state.clone();
    if let Some(m) = desired.as_object_mut() {
        m.remove(SEALED_CREDENTIALS);
    }
    PlanResponse {
        dry_run: true,
        database_id: db.id.clone(),
        changed: Vec::new(),
        operations: vec![
            json!({"type": OperationType::Create, "desired_state": desired,
            "provider_id": planned.provider_id, "version": version_name}),
        ],
        kubernetes_objects: objects,
        quota_delta: need,
    }
}

/// Queues the database's delete (or plans it). Asking twice returns the delete already on its way.
pub async fn delete(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    d: Database,
    dry_run: bool,
) -> ApiResult<Outcome> {
    let audit = |code: u16, details: Value| {
        Audit::new("database.delete", "database")
            .id(&d.id)
            .scope(Some(&d.domain), Some(&d.project))
            .by(actor.user_id, actor.email)
            .status(code)
            .details(details)
            .entry(actor.ctx)
    };
    if d.deletion_protection {
        ctx.audit_alone(audit(400, json!({"reason": "deletion_protection"})))
            .await;
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' has deletion protection on; turn it off first",
            d.name
        ))));
    }
    if d.status == DatabaseStatus::Deleted {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' is already deleted",
            d.name
        ))));
    }
    // Refuse at once when the cluster holds another owner's object under this record's name; the
    // worker checks again before it changes anything. An unreachable cluster is the worker's to retry.
    if let Err(e) = owned_object(ctx, actor, &d).await {
        if e.status == axum::http::StatusCode::CONFLICT {
            ctx.audit_alone(audit(409, json!({"reason": e.message})))
                .await;
            return Err(e);
        }
    }
    if dry_run {
        let target = json!({"kind": provider::translate::meta(d.engine).kind,
            "namespace": d.namespace, "name": d.kubedb_resource_name});
        return Ok(Outcome::Planned(Box::new(PlanResponse {
            dry_run: true,
            database_id: d.id.clone(),
            changed: Vec::new(),
            operations: vec![json!({"type": OperationType::Delete})],
            kubernetes_objects: vec![
                json!({"patch": target, "spec": {"deletionPolicy": "WipeOut"}}),
                json!({"delete": target}),
            ],
            quota_delta: Usage::default().minus(d.reserved),
        })));
    }
    if let Some(op) =
        crate::ops::unfinished_operation(ctx.store.as_ref(), &d.id, OperationType::Delete).await?
    {
        return Ok(Outcome::Queued {
            database: Box::new(d),
            operation_id: op.id,
        });
    }
    let op = ctx.new_operation(
        &new_id(IdKind::Operation),
        &d,
        OperationType::Delete,
        actor.user_id,
    );
    let live: Vec<DatabaseStatus> = DatabaseStatus::ALL
        .iter()
        .copied()
        .filter(|s| *s != DatabaseStatus::Deleted)
        .collect();
    let change = DatabaseChange {
        patch: DatabasePatch {
            expect_status: live,
            ..Default::default()
        },
        enqueue: vec![op.clone()],
        audit: vec![audit(202, json!({"operation_id": op.id}))],
        ..Default::default()
    };
    if !ctx.store.apply_change(&d.id, &change, Utc::now()).await? {
        return Err(ApiError::from(DomainError::InvalidState(format!(
            "database '{}' is already deleted",
            d.name
        ))));
    }
    ctx.committed(Committed {
        queued: true,
        database: Some(&d.id),
        ..Default::default()
    })
    .await;
    Ok(Outcome::Queued {
        database: Box::new(d),
        operation_id: op.id,
    })
}

/// The cluster of the provider a database is placed on.
pub async fn provider_cluster(ctx: &Ctx<'_>, provider_id: &str) -> ApiResult<provider::Cluster> {
    let p = ctx
        .store
        .get_provider(provider_id)
        .await?
        .ok_or_else(|| ApiError::unavailable("the database's provider is gone"))?;
    ctx.cluster(&p).await.map_err(api_error)
}

/// The record's KubeDB object, after checking that the cluster's objects are this record's: the
/// namespace carries the record's project labels and the object the record's id. Ok(None) when the
/// record has no object yet or it is gone. A mismatch is a 409 naming the conflict, recorded in the
/// audit log as `database.ownership_conflict`, and nothing is read or written.
pub async fn owned_object(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    d: &Database,
) -> ApiResult<Option<(provider::Cluster, provider::ObservedDatabase)>> {
    let (Some(ns), Some(name), Some(pid)) = (&d.namespace, &d.kubedb_resource_name, &d.provider_id)
    else {
        return Ok(None);
    };
    let cluster = provider_cluster(ctx, pid).await?;
    let owner = Owner::of(d);
    let checked = async {
        cluster.check_namespace(ns, &owner).await?;
        cluster.get_owned_database(d.engine, ns, name, &owner).await
    };
    let found = owned_read(ctx, actor, d, checked.await).await?;
    Ok(found.map(|o| (cluster, o)))
}

/// A cluster read's result as an answer: a Conflict (another owner's object) is audited as
/// `database.ownership_conflict` and answered 409; other failures map as usual.
pub async fn owned_read<T>(
    ctx: &Ctx<'_>,
    actor: &Actor<'_>,
    d: &Database,
    result: Result<T, provider::ProviderError>,
) -> ApiResult<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e @ provider::ProviderError::Conflict(_)) => {
            let message = e.to_string();
            tracing::warn!(database = %d.id, "{message}");
            ctx.audit_alone(
                Audit::new("database.ownership_conflict", "database")
                    .id(&d.id)
                    .scope(Some(&d.domain), Some(&d.project))
                    .by(actor.user_id, actor.email)
                    .status(409)
                    .details(json!({
                        "namespace": d.namespace, "name": d.kubedb_resource_name,
                        "reason": message,
                    }))
                    .entry(actor.ctx),
            )
            .await;
            Err(api_error(e))
        }
        Err(e) => Err(api_error(e)),
    }
}
