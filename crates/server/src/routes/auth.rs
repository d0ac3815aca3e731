//! `/api/v1/auth`: sign-up, login, token refresh and logout, the caller's profile, API keys.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use domain::access::{Binding, KeyScope, Role};
use domain::ids::{is_id, new_id, IdKind};
use domain::model::{ApiKey, Plan, Project, RefreshToken, Tenant, User};
use domain::validate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::client_ip::limit_key;
use crate::auth::tokens::{new_api_key, new_refresh_token, sha256_hex};
use crate::auth::{password, rate_limited, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, ApiJson};
use crate::ratelimit;
use crate::state::{AppState, Audit, RequestCtx};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(
        max_length = 254,
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub email: String,
    /// 12–256 characters.
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
    /// 2–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub full_name: String,
    /// 1–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub organization: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub id: String,
    pub email: String,
    pub full_name: String,
    pub is_active: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub last_login_at: Option<chrono::DateTime<Utc>>,
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// 3–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{1,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
    /// At most 500 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,498}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub description: Option<String>,
    #[schema(minimum = 1, maximum = 365)]
    pub expires_in_days: Option<i64>,
    /// Default `["read"]`.
    #[schema(min_items = 1)]
    #[serde(default = "default_scopes")]
    pub scopes: Vec<KeyScope>,
}

fn default_scopes() -> Vec<KeyScope> {
    vec![KeyScope::Read]
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: String,
    pub name: String,
    /// The key itself: present only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's visible start, to tell keys apart.
    pub prefix: String,
    pub description: Option<String>,
    pub scopes: Vec<KeyScope>,
    pub created_at: chrono::DateTime<Utc>,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub last_used_at: Option<chrono::DateTime<Utc>>,
}

impl ApiKeyResponse {
    fn from_key(k: &ApiKey, plaintext: Option<String>) -> Self {
        ApiKeyResponse {
            id: k.id.clone(),
            name: k.name.clone(),
            key: plaintext,
            prefix: format!("dbaas_{}", k.prefix),
            description: k.description.clone(),
            scopes: k.scopes.clone(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyResponse>,
    pub total: i64,
}

const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

fn normalize_email(e: &str) -> String {
    e.trim().to_lowercase()
}

/// A new token pair for a user, starting a new refresh-token family.
async fn issue_tokens(
    state: &AppState,
    user_id: &str,
    family: Option<&str>,
) -> ApiResult<(TokenResponse, RefreshToken)> {
    let now = Utc::now();
    let refresh = new_refresh_token();
    let record = RefreshToken {
        id: new_id(IdKind::RefreshToken),
        user_id: user_id.to_string(),
        family_id: family
            .map(str::to_string)
            .unwrap_or_else(|| new_id(IdKind::RefreshToken)),
        token_hash: sha256_hex(&refresh),
        created_at: now,
        expires_at: now + chrono::Duration::days(state.config.refresh_token_ttl_days as i64),
        revoked_at: None,
        replaced_by: None,
    };
    let pair = TokenResponse {
        access_token: state.tokens.issue_access(user_id, now),
        refresh_token: refresh,
        token_type: "bearer".into(),
        expires_in: state.tokens.access_ttl_secs,
    };
    Ok((pair, record))
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = TokenResponse), (status = 409, description = "e-mail taken"), (status = 403, description = "registration disabled"),
        (status = 429, description = "too many sign-ups from this address"), (status = 503, description = "too many password checks at once")))]
