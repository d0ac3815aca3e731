//! The maintenance scheduler: inside a database's maintenance window, queues the newest upgrade
//! its policy permits (`auto_patch`, `auto_minor`), never outside it. A database with unfinished
//! operations waits for the next tick. Every replica ticks today: two replicas ticking at the same
//! instant could both queue the upgrade (the second then fails, as the database already runs that
//! version); the leader of the high-availability work will own this loop.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::day2::{self, UpgradePolicy};
use domain::status::{DatabaseStatus, OperationType};
use store::Fence;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::day2::{submit, unfinished, Request};
use super::Actor;
use crate::ops::day2::Day2Desired;
use crate::state::{AppState, RequestCtx};

/// Who the audit log names for what the scheduler queues.
pub const SCHEDULER: &str = "system:maintenance";

/// One pass at `now`; returns how many upgrades it queued. `fence`: the leader's term, outside
/// which nothing is queued.
pub async fn tick(state: &AppState, now: DateTime<Utc>, fence: Option<&Fence>) -> usize {
    let dbs = match state.store.list_policy_databases().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "maintenance: listing databases failed");
            return 0;
        }
    };
    let ctx = RequestCtx {
        method: "SCHEDULE".into(),
        path: "maintenance".into(),
        ..Default::default()
    };
    let mut queued = 0;
    for db in dbs {
        let Some(policy) = db
            .upgrade_policy
            .clone()
            .and_then(|p| serde_json::from_value::<UpgradePolicy>(p).ok())
        else {
            continue;
        };
        if db.status != DatabaseStatus::Running || policy.maintenance_window.is_none() {
            continue;
        }
        match unfinished(&state.workflows(), &db.id).await {
            Ok(u) if u.is_empty() => {}
            _ => continue,
        }
        let Some(catalog) = provider_catalog(state, &db).await else {
            continue;
        };
        let offered = day2::available_upgrades(
            db.engine,
            &db.version,
            db.high_availability,
            &catalog,
            state.version_policy(),
        );
        let Some(target) = policy.due(now, &offered).cloned() else {
            continue;
        };
        let mut req = Request {
            action: "database.upgrade_version",
            operations: vec![(
                OperationType::UpgradeVersion,
                Day2Desired {
                    from_version: Some(db.version.clone()),
                    target_version: Some(target.version.clone()),
                    ..Default::default()
                },
            )],
            settings: Default::default(),
            changed: vec!["version".into()],
            reserve: None,
            details: serde_json::json!({"from_version": db.version, "target_version": target.version,
                "kind": target.kind, "scheduled": true}),
        };
        req.settings.version = Some(target.version.clone());
        let actor = Actor {
            user_id: SCHEDULER,
            email: SCHEDULER,
            ctx: &ctx,
            fence,
        };
        match submit(&state.workflows(), actor, db.clone(), req, false).await {
            Ok(_) => {
                tracing::info!(database = %db.id, to = %target.version, "maintenance: upgrade queued");
                queued += 1;
            }
            Err(e) => {
                tracing::info!(database = %db.id, error = %e.message, "maintenance: upgrade not queued")
            }
        }
    }
    queued
}

async fn provider_catalog(
    state: &AppState,
    db: &domain::model::Database,
) -> Option<Vec<domain::versions::CatalogVersion>> {
    let p = state
        .store
        .get_provider(db.provider_id.as_deref()?)
        .await
        .ok()??;
    Some(crate::catalog::provider_catalog(&p))
}

/// Ticks every `every` until `stop` turns true.
pub fn spawn(
    state: &AppState,
    every: Duration,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            tick(&state, Utc::now(), Some(&fence)).await;
        }
    })
}
