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
use crate::state::{AppState, Audit};

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
            // Short timeouts: a Redis that hangs must cost a request little (the limiter then
            // counts in process for a while); reconnects go on in the background.
            let redis_config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(1))
                .set_response_timeout(Duration::from_millis(500))
                .set_number_of_retries(2)
                .set_max_delay(1000);
            let conn = tokio::time::timeout(
                Duration::from_secs(5),
                redis::aio::ConnectionManager::new_with_config(client, redis_config),
            )
            .await
            .context("connecting to Redis timed out")?
            .context("connecting to Redis")?;
            (RedisLimiter::new(conn.clone(), local.clone()), Some(conn))
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

/// Creates the first platform admin (`DBAAS_ADMIN_EMAIL`) when there is none.
///
/// An existing account with that e-mail is never promoted here: anyone may have registered the
/// address before the first start, and promoting it would hand them the platform. The start is
/// refused instead, with what to do, because skipping would leave a platform nobody administers.
/// Returns the generated password, if one was generated (the caller prints it once).
pub async fn bootstrap_admin(state: &AppState) -> anyhow::Result<Option<String>> {
    if state.store.count_platform_admins().await? > 0 {
        return Ok(None);
    }
    let email = state.config.admin_email.clone();
    match create_admin(state, &email, state.config.admin_password.clone(), false).await {
        Ok(AdminOutcome::Created { generated_password }) => Ok(generated_password),
        // Not asked for, so never happens; nothing to print either way.
        Ok(AdminOutcome::Promoted) => Ok(None),
        Err(AdminError::Exists { is_admin: true, .. }) => {
            // The configured admin exists and holds the role but is deactivated.
            tracing::warn!(
                email = %email,
                "no active platform admin: the configured admin account is deactivated"
            );
            Ok(None)
        }
        Err(AdminError::Exists { is_admin: false, .. }) => Err(anyhow::anyhow!(
            "refusing to start: there is no platform admin yet, and an account with the admin e-mail \
             {email} already exists (it was registered by someone, not created by this server). \
             It is not promoted automatically. Set DBAAS_ADMIN_EMAIL to an address nobody has registered, \
             or, if that account is yours, run `dbaas admin create-admin --email {email} --promote-existing`."
        )),
        Err(AdminError::Other(e)) => Err(e),
    }
}

/// What [`create_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    /// A new account; its password is the one given, or this generated one.
    Created { generated_password: Option<String> },
    /// An existing account was given the platform_admin role; its password is unchanged.
    Promoted,
}