pub async fn register(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    if !state.config.registration_enabled {
        return Err(ApiError::forbidden("Self-service registration is disabled"));
    }
    let email = normalize_email(&req.email);
    validate::email("email", &email)?;
    validate::password("password", &req.password)?;
    validate::text("full_name", &req.full_name, 2, 100)?;
    if let Some(org) = &req.organization {
        validate::text("organization", org, 1, 100)?;
    }
    // Each sign-up costs a password hash and creates a tenant: few per client IP per hour. Counted
    // after the cheap checks, so a typo does not use up the allowance.
    let by_ip = state
        .limiter
        .hit(
            &format!("register:ip:{}", limit_key(ctx.ip.as_deref())),
            state.config.registrations_per_hour_per_ip,
            ratelimit::HOUR,
        )
        .await;
    if !by_ip.allowed {
        state
            .audit(
                &ctx,
                Audit::new("user.register_failed", "user")
                    .status(429)
                    .details(json!({"email": email, "reason": "rate_limited"})),
            )
            .await;
        return Err(rate_limited(&by_ip));
    }
    // A taken e-mail answers before the (expensive) hash; the store still refuses a duplicate
    // that races past this check.
    if state.store.get_user_by_email(&email).await?.is_some() {
        return Err(email_taken());
    }
    let base = validate::slugify(
        req.organization
            .as_deref()
            .unwrap_or_else(|| email.split('@').next().unwrap_or("tenant")),
    );
    let password_hash = password::hash(&state.passwords, req.password).await?;
    let now = Utc::now();
    let user = User {
        id: new_id(IdKind::User),
        email: email.clone(),
        full_name: req.full_name.trim().to_string(),
        password_hash,
        is_active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    // A taken slug gets a short random suffix; a few tries make a clash vanishingly unlikely.
    let mut last_err = None;
    for attempt in 0..5 {
        let slug = if attempt == 0 {
            base.clone()
        } else {
            format!(
                "{}-{}",
                base,
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            )
        };
        if state.store.get_tenant(&slug).await?.is_some() {
            continue;
        }
        let tenant = Tenant {
            name: slug.clone(),
            display_name: req
                .organization
                .clone()
                .unwrap_or_else(|| req.full_name.trim().to_string()),
            plan: Plan::Free,
            contact_email: Some(email.clone()),
            quota: state.config.self_service_quota(),
            metadata: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        let project = Project {
            domain: slug.clone(),
            name: "default".into(),
            display_name: "Default".into(),
            description: None,
            quota: state.config.self_service_quota(),
            metadata: json!({}),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        let binding = Binding::domain(Role::DomainAdmin, &slug);
        match state
            .store
            .register(&user, &tenant, &project, &binding)
            .await
        {
            Ok(()) => {
                let (pair, record) = issue_tokens(&state, &user.id, None).await?;
                state.store.create_refresh_token(&record).await?;
                state
                    .audit(
                        &ctx,
                        Audit::new("user.register", "user")
                            .id(&user.id)
                            .scope(Some(&slug), None)
                            .by(&user.id, &email)
                            .status(201),
                    )
                    .await;
                return Ok((StatusCode::CREATED, Json(pair)));
            }
            Err(store::StoreError::Conflict(m)) if m.contains("mail") => return Err(email_taken()),
            Err(store::StoreError::Conflict(m)) => last_err = Some(m),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(last_err.unwrap_or_else(|| {
        "could not allocate a tenant name".into()
    })))
}

fn email_taken() -> ApiError {
    ApiError::conflict("A user with this e-mail is already registered")
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "Invalid email or password"), (status = 429, description = "too many attempts"),
        (status = 503, description = "too many password checks at once")))]
pub async fn login(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    password_login(&state, &ctx, req).await.map(Json)
}

/// Checks an e-mail and password (limited per client IP and per account) and starts a new
/// refresh-token family: the API's login and the console's.
pub(crate) async fn password_login(
    state: &AppState,
    ctx: &RequestCtx,
    req: LoginRequest,
) -> ApiResult<TokenResponse> {
    let email = normalize_email(&req.email);
    let cfg = &state.config;
    let ip = limit_key(ctx.ip.as_deref());
    let by_ip = state
        .limiter
        .hit(
            &format!("login:ip:{ip}"),
            cfg.login_attempts_per_ip,
            LOGIN_WINDOW,
        )
        .await;
    let by_account = state
        .limiter
        .hit(
            &format!("login:acct:{}", sha256_hex(&email)),
            cfg.login_attempts_per_account,
            LOGIN_WINDOW,
        )
        .await;
    for d in [by_ip, by_account] {
        if !d.allowed {
            state
                .audit(
                    ctx,
                    Audit::new("auth.login_failed", "user")
                        .status(429)
                        .details(json!({"email": email, "reason": "rate_limited"})),
                )
                .await;
            return Err(rate_limited(&d));
        }
    }
    let found = state.store.get_user_by_email(&email).await?;
    let hash = found.as_ref().map(|u| u.user.password_hash.clone());
    let found_id = found.as_ref().map(|u| u.user.id.clone());
    let ok = password::verify(&state.passwords, req.password, hash).await?;
    let user = match found {
        Some(u) if ok && u.user.is_active => u.user,
        other => {
            let reason = match other {
                None => "unknown_user",
                Some(u) if !u.user.is_active => "inactive_user",
                Some(_) => "bad_password",
            };
            let mut a = Audit::new("auth.login_failed", "user")
                .status(401)
                .details(json!({"email": email, "reason": reason}));
            if let Some(id) = found_id {
                a = a.id(id);
            }
            state.audit(ctx, a).await;
            return Err(ApiError::unauthenticated("Invalid email or password"));
        }
    };
    state
        .limiter
        .reset(&format!("login:acct:{}", sha256_hex(&email)), LOGIN_WINDOW)
        .await;
    state.store.record_login(&user.id, Utc::now()).await?;
    let (pair, record) = issue_tokens(state, &user.id, None).await?;
    state.store.create_refresh_token(&record).await?;
    state
        .audit(
            ctx,
            Audit::new("auth.login", "user")
                .id(&user.id)
                .by(&user.id, &user.email),
        )
        .await;
    Ok(pair)
}

/// The refresh token from the body, or else from `Authorization: Bearer`.
fn presented_refresh_token(headers: &HeaderMap, body: &[u8]) -> ApiResult<String> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let req: RefreshRequest = parse_json(body)?;
        if let Some(t) = req.refresh_token {
            return Ok(t);
        }
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(|| ApiError::validation("refresh_token", "a refresh token is required"))
}

