//! Authentication: who is calling, from where, and whether they are within their rate limit.

pub mod client_ip;
pub mod password;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::access::{Action, Decision, KeyScope, Principal, Scope, Via};
use domain::model::ApiKey;

use crate::auth::client_ip::limit_key;
use crate::error::ApiError;
use crate::ratelimit::{RateDecision, MINUTE};
use crate::state::{AppState, Identity, RequestCtx};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub principal: Principal,
    /// Set when the caller authenticated with an API key.
    pub api_key: Option<(String, Vec<KeyScope>)>,
    pub ctx: RequestCtx,
}

impl Caller {
    /// How the caller authenticated, as the authorization decision weighs it.
    pub fn via(&self) -> Via {
        match &self.api_key {
            None => Via::Session,
            Some((_, scopes)) => Via::ApiKey {
                write: scopes.contains(&KeyScope::Write),
            },
        }
    }

    /// The one authorization decision (roles, suspensions, key scopes) for this caller.
    pub fn decide(&self, action: Action, scope: Scope<'_>) -> Decision {
        self.principal.decide_via(action, scope, self.via())
    }

    /// The authorization decision as an error to return: 404 when the scope is invisible, 403 when
    /// visible but not permitted or suspended. `what`/`id` name the thing for the 404 message.
    pub fn require(
        &self,
        action: Action,
        scope: Scope<'_>,
        what: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        match self.decide(action, scope) {
            Decision::Allow => Ok(()),
            Decision::Forbidden
                if action == Action::ReadCredentials
                    && self.via() == (Via::ApiKey { write: false }) =>
            {
                Err(ApiError::forbidden(
                    "This API key is read-only: reading credentials needs a key with the write scope",
                ))
            }
            Decision::Forbidden => {
                Err(ApiError::forbidden("You do not have permission to do this"))
            }
            Decision::Suspended => Err(ApiError::forbidden(
                match self.principal.suspension(scope) {
                    Some((d, Some(p))) => format!(
                        "Project '{p}' of tenant '{d}' is suspended: it cannot be changed, and its API keys cannot act in it"
                    ),
                    Some((d, None)) => format!(
                        "Tenant '{d}' is suspended: it cannot be changed, and its API keys cannot act in it"
                    ),
                    None => "This tenant or project is suspended".to_string(),
                },
            )),
            Decision::Hidden => Err(ApiError::not_found(what, id)),
        }
    }

    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.principal.is_platform_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("This needs the platform_admin role"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthenticated("Authentication required"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<RequestCtx>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Records where each request came from (first layer, before authentication). Behind trusted
/// proxies the client is the right-most untrusted `X-Forwarded-For` hop (see `client_ip`).
pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = peer.map(|p| state.proxies.client_ip(p, req.headers()).to_string());
    let https = peer.is_some_and(|p| state.proxies.forwarded_https(p, req.headers()));
    let ctx = RequestCtx {
        ip,
        https,
        user_agent: header_str(req.headers(), "user-agent").map(|s| s.chars().take(512).collect()),
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
    };
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The credential presented, if any: `X-API-Key`, or a Bearer token (JWT or API key).
fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = header_str(headers, "x-api-key") {
        return Some(k.trim());
    }
    let auth = header_str(headers, "authorization")?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticates every protected route, applies the caller's rate limit and sets `RateLimit-*`.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ctx = req
        .extensions()
        .get::<RequestCtx>()
        .cloned()
        .unwrap_or_default();
    let caller = match resolve(&state, req.headers(), req.method(), ctx.clone()).await {
        Ok(c) => c,
        Err(e) => {
            // A failed authentication is an unauthenticated request: it counts against the
            // client IP's limit, so guessing credentials is throttled like the open routes.
            if let Some(limited) = unauthenticated_hit(&state, &ctx).await {
                return limited.into_response();
            }
            return e.into_response();
        }
    };
    let limit_key = match &caller.api_key {
        Some((id, _)) => format!("key:{id}"),
        None => format!("user:{}", caller.user_id),
    };
    let decision = state
        .limiter
        .hit(
            &limit_key,
            state.config.rate_limit_per_minute,
            Duration::from_secs(60),
        )
        .await;
    if !decision.allowed {
        let mut resp = rate_limited(&decision).into_response();
        set_rate_headers(resp.headers_mut(), &decision);
        return resp;
    }
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    set_rate_headers(resp.headers_mut(), &decision);
    resp
}

pub fn rate_limited(d: &RateDecision) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("Too many requests; retry in {} s", d.reset_secs),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(d.reset_secs))
    .with_header(
        header::HeaderName::from_static("ratelimit-limit"),
        HeaderValue::from(d.limit),
    )
    .with_header(
        header::HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from(d.remaining),
    )
    .with_header(
        header::HeaderName::from_static("ratelimit-reset"),
        HeaderValue::from(d.reset_secs),
    )
}

pub fn set_rate_headers(h: &mut HeaderMap, d: &RateDecision) {
    h.insert("ratelimit-limit", HeaderValue::from(d.limit));
    h.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    h.insert("ratelimit-reset", HeaderValue::from(d.reset_secs));
}

