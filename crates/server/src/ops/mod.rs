//! The operation engine: N workers claim operations from the durable queue and carry them out.
//!
//! Workers are woken the moment an operation is queued (in memory on this replica, PostgreSQL
//! `NOTIFY` across replicas); a slow safety tick only picks up leases that expired because a worker
//! died. One operation per database runs at a time, in order (the store's claim guarantees it), and
//! among runnable operations the tenant holding the fewest workers goes first.
//! An operation that waits on Kubernetes (a database turning Ready, a resource going away) does not
//! hold a worker: it submits its change, then parks (lease released, still `in_progress`) until the
//! watcher sees its database change or a periodic re-check, and any replica's worker resumes it.
//! Its deadline counts from its first start. A worker renews its lease while it works; a transient
//! failure is retried with capped exponential backoff and jitter up to `max_retries`; a permanent
//! one (or a panic in a step) fails with a message a human can act on.

pub mod backup;
pub mod create;
pub mod day2;
mod delete;

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::model::Operation;
use domain::status::{OperationStatus, OperationType};
use futures::future::BoxFuture;
use futures::FutureExt;
use rand::Rng;
use store::OperationOutcome;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

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

/// How a run of an operation ended when it did not fail.
#[derive(Debug)]
pub enum Step {
    /// Finished; the message says how.
    Done(String),
    /// Submitted to the cluster and now waiting on it: park (release the worker) until a watch
    /// event about the database or the periodic re-check; the next run starts from the top and
    /// finds what this one made.
    Park { waiting_for: String },
}

/// What a running operation can use: the state, its own record (for progress), its worker id.
pub struct OpCtx {
    pub state: AppState,
    pub op: Operation,
    pub worker: String,
}

impl OpCtx {
    /// Records progress (which never goes back: a retried or resumed run passes its earlier
    /// steps again, and the highest step reached tells what may exist in the cluster); fails with
    /// `LeaseLost` when another worker took the operation over.
    pub async fn progress(&mut self, pct: i32, message: &str) -> Result<(), StepError> {
        self.op.progress = pct.clamp(0, 100).max(self.op.progress);
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

/// Forwards PostgreSQL notifications from other replicas: a queued operation wakes the local
/// workers, a provider change the watchers' supervisor (on the leader).
async fn listen_across_replicas(state: AppState, mut stop: watch::Receiver<bool>) {
    use futures::StreamExt;
    use store::Notice;
    let mut stream = match state.store.replica_notices().await {
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
                Some(Notice::Queued) => state.ops.wake_local(),
                Some(Notice::ProvidersChanged) => state.ops.provider_changed(),
                Some(Notice::LeaseReleased) => state.ops.lease_released(),
                Some(Notice::Reconnected) => {
                    state.ops.wake_local();
                    state.ops.provider_changed();
                }
                None => return,
            },
            _ = stop.changed() => return,
        }
    }
}

/// What one claimed run of an operation needs to carry it out: `execute` in production; tests
/// give their own steps (e.g. one that panics).
pub type Executor = for<'a> fn(&'a mut OpCtx) -> BoxFuture<'a, Result<Step, StepError>>;

fn execute_boxed(ctx: &mut OpCtx) -> BoxFuture<'_, Result<Step, StepError>> {
    Box::pin(execute(ctx))
}

async fn worker_loop(state: AppState, worker: String, stop: watch::Receiver<bool>) {
    worker_loop_with(state, worker, stop, execute_boxed).await
}

/// A worker: claims, runs, repeats. A panic anywhere in a run ends that operation (as failed,
/// when the step panicked), never the loop.
pub async fn worker_loop_with(
    state: AppState,
    worker: String,
    mut stop: watch::Receiver<bool>,
    exec: Executor,
) {
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
                let op_id = op.id.clone();
                if AssertUnwindSafe(run(&state, &worker, op, lease, exec))
                    .catch_unwind()
                    .await
                    .is_err()
                {
                    tracing::error!(op = %op_id, "recording an operation's outcome panicked; its lease will expire");
                }
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

/// Aborts the lease renewal when dropped: on every way out of a run, a panic included.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// When the operation must be over: its overall deadline counts from its first start, so parked
/// time and retries are included.
fn deadline_of(op: &Operation, timeout: Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    op.started_at.unwrap_or(now) + chrono::Duration::from_std(timeout).unwrap_or_default()
}

/// Wakes this replica's workers at `at` (a retry's backoff end, a park's deadline) rather than
/// polling for it; any replica's safety tick covers a replica that stops meanwhile.
fn wake_at(state: &AppState, at: DateTime<Utc>) {
    let wait = (at - Utc::now()).to_std().unwrap_or_default();
    let ops = state.ops.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        ops.wake_local();
    });
}