#[utoipa::path(post, operation_id = "refresh_token", path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "invalid, expired or reused refresh token")))]
pub async fn refresh(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<TokenResponse>> {
    let presented = presented_refresh_token(&headers, &body)?;
    rotate_refresh(&state, &ctx, &presented).await.map(Json)
}

/// Trades a refresh token for a new pair in the same family; a rotated token presented again
/// ends the family.
pub(crate) async fn rotate_refresh(
    state: &AppState,
    ctx: &RequestCtx,
    presented: &str,
) -> ApiResult<TokenResponse> {
    let invalid = || ApiError::unauthenticated("Invalid or expired refresh token");
    let old = state
        .store
        .find_refresh_token(&sha256_hex(presented))
        .await?
        .ok_or_else(invalid)?;
    let now = Utc::now();
    if old.revoked_at.is_some() {
        // A rotated token presented again means it leaked: end the whole family.
        if old.replaced_by.is_some() {
            let n = state
                .store
                .revoke_refresh_family(&old.family_id, now)
                .await?;
            state
                .audit(
                    ctx,
                    Audit::new("auth.refresh_reuse", "user")
                        .id(&old.user_id)
                        .status(401)
                        .details(json!({"revoked_tokens": n})),
                )
                .await;
        }
        return Err(invalid());
    }
    if old.expires_at <= now {
        return Err(invalid());
    }
    let user = state
        .store
        .get_user(&old.user_id)
        .await?
        .filter(|u| u.user.is_active)
        .ok_or_else(invalid)?;
    let (pair, record) = issue_tokens(state, &user.user.id, Some(&old.family_id)).await?;
    if !state
        .store
        .rotate_refresh_token(&old.id, &record, now)
        .await?
    {
        // Lost a race with another use of the same token: treat as reuse.
        state
            .store
            .revoke_refresh_family(&old.family_id, now)
            .await?;
        return Err(invalid());
    }
    Ok(pair)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "the refresh token's family is revoked")))]
