//! Starting and stopping the control plane: state, bootstrap, background jobs, the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use domain::access::Binding;
use domain::ids::{new_id, IdKind};
use domain::model::User;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::app;
use crate::auth::{password, tokens::TokenService};
use crate::config::Config;
use crate::keys::Keys;
use crate::ratelimit::{LocalLimiter, RateLimiter, RedisLimiter};
use crate::state::AppState;

/// Connects the store (running migrations) and Redis, derives keys, and builds the shared state.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    crate::keys::private_dir(&config.data_dir)
        .with_context(|| format!("preparing data directory {}", config.data_dir.display()))?;
    let keys = Keys::load(&config)?;
    let version_policy = crate::catalog::load_policy(config.versions_policy_file.as_deref())?;
    let store = store::connect(&config.store_url(), store::Cipher::new(keys.encryption))
        .await
        .with_context(|| {
            format!(
                "connecting the {} store",
                if config.database_url.is_some() {
                    "PostgreSQL"
                } else {
                    "SQLite"
                }
            )
        })?;
    let local = Arc::new(LocalLimiter::default());
    let (limiter, redis): (Arc<dyn RateLimiter>, _) = match &config.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).context("parsing DBAAS_REDIS_URL")?;
            let conn = tokio::time::timeout(
                Duration::from_secs(5),
                redis::aio::ConnectionManager::new(client),
            )
            .await
            .context("connecting to Redis timed out")?
            .context("connecting to Redis")?;
            (
                Arc::new(RedisLimiter::new(conn.clone(), local.clone())),
                Some(conn),
            )
        }
        None => (local.clone(), None),
    };
    let tokens = TokenService::new(&keys.signing, config.access_token_ttl_secs);
    let secrets = store::Cipher::new(keys.encryption);
    Ok(AppState::new(
        config,
        store,
        tokens,
        limiter,
        local,
        redis,
        secrets,
        version_policy,
    ))
}

/// Creates the first platform admin when there is none. Returns the generated password, if one was
/// generated (the caller prints it once).
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<Option<String>> {
    if state.store.count_platform_admins().await? > 0 {
        return Ok(None);
    }
    create_admin(state).await
}

/// Makes `DBAAS_ADMIN_EMAIL` a platform admin, creating the user with `DBAAS_ADMIN_PASSWORD` (or a
/// generated password, returned) when it does not exist yet.
pub async fn create_admin(state: &AppState) -> anyhow::Result<Option<String>> {
    let email = state.config.admin_email.trim().to_lowercase();
    domain::validate::email("DBAAS_ADMIN_EMAIL", &email).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(existing) = state.store.get_user_by_email(&email).await? {
        match state
            .store
            .add_binding(&existing.user.id, &Binding::platform_admin())
            .await
        {
            Ok(()) | Err(store::StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    let (password, generated) = match &state.config.admin_password {
        Some(p) => {
            domain::validate::password("DBAAS_ADMIN_PASSWORD", p)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (p.clone(), false)
        }
        None => (
            crate::auth::tokens::new_refresh_token()[9..33].to_string(),
            true,
        ),
    };
    let now = Utc::now();
    let user = User {
        id: new_id(IdKind::User),
        email,
        full_name: "Platform Admin".into(),
        password_hash: password::hash(password.clone())
            .await
            .map_err(|_| anyhow::anyhow!("hashing the admin password"))?,
        is_active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    match state
        .store
        .create_user(&user, &[Binding::platform_admin()])
        .await
    {
        Ok(()) => Ok(generated.then_some(password)),
        // Another replica created it at the same moment.
        Err(store::StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Sets a user's password (operator chore).
pub async fn reset_password(
    state: &AppState,
    email: &str,
    new_password: String,
) -> anyhow::Result<()> {
    domain::validate::password("password", &new_password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut u = state
        .store
        .get_user_by_email(&email.trim().to_lowercase())
        .await?
        .context("no user with that e-mail")?
        .user;
    u.password_hash = password::hash(new_password)
        .await
        .map_err(|_| anyhow::anyhow!("hashing the password"))?;
    u.updated_at = Utc::now();
    state.store.update_user(&u).await?;
    Ok(())
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The bootstrap admin's generated password, when one was generated on this start.
    pub generated_admin_password: Option<String>,
    /// The in-process simulated cluster of demo mode.
    pub demo: Option<sim::SimHandle>,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts everything `dbaas serve` runs and returns once the server accepts connections.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let listen = config.listen;
    let state = build_state(config).await?;
    let generated_admin_password = bootstrap_admin(&state).await?;
    let demo = if state.config.demo {
        Some(crate::demo::start(&state).await?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    spawn_background_jobs(&state, stop.subscribe());
    crate::ops::spawn_workers(&state, stop.subscribe());
    crate::watchers::spawn_supervisor(&state, stop.subscribe());
    crate::health_check::spawn(&state, stop.subscribe());
    let service = app(state.clone());
    let limits = state.config.listener_limits();
    let metrics = state.metrics.clone();
    let task = tokio::spawn(crate::listener::serve(
        listener, service, limits, metrics, stopped,
    ));
    Ok(Running {
        addr,
        state,
        generated_admin_password,
        demo,
        stop,
        task,
    })
}

/// Periodic chores: audit retention and forgetting finished rate-limit windows.
fn spawn_background_jobs(state: &AppState, mut stop: watch::Receiver<bool>) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let before = Utc::now() - chrono::Duration::days(state.config.audit_retention_days as i64);
                    match state.store.purge_audit_before(before).await {
                        Ok(n) => {
                            state.metrics.audit_purged.set(n as i64);
                            if n > 0 { tracing::info!(purged = n, "audit retention"); }
                        }
                        Err(e) => tracing::warn!(error = %e, "audit retention failed"),
                    }
                }
                _ = sweep.tick() => state.local_limiter.sweep(),
                _ = stop.changed() => break,
            }
        }
    });
}