async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    ctx: RequestCtx,
) -> Result<Caller, ApiError> {
    let token =
        credential(headers).ok_or_else(|| ApiError::unauthenticated("Authentication required"))?;
    if let Some(prefix) = tokens::api_key_prefix(token) {
        let key = api_key(state, prefix, token).await?;
        let read_only = !key.scopes.contains(&KeyScope::Write);
        if read_only && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Err(ApiError::forbidden("This API key is read-only"));
        }
        let identity = identity(state, &key.user_id).await?;
        touch_key(state, &key);
        return Ok(Caller {
            user_id: identity.user.id.clone(),
            email: identity.user.email.clone(),
            principal: identity.principal.clone(),
            api_key: Some((key.id.clone(), key.scopes.clone())),
            ctx,
        });
    }
    let user_id = state
        .tokens
        .verify_access(token)
        .ok_or_else(|| ApiError::unauthenticated("Invalid or expired token"))?;
    let identity = identity(state, &user_id).await?;
    Ok(Caller {
        user_id: identity.user.id.clone(),
        email: identity.user.email.clone(),
        principal: identity.principal.clone(),
        api_key: None,
        ctx,
    })
}

/// The user behind a credential, with their bindings and which of their tenants and projects are
/// suspended. Cached briefly; every change to the user, their bindings or a suspension evicts it.
async fn identity(state: &AppState, user_id: &str) -> Result<Arc<Identity>, ApiError> {
    if let Some(found) = state.identities.get(user_id).await {
        return Ok(found);
    }
    let epoch = state
        .identity_epoch
        .load(std::sync::atomic::Ordering::SeqCst);
    let invalid = || ApiError::unauthenticated("Invalid or expired token");
    let u = state.store.get_user(user_id).await?.ok_or_else(invalid)?;
    if !u.user.is_active {
        return Err(ApiError::unauthenticated("This account is suspended"));
    }
    let principal = Principal::new(u.bindings);
    // Platform admins are never suspended: no need to look.
    let suspended = if principal.is_platform_admin() {
        Default::default()
    } else {
        state
            .store
            .suspensions(&principal.visible_domains())
            .await?
    };
    let identity = Arc::new(Identity {
        principal: Principal::with_suspensions(principal.bindings, suspended),
        user: u.user,
    });
    // Read before an invalidation landed: answer with it, but do not keep it.
    if state
        .identity_epoch
        .load(std::sync::atomic::Ordering::SeqCst)
        == epoch
    {
        state
            .identities
            .insert(user_id.to_string(), identity.clone())
            .await;
    }
    Ok(identity)
}

async fn api_key(state: &AppState, prefix: &str, presented: &str) -> Result<Arc<ApiKey>, ApiError> {
    let invalid = || ApiError::unauthenticated("Invalid, expired or revoked API key");
    let key = match state.api_keys.get(prefix).await {
        Some(k) => k,
        None => {
            let epoch = state
                .identity_epoch
                .load(std::sync::atomic::Ordering::SeqCst);
            let k = state
                .store
                .find_api_key(prefix)
                .await?
                .ok_or_else(invalid)?;
            let k = Arc::new(k);
            // Not kept when a revocation landed during the read.
            if state
                .identity_epoch
                .load(std::sync::atomic::Ordering::SeqCst)
                == epoch
            {
                state.api_keys.insert(prefix.to_string(), k.clone()).await;
            }
            k
        }
    };
    let hash = tokens::sha256_hex(presented);
    let matches: bool = constant_time_eq(hash.as_bytes(), key.key_hash.as_bytes());
    let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|e| e > chrono::Utc::now());
    if matches && live {
        Ok(key)
    } else {
        Err(invalid())
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Updates `last_used_at` at most once a minute per key, off the request path.
fn touch_key(state: &AppState, key: &ApiKey) {
    let now = Instant::now();
    let due = state
        .key_touches
        .get(&key.id)
        .is_none_or(|t| now.duration_since(*t) > Duration::from_secs(60));
    if due {
        state.key_touches.insert(key.id.clone(), now);
        let store = state.store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
}

/// Counts one unauthenticated request (an open route, or a failed authentication) against its
/// client IP; `Some(429)` when the IP is over `DBAAS_UNAUTHENTICATED_PER_MINUTE_PER_IP`.
pub async fn unauthenticated_hit(state: &AppState, ctx: &RequestCtx) -> Option<ApiError> {
    let key = format!("anon:ip:{}", limit_key(ctx.ip.as_deref()));
    let d = state
        .limiter
        .hit(&key, state.config.unauthenticated_per_minute_per_ip, MINUTE)
        .await;
    (!d.allowed).then(|| rate_limited(&d))
}

/// Middleware of the routes that answer without a credential: per client IP, shared through Redis
/// when configured, before the handler does any work.
pub async fn limit_unauthenticated(
    State(state): State<AppState>,
    ctx: RequestCtx,
    req: Request,
    next: Next,
) -> Response {
    match unauthenticated_hit(&state, &ctx).await {
        Some(limited) => limited.into_response(),
        None => next.run(req).await,
    }
}