pub async fn logout(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let presented = presented_refresh_token(&headers, &body)?;
    revoke_refresh(&state, &ctx, &presented).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the family of a refresh token (unknown tokens are ignored: signing out twice is fine).
pub(crate) async fn revoke_refresh(
    state: &AppState,
    ctx: &RequestCtx,
    presented: &str,
) -> ApiResult<()> {
    if let Some(t) = state
        .store
        .find_refresh_token(&sha256_hex(presented))
        .await?
    {
        state
            .store
            .revoke_refresh_family(&t.family_id, Utc::now())
            .await?;
        let user = state.store.get_user(&t.user_id).await?;
        let email = user
            .as_ref()
            .map(|u| u.user.email.clone())
            .unwrap_or_default();
        state
            .audit(
                ctx,
                Audit::new("auth.logout", "user")
                    .id(&t.user_id)
                    .by(&t.user_id, &email)
                    .status(204),
            )
            .await;
    }
    Ok(())
}

#[utoipa::path(get, operation_id = "get_me", path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = MeResponse)), security(("bearer" = [])))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MeResponse>> {
    let u = state
        .store
        .get_user(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("Invalid or expired token"))?;
    Ok(Json(MeResponse {
        id: u.user.id,
        email: u.user.email,
        full_name: u.user.full_name,
        is_active: u.user.is_active,
        created_at: u.user.created_at,
        last_login_at: u.user.last_login_at,
        bindings: u.bindings,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyResponse)), security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ApiKeyCreate>,
) -> ApiResult<impl IntoResponse> {
    validate::text("name", &req.name, 3, 100)?;
    if let Some(d) = &req.description {
        validate::text("description", d, 0, 500)?;
    }
    if let Some(days) = req.expires_in_days {
        if !(1..=365).contains(&days) {
            return Err(ApiError::validation(
                "expires_in_days",
                "must be between 1 and 365",
            ));
        }
    }
    if req.scopes.is_empty() {
        return Err(ApiError::validation(
            "scopes",
            "must hold at least one of read, write",
        ));
    }
    // A key never carries more than the key that created it.
    if let Some((_, scopes)) = &caller.api_key {
        if req.scopes.iter().any(|s| !scopes.contains(s)) {
            return Err(ApiError::forbidden(
                "An API key cannot create a key with wider scopes than its own",
            ));
        }
    }
    let mut scopes = req.scopes.clone();
    scopes.sort_by_key(|s| *s as u8);
    scopes.dedup();
    let (plaintext, prefix) = new_api_key();
    let now = Utc::now();
    let key = ApiKey {
        id: new_id(IdKind::ApiKey),
        user_id: caller.user_id.clone(),
        name: req.name.trim().to_string(),
        description: req.description.clone(),
        prefix,
        key_hash: sha256_hex(&plaintext),
        scopes,
        created_at: now,
        expires_at: req.expires_in_days.map(|d| now + chrono::Duration::days(d)),
        last_used_at: None,
        revoked_at: None,
    };
    state.store.create_api_key(&key).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("auth.api_key_create", "api_key")
                .id(&key.id)
                .by(&caller.user_id, &caller.email)
                .status(201),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyResponse::from_key(&key, Some(plaintext))),
    ))
}

#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth", responses((status = 200, body = ApiKeyList)), security(("bearer" = [])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.store.list_api_keys(&caller.user_id).await?;
    let api_keys: Vec<_> = keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| ApiKeyResponse::from_key(k, None))
        .collect();
    Ok(Json(ApiKeyList {
        total: api_keys.len() as i64,
        api_keys,
    }))
}

#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !is_id(IdKind::ApiKey, &id) {
        return Err(ApiError::not_found("API key", &id));
    }
    let keys = state.store.list_api_keys(&caller.user_id).await?;
    let Some(key) = keys.into_iter().find(|k| k.id == id) else {
        return Err(ApiError::not_found("API key", &id));
    };
    if !state
        .store
        .revoke_api_key(&caller.user_id, &id, Utc::now())
        .await?
    {
        return Err(ApiError::not_found("API key", &id));
    }
    state.api_keys.invalidate(&key.prefix).await;
    state
        .audit(
            &caller.ctx,
            Audit::new("auth.api_key_revoke", "api_key")
                .id(&id)
                .by(&caller.user_id, &caller.email)
                .status(204),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
