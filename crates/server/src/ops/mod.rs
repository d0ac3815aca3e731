//! The operation engine: N workers claim operations from the durable queue and carry them out.
//!
//! Workers are woken the moment an operation is queued (in memory on this replica, PostgreSQL
//! `NOTIFY` across replicas); a slow safety tick only picks up leases that expired because a worker
//! died. One operation per database runs at a time, in order (the store's claim guarantees it).
//! A worker renews its lease while it works; a transient failure is retried with capped exponential
//! backoff and jitter up to `max_retries`; a permanent one fails with a message a human can act on.

pub mod create;
mod delete;
pub mod signals;

use std::time::Duration;

use chrono::Utc;
use domain::model::Operation;
use domain::status::{OperationStatus, OperationType};
use rand::Rng;
use store::OperationOutcome;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub use signals::Signals;

/// How a step of an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Worth retrying: the cluster or the store was unreachable, a 5xx, a timeout.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help; the text says what to do.
    #[error("{0}")]
    Permanent(String),
    /// The worker lost its lease (another worker owns the operation now): stop quietly.
    #[error("lease lost")]
    LeaseLost,
}

impl From<store::StoreError> for StepError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::Unavailable(m) => StepError::Transient(m),
            other => StepError::Permanent(other.to_string()),
        }
    }
}

impl From<provider::ProviderError> for StepError {
    fn from(e: provider::ProviderError) -> Self {
        if e.is_transient() {
            StepError::Transient(e.to_string())
        } else {
            StepError::Permanent(e.to_string())
        }
    }
}

/// What a running operation can use: the state, its own record (for progress), its worker id.
pub struct OpCtx {
    pub state: AppState,
    pub op: Operation,
    pub worker: String,
}

impl OpCtx {
    /// Records progress; fails with `LeaseLost` when another worker took the operation over.
    pub async fn progress(&mut self, pct: i32, message: &str) -> Result<(), StepError> {
        self.op.progress = pct.clamp(0, 100);
        self.op.message = Some(message.to_string());
        if self
            .state
            .store
            .save_progress(&self.op, &self.worker)
            .await?
        {
            Ok(())
        } else {
            Err(StepError::LeaseLost)
        }
    }
}

/// Starts the workers; they stop when `stop` turns true.
pub fn spawn_workers(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let replica = &state.ops.replica_id;
    let mut handles: Vec<JoinHandle<()>> = (0..state.config.workers)
        .map(|i| {
            let worker = format!("{replica}-w{i}");
            tokio::spawn(worker_loop(state.clone(), worker, stop.clone()))
        })
        .collect();
    handles.push(tokio::spawn(listen_across_replicas(state.clone(), stop)));
    handles
}

/// Forwards PostgreSQL notifications (other replicas queued something) to the local workers.
async fn listen_across_replicas(state: AppState, mut stop: watch::Receiver<bool>) {
    use futures::StreamExt;
    let mut stream = match state.store.queue_wakeups().await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for queue notifications; workers rely on their safety tick");
            return;
        }
    };
    loop {
        tokio::select! {
            n = stream.next() => match n {
                Some(()) => state.ops.wake_local(),
                None => return,
            },
            _ = stop.changed() => return,
        }
    }
}

