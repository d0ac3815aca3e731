//! BackupStorage: find the backend secret, check the bucket, report Ready/NotReady with the
//! reason in the `BackendSecretFound` and `BackendInitialized` conditions.

use std::sync::Arc;
use std::time::Duration;

use kube::api::DynamicObject;
use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::util::{self, StorageProblem};
use super::Ctx;
use crate::operator::conditions::Conditions;
use crate::operator::OperatorError;

pub async fn reconcile(bs: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, OperatorError> {
    if bs.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = bs.metadata.namespace.clone().unwrap_or_default();
    let now = ctx.clock.now();
    let generation = bs.metadata.generation.unwrap_or(1);
    let status = bs.data.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conds = Conditions::from_status(&status);
    let ready = match util::storage_location(&ctx, &bs).await {
        Err(StorageProblem::Secret(why)) => {
            conds.set(
                "BackendSecretFound",
                false,
                "SecretNotAvailable",
                &why,
                generation,
                now,
            );
            conds.set(
                "BackendInitialized",
                false,
                "BackendInitializationFailed",
                "the backend secret is not available",
                generation,
                now,
            );
            false
        }
        Err(StorageProblem::Backend(why)) => {
            conds.set(
                "BackendSecretFound",
                true,
                "SecretAvailable",
                "backend secret found",
                generation,
                now,
            );
            conds.set(
                "BackendInitialized",
                false,
                "BackendInitializationFailed",
                &why,
                generation,
                now,
            );
            false
        }
        Ok(loc) => {
            conds.set(
                "BackendSecretFound",
                true,
                "SecretAvailable",
                "backend secret found",
                generation,
                now,
            );
            match loc.check().await {
                Ok(()) => {
                    conds.set(
                        "BackendInitialized",
                        true,
                        "BackendInitializationSucceeded",
                        &format!("bucket '{}' is ready to use", loc.bucket),
                        generation,
                        now,
                    );
                    true
                }
                Err(e) => {
                    conds.set(
                        "BackendInitialized",
                        false,
                        "BackendInitializationFailed",
                        &e.to_string(),
                        generation,
                        now,
                    );
                    false
                }
            }
        }
    };
    let mut new_status = if status.is_object() {
        status.clone()
    } else {
        json!({})
    };
    let was = status["phase"].as_str().unwrap_or_default().to_string();
    let phase = if ready { "Ready" } else { "NotReady" };
    new_status["phase"] = json!(phase);
    new_status["conditions"] = Value::Array(conds.0);
    let api = ctx.api(&ns, &super::backupstorages());
    util::write_status(&api, &bs, new_status).await?;
    if was != phase {
        // BackupConfigurations using this storage re-evaluate
        let _ = ctx.kick_configs.send(());
    }
    let recheck = if ready {
        ctx.config.storage_recheck
    } else {
        // a missing secret or bucket usually gets fixed soon
        ctx.config.storage_recheck.min(Duration::from_secs(5))
    };
    Ok(Action::requeue(recheck))
}