/// Keeps the worker's lease on `op_id` alive until aborted or the lease is lost.
fn spawn_renewer(state: &AppState, worker: &str, op_id: &str, lease: Duration) -> JoinHandle<()> {
    let (state, worker, op_id) = (state.clone(), worker.to_string(), op_id.to_string());
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
}

/// Runs one claimed operation until it ends or parks, renewing its lease meanwhile.
async fn run(state: &AppState, worker: &str, op: Operation, lease: Duration, exec: Executor) {
    let op_id = op.id.clone();
    let span =
        tracing::info_span!("operation", id = %op.id, kind = %op.op_type, db = %op.database_id);
    let _enter = span.enter();
    drop(_enter);
    let started = std::time::Instant::now();
    let renewer = AbortOnDrop(spawn_renewer(state, worker, &op_id, lease));
    let timeout = state.config.operation_timeout(op.op_type);
    let deadline = deadline_of(&op, timeout, Utc::now());
    let mut ctx = OpCtx {
        state: state.clone(),
        op: op.clone(),
        worker: worker.to_string(),
    };
    // None: the deadline passed (during this attempt, or while parked or waiting for a retry).
    let result = match (deadline - Utc::now()).to_std() {
        Ok(left) if !left.is_zero() => {
            tokio::time::timeout(left, AssertUnwindSafe(exec(&mut ctx)).catch_unwind())
                .await
                .ok()
        }
        _ => None,
    };
    drop(renewer);
    let kind = op.op_type;
    let outcome = match result {
        Some(Ok(Ok(Step::Done(message)))) => Outcome::Done(message),
        Some(Ok(Ok(Step::Park { waiting_for }))) => {
            let now = Utc::now();
            let recheck = chrono::Duration::seconds(state.config.park_recheck_secs.max(1) as i64);
            let until = (now + recheck).min(deadline);
            match state
                .store
                .park_operation(&op_id, worker, until, &waiting_for, now)
                .await
            {
                Ok(true) => {
                    tracing::debug!(op = %op_id, waiting_for = %waiting_for, "parked");
                    wake_at(state, until);
                    // A wake-up that came during the run made it due again at once.
                    state.ops.wake_local();
                }
                Ok(false) => tracing::warn!(op = %op_id, "lost the lease before parking"),
                Err(e) => tracing::error!(op = %op_id, error = %e, "parking an operation"),
            }
            return;
        }
        Some(Ok(Err(StepError::LeaseLost))) => {
            tracing::warn!(op = %op_id, "lease lost; another worker carries on");
            return;
        }
        Some(Ok(Err(StepError::Transient(m)))) if ctx.op.retry_count < ctx.op.max_retries => {
            Outcome::Retry(m)
        }
        Some(Ok(Err(StepError::Transient(m)))) => Outcome::Failed(format!(
            "{m} (gave up after {} attempts)",
            ctx.op.retry_count + 1
        )),
        Some(Ok(Err(StepError::Permanent(m)))) => Outcome::Failed(m),
        Some(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            tracing::error!(op = %op_id, panic = %what, "an operation step panicked");
            Outcome::Failed(format!(
                "internal error: the operation's step panicked ({what})"
            ))
        }
        None => Outcome::TimedOut(format!(
            "did not finish within {} s of its start",
            timeout.as_secs()
        )),
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
            wake_at(state, run_after);
            r
        }
        Outcome::Failed(error) | Outcome::TimedOut(error) => {
            let status = if matches!(outcome, Outcome::TimedOut(_)) {
                OperationStatus::Timeout
            } else {
                OperationStatus::Failed
            };
            tracing::warn!(op = %op_id, error = %error, "operation failed");
            // Only the lease holder may clean up: a worker whose lease was taken over must not
            // mark the database failed under the worker that now carries the operation on.
            match state.store.renew_lease(&op_id, worker, lease, now).await {
                Ok(true) => {
                    // The clean-up runs under a live lease.
                    let _renewer = AbortOnDrop(spawn_renewer(state, worker, &op_id, lease));
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
                            Utc::now(),
                        )
                        .await
                }
                other => other,
            }
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

async fn execute(ctx: &mut OpCtx) -> Result<Step, StepError> {
    match ctx.op.op_type {
        OperationType::Create => create::run(ctx).await,
        OperationType::Delete => delete::run(ctx).await,
        _ => day2::run(ctx).await,
    }
}

/// What a failed operation leaves behind must be consistent: a failed create gives its
/// reservation back and marks the database failed.
async fn on_failure(ctx: &OpCtx, error: &str) -> Result<(), StepError> {
    match ctx.op.op_type {
        OperationType::Create => create::on_failure(ctx, error).await,
        OperationType::Delete => delete::on_failure(ctx, error).await,
        _ => day2::on_failure(ctx, error).await,
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
    store: &dyn store::Store,
    database_id: &str,
    kind: OperationType,
) -> Result<Option<Operation>, store::StoreError> {
    for status in [OperationStatus::InProgress, OperationStatus::Queued] {
        let page = store
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

/// A watcher saw something new about a database: whoever waits in process hears it, and its
/// parked operation (if any) becomes due now, on whichever replica claims it first.
pub async fn database_observed(state: &AppState, database_id: &str) {
    state.ops.database_changed(database_id);
    match state.store.wake_parked(database_id, Utc::now()).await {
        Ok(true) => announce_queued(state).await,
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(database = %database_id, error = %e, "waking a parked operation failed; its re-check will")
        }
    }
}

/// Wakes this replica's workers and, through the store, every other replica's.
pub async fn announce_queued(state: &AppState) {
    state
        .workflows()
        .committed(crate::context::Committed {
            queued: true,
            ..Default::default()
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::{new_id, IdKind};

    fn operation(database_id: &str, desired_state: serde_json::Value) -> Operation {
        let now = Utc::now();
        Operation {
            id: new_id(IdKind::Operation),
            database_id: database_id.into(),
            op_type: OperationType::Restart,
            status: OperationStatus::Queued,
            progress: 0,
            message: None,
            desired_state,
            ops_request_name: None,
            ops_request_phase: None,
            error_message: None,
            retry_count: 0,
            max_retries: 3,
            created_by: None,
            domain: "acme".into(),
            project: "web".into(),
            lease_owner: None,
            lease_expires_at: None,
            run_after: now,
            created_at: now,
            started_at: None,
            completed_at: None,
            estimated_completion_at: None,
        }
    }

    fn steps(ctx: &mut OpCtx) -> BoxFuture<'_, Result<Step, StepError>> {
        Box::pin(async move {
            if ctx.op.desired_state["panic"] == true {
                panic!("boom in a step");
            }
            Ok(Step::Done("done".into()))
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_step_fails_its_operation_and_the_worker_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::for_data_dir(dir.path().to_path_buf());
        let state = crate::serve::build_state(config).await.unwrap();
        let panics = operation("db-one", serde_json::json!({"panic": true}));
        let fine = operation("db-two", serde_json::json!({}));
        state.store.enqueue_operation(&panics).await.unwrap();
        state.store.enqueue_operation(&fine).await.unwrap();
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(worker_loop_with(
            state.clone(),
            "test-w0".into(),
            stopped,
            steps,
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let (a, b) = loop {
            let a = state
                .store
                .get_operation(&panics.id)
                .await
                .unwrap()
                .unwrap();
            let b = state.store.get_operation(&fine.id).await.unwrap().unwrap();
            if a.status.is_terminal() && b.status.is_terminal() {
                break (a, b);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not both finished: {a:?} {b:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(a.status, OperationStatus::Failed);
        let why = a.error_message.unwrap_or_default();
        assert!(why.contains("panicked") && why.contains("boom"), "{why}");
        assert_eq!(a.lease_owner, None, "its lease was given up");
        assert_eq!(b.status, OperationStatus::Completed, "the worker went on");
        assert!(!worker.is_finished(), "the worker loop survived the panic");
        stop.send(true).unwrap();
        worker.await.unwrap();
    }

    /// A step that, while it runs, sees its operation taken over by another worker (as after a
    /// stall longer than the lease), then fails.
    fn taken_over_then_fails(ctx: &mut OpCtx) -> BoxFuture<'_, Result<Step, StepError>> {
        Box::pin(async move {
            let url = ctx.state.config.store_url();
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("the store's file");
            sqlx::query("UPDATE operations SET lease_owner = 'intruder-w9' WHERE id = ?")
                .bind(&ctx.op.id)
                .execute(&mut conn)
                .await
                .expect("take the lease over");
            Err(StepError::Permanent("the step failed".into()))
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_that_lost_its_lease_records_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::for_data_dir(dir.path().to_path_buf());
        let state = crate::serve::build_state(config).await.unwrap();
        let op = operation("db-three", serde_json::json!({}));
        state.store.enqueue_operation(&op).await.unwrap();
        let claimed = state
            .store
            .claim_operation("test-w1", Duration::from_secs(30), Utc::now())
            .await
            .unwrap()
            .expect("claimed");
        run(
            &state,
            "test-w1",
            claimed,
            Duration::from_secs(30),
            taken_over_then_fails,
        )
        .await;
        let after = state.store.get_operation(&op.id).await.unwrap().unwrap();
        // The failure belonged to a worker that no longer held the operation: it is not recorded,
        // and the new holder carries on.
        assert_eq!(after.status, OperationStatus::InProgress, "{after:?}");
        assert_eq!(after.lease_owner.as_deref(), Some("intruder-w9"));
        assert_eq!(after.error_message, None);
    }

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