async fn worker_loop(state: AppState, worker: String, mut stop: watch::Receiver<bool>) {
    let lease = Duration::from_secs(state.config.operation_lease_secs.max(1));
    // Only for leases that expired with their worker; new work arrives by wake-up.
    let safety_tick = lease / 2;
    let mut wake = state.ops.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        wake.borrow_and_update();
        match state
            .store
            .claim_operation(&worker, lease, Utc::now())
            .await
        {
            Ok(Some(op)) => {
                state.metrics.record_operation_claimed();
                run(&state, &worker, op, lease).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "claiming an operation failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(safety_tick) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Runs one claimed operation to an outcome, renewing its lease meanwhile.
async fn run(state: &AppState, worker: &str, op: Operation, lease: Duration) {
    let op_id = op.id.clone();
    let span =
        tracing::info_span!("operation", id = %op.id, kind = %op.op_type, db = %op.database_id);
    let _enter = span.enter();
    drop(_enter);
    let started = std::time::Instant::now();
    let renewer = {
        let (state, worker, op_id) = (state.clone(), worker.to_string(), op_id.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match state
                    .store
                    .renew_lease(&op_id, &worker, lease, Utc::now())
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, "renewing a lease failed"),
                }
            }
        })
    };
    let timeout = Duration::from_secs(state.config.operation_timeout_secs.max(1));
    let mut ctx = OpCtx {
        state: state.clone(),
        op: op.clone(),
        worker: worker.to_string(),
    };
    let result = tokio::time::timeout(timeout, execute(&mut ctx)).await;
    renewer.abort();
    let kind = op.op_type;
    let outcome = match result {
        Ok(Ok(message)) => Outcome::Done(message),
        Ok(Err(StepError::LeaseLost)) => {
            tracing::warn!(op = %op_id, "lease lost; another worker carries on");
            return;
        }
        Ok(Err(StepError::Transient(m))) if ctx.op.retry_count < ctx.op.max_retries => {
            Outcome::Retry(m)
        }
        Ok(Err(StepError::Transient(m))) => Outcome::Failed(format!(
            "{m} (gave up after {} attempts)",
            ctx.op.retry_count + 1
        )),
        Ok(Err(StepError::Permanent(m))) => Outcome::Failed(m),
        Err(_) => Outcome::TimedOut(format!("did not finish within {} s", timeout.as_secs())),
    };
    let now = Utc::now();
    let written = match &outcome {
        Outcome::Done(message) => {
            state
                .store
                .complete_operation(
                    &op_id,
                    worker,
                    &OperationOutcome {
                        status: OperationStatus::Completed,
                        message: Some(message.clone()),
                        error_message: None,
                    },
                    now,
                )
                .await
        }
        Outcome::Retry(error) => {
            let wait = backoff(
                ctx.op.retry_count,
                state.config.retry_base_ms,
                state.config.retry_cap_secs,
            );
            let run_after = now + chrono::Duration::from_std(wait).unwrap_or_default();
            tracing::info!(op = %op_id, error = %error, retry_in_ms = wait.as_millis() as u64, "transient failure; will retry");
            let r = state
                .store
                .retry_operation(&op_id, worker, run_after, error)
                .await;
            // Wake a worker when the backoff ends rather than polling for it.
            let ops = state.ops.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                ops.wake_local();
            });
            r
        }
        Outcome::Failed(error) | Outcome::TimedOut(error) => {
            let status = if matches!(outcome, Outcome::TimedOut(_)) {
                OperationStatus::Timeout
            } else {
                OperationStatus::Failed
            };
            tracing::warn!(op = %op_id, error = %error, "operation failed");
            if let Err(e) = on_failure(&ctx, error).await {
                tracing::error!(op = %op_id, error = %e, "cleaning up after a failed operation");
            }
            state
                .store
                .complete_operation(
                    &op_id,
                    worker,
                    &OperationOutcome {
                        status,
                        message: Some(format!("{kind} failed")),
                        error_message: Some(error.clone()),
                    },
                    now,
                )
                .await
        }
    };
    match written {
        Ok(true) => {}
        Ok(false) => tracing::warn!(op = %op_id, "lost the lease before recording the outcome"),
        Err(e) => tracing::error!(op = %op_id, error = %e, "recording an operation outcome"),
    }
    state
        .metrics
        .record_operation_outcome(kind.as_str(), outcome.label(), started.elapsed());
    // The next operation of this database may be waiting behind this one.
    state.ops.wake_local();
    state.ops.operation_finished(&op.database_id);
}

enum Outcome {
    Done(String),
    Retry(String),
    Failed(String),
    TimedOut(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "completed",
            Outcome::Retry(_) => "retried",
            Outcome::Failed(_) => "failed",
            Outcome::TimedOut(_) => "timeout",
        }
    }
}

async fn execute(ctx: &mut OpCtx) -> Result<String, StepError> {
    match ctx.op.op_type {
        OperationType::Create => create::run(ctx).await,
        OperationType::Delete => delete::run(ctx).await,
        other => Err(StepError::Permanent(format!(
            "operations of type '{other}' are not carried out by this version of the platform"
        ))),
    }
}

/// What a failed operation leaves behind must be consistent: a failed create gives its
/// reservation back and marks the database failed.
async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    match ctx.op.op_type {
        OperationType::Create => create::on_failure(ctx, error).await,
        OperationType::Delete => delete::on_failure(ctx, error).await,
        _ => Ok(()),
    }
}

/// Runs one idempotent cluster call, retrying a transient failure a few times in place (100 ms,
/// doubling) before it fails the attempt: one dropped request must not restart an operation.
pub async fn in_place<T, F, Fut>(mut call: F) -> Result<T, provider::ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, provider::ProviderError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < 4 => {
                tracing::debug!(error = %e, "transient cluster error; retrying in place");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `base × 2^attempt`, capped, with up to 50 % jitter so that retries of many operations spread out.
pub fn backoff(attempt: i32, base_ms: u64, cap_secs: u64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.clamp(0, 20));
    let capped = exp.min(cap_secs.saturating_mul(1000)).max(1);
    let jitter = rand::thread_rng().gen_range(0..=capped / 2);
    Duration::from_millis(capped / 2 + jitter)
}

/// The id of an operation the platform queued for a database that is not finished yet, if any.
pub async fn unfinished_operation(
    state: &AppState,
    database_id: &str,
    kind: OperationType,
) -> Result<Option<Operation>, store::StoreError> {
    for status in [OperationStatus::InProgress, OperationStatus::Queued] {
        let page = state
            .store
            .list_operations(
                &store::OperationFilter {
                    database_id: Some(database_id.to_string()),
                    status: Some(status),
                    op_type: Some(kind),
                    visibility: Default::default(),
                },
                domain::model::PageRequest {
                    page: 1,
                    page_size: 1,
                },
            )
            .await?;
        if let Some(op) = page.items.into_iter().next() {
            return Ok(Some(op));
        }
    }
    Ok(None)
}

/// Wakes this replica's workers and, through the store, every other replica's.
pub async fn announce_queued(state: &AppState) {
    state.ops.wake_local();
    if let Err(e) = state.store.notify_queue().await {
        tracing::warn!(error = %e, "could not notify other replicas of a queued operation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 0..10 {
            let d = backoff(attempt, 1000, 30);
            let ceiling = (1000u64 << attempt).min(30_000);
            assert!(d.as_millis() as u64 <= ceiling, "{attempt}: {d:?}");
            assert!(d.as_millis() as u64 >= ceiling / 2, "{attempt}: {d:?}");
        }
    }
}