#[derive(Debug)]
pub enum AdminError {
    /// The e-mail belongs to an existing account and promotion was not asked for.
    Exists {
        email: String,
        is_admin: bool,
    },
    Other(anyhow::Error),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Exists { email, is_admin } => write!(
                f,
                "an account with the e-mail {email} already exists{}; nothing was changed. \
                 If that account is yours, run again with --promote-existing (its password is \
                 kept; change it with `dbaas admin reset-password`)",
                if *is_admin {
                    " and is already a platform admin"
                } else {
                    ""
                }
            ),
            AdminError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<anyhow::Error> for AdminError {
    fn from(e: anyhow::Error) -> Self {
        AdminError::Other(e)
    }
}

impl From<store::StoreError> for AdminError {
    fn from(e: store::StoreError) -> Self {
        AdminError::Other(e.into())
    }
}

/// Creates the platform admin `email` with `password` (or a generated one, returned). When the
/// e-mail already belongs to an account, refuses unless `promote_existing`, which grants that
/// account the role and leaves its password alone. Audited either way.
pub async fn create_admin(
    state: &AppState,
    email: &str,
    password: Option<String>,
    promote_existing: bool,
) -> Result<AdminOutcome, AdminError> {
    let email = email.trim().to_lowercase();
    domain::validate::email("DBAAS_ADMIN_EMAIL", &email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = crate::state::RequestCtx {
        method: "CLI".into(),
        path: "dbaas admin create-admin".into(),
        ..Default::default()
    };
    if let Some(existing) = state.store.get_user_by_email(&email).await? {
        return promote(state, &ctx, existing, promote_existing).await;
    }
    let (password, generated) = match password {
        Some(p) => {
            domain::validate::password("password", &p).map_err(|e| anyhow::anyhow!("{e}"))?;
            (p, false)
        }
        None => (
            crate::auth::tokens::new_refresh_token()[9..33].to_string(),
            true,
        ),
    };
    let now = Utc::now();
    let user = User {
        id: new_id(IdKind::User),
        email: email.clone(),
        full_name: "Platform Admin".into(),
        password_hash: password::hash(&state.passwords, password.clone())
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
        Ok(()) => {
            state
                .audit(
                    &ctx,
                    Audit::new("user.create_admin", "user")
                        .id(&user.id)
                        .status(201)
                        .details(serde_json::json!({"email": email})),
                )
                .await;
            Ok(AdminOutcome::Created {
                generated_password: generated.then_some(password),
            })
        }
        // Someone (another replica, or a sign-up) took the e-mail meanwhile: judge that account.
        Err(store::StoreError::Conflict(_)) => {
            let existing = state
                .store
                .get_user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the account {email} vanished while creating it"))?;
            promote(state, &ctx, existing, promote_existing).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn promote(
    state: &AppState,
    ctx: &crate::state::RequestCtx,
    existing: domain::model::UserWithBindings,
    promote_existing: bool,
) -> Result<AdminOutcome, AdminError> {
    let is_admin = existing.bindings.contains(&Binding::platform_admin());
    if !promote_existing {
        return Err(AdminError::Exists {
            email: existing.user.email,
            is_admin,
        });
    }
    if !is_admin {
        match state
            .store
            .add_binding(&existing.user.id, &Binding::platform_admin())
            .await
        {
            Ok(()) | Err(store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        state.invalidate_user(&existing.user.id).await;
    }
    state
        .audit(
            ctx,
            Audit::new("user.promote_admin", "user")
                .id(&existing.user.id)
                .details(serde_json::json!({
                    "email": existing.user.email,
                    "already_admin": is_admin,
                    "password_changed": false,
                })),
        )
        .await;
    Ok(AdminOutcome::Promoted)
}

/// Sets a user's password (operator chore) and revokes every refresh token and API key they had.
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
    u.password_hash = password::hash(&state.passwords, new_password)
        .await
        .map_err(|_| anyhow::anyhow!("hashing the password"))?;
    u.updated_at = Utc::now();
    state.store.update_user(&u).await?;
    let revoked = crate::routes::users::revoke_credentials(state, &u.id)
        .await
        .map_err(|e| anyhow::anyhow!("revoking the user's sessions and keys: {}", e.message))?;
    state
        .audit(
            &crate::state::RequestCtx {
                method: "CLI".into(),
                path: "dbaas admin reset-password".into(),
                ..Default::default()
            },
            Audit::new("user.reset_password", "user")
                .id(&u.id)
                .details(serde_json::json!({"revoked_api_keys": revoked})),
        )
        .await;
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
    /// Ends the leader's loops and hands the lease over on shutdown.
    leader: JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.leader.await;
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
    {
        // Streams end first, or the graceful shutdown would wait for them forever.
        let (state, mut stopping) = (state.clone(), stop.subscribe());
        tokio::spawn(async move {
            let _ = stopping.wait_for(|s| *s).await;
            state.ops.shut_down();
        });
    }
    spawn_background_jobs(&state, stop.subscribe());
    crate::ops::spawn_workers(&state, stop.subscribe());
    // Watchers, health checks, the scheduler and audit retention run on the leader only.
    let leader = crate::leader::spawn(&state, stop.subscribe());
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
        leader,
    })
}

/// Periodic chores of every replica: forgetting finished rate-limit windows; the queue's
/// gauges (every replica reports the shared queue, so any one of them answers for it).
fn spawn_background_jobs(state: &AppState, mut stop: watch::Receiver<bool>) {
    let state = state.clone();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        let mut queue = tokio::time::interval(Duration::from_secs(15));
        loop {
            tokio::select! {
                _ = sweep.tick() => state.local_limiter.sweep(),
                _ = queue.tick() => {
                    if let Ok(q) = state.store.queue_stats(chrono::Utc::now()).await {
                        let m = &state.metrics;
                        m.operations.with_label_values(&["queued"]).set(q.queued);
                        m.operations.with_label_values(&["running"]).set(q.processing);
                        m.oldest_queued.set(q.oldest_queued_age_seconds.unwrap_or(0.0));
                    }
                }
                _ = stop.changed() => break,
            }
        }
    });
}
