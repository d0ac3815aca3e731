//! `/api/v1/users`: user administration, for platform admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::access::Binding;
use domain::ids::{is_id, new_id, IdKind};
use domain::model::{User, UserWithBindings};
use domain::validate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PageMeta, PageQuery};
use crate::auth::{password, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::{AppState, Audit};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
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
    /// Grants the global platform_admin role.
    #[serde(default)]
    pub platform_admin: bool,
    /// Roles granted at once (the account is new, so nobody else can hold its e-mail): unlike
    /// adding a member, which invites.
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// 2–100 characters (surrounding spaces are trimmed).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub full_name: Option<String>,
    /// Resets the password (12–256 characters).
    #[schema(min_length = 12, max_length = 256)]
    pub password: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub id: String,
    pub email: String,
    pub full_name: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub bindings: Vec<Binding>,
}

impl From<UserWithBindings> for UserResponse {
    fn from(u: UserWithBindings) -> Self {
        UserResponse {
            id: u.user.id,
            email: u.user.email,
            full_name: u.user.full_name,
            is_active: u.user.is_active,
            created_at: u.user.created_at,
            last_login_at: u.user.last_login_at,
            bindings: u.bindings,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserResponse>,
    #[serde(flatten)]
    pub meta: PageMeta,
}

async fn load(state: &AppState, id: &str) -> ApiResult<UserWithBindings> {
    if !is_id(IdKind::User, id) {
        return Err(ApiError::not_found("User", id));
    }
    state
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("User", id))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = UserResponse), (status = 400, description = "bad_request: a binding names a tenant or project that does not exist"), (status = 409)), security(("bearer" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UserCreate>,
) -> ApiResult<impl IntoResponse> {
    caller.require_platform_admin()?;
    let email = req.email.trim().to_lowercase();
    validate::email("email", &email)?;
    validate::password("password", &req.password)?;
    validate::text("full_name", &req.full_name, 2, 100)?;
    let now = Utc::now();
    let user = User {
        id: new_id(IdKind::User),
        email,
        full_name: req.full_name.trim().to_string(),
        password_hash: password::hash(&state.passwords, req.password).await?,
        is_active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let mut bindings = req.bindings;
    for (i, b) in bindings.iter().enumerate() {
        b.check_shape()
            .map_err(|m| ApiError::validation(&format!("bindings[{i}]"), m))?;
    }
    if req.platform_admin && !bindings.contains(&Binding::platform_admin()) {
        bindings.push(Binding::platform_admin());
    }
    match state.store.create_user(&user, &bindings).await {
        Ok(()) => {}
        Err(store::StoreError::NotFound(what)) => {
            return Err(ApiError::bad_request(format!(
                "bindings: {what} does not exist"
            )))
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("user.create", "user")
                .id(&user.id)
                .by(&caller.user_id, &caller.email)
                .status(201),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(UserResponse::from(UserWithBindings { user, bindings })),
    ))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery), responses((status = 200, body = UserList)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<UserList>> {
    caller.require_platform_admin()?;
    let p = state.store.list_users(q.request()?).await?;
    let meta = PageMeta::of(&p);
    Ok(Json(UserList {
        users: p.items.into_iter().map(Into::into).collect(),
        meta,
    }))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 404)), security(("bearer" = [])))]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserResponse>> {
    caller.require_platform_admin()?;
    Ok(Json(load(&state, &id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserResponse), (status = 400, description = "bad_request: you cannot deactivate yourself, nor reset your own password here"), (status = 404)), security(("bearer" = [])))]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> ApiResult<Json<UserResponse>> {
    caller.require_platform_admin()?;
    let mut u = load(&state, &id).await?;
    if req.password.is_some() && id == caller.user_id {
        // A reset ends every session: your own goes through the route that asks the current one.
        return Err(ApiError::bad_request(
            "Change your own password with POST /api/v1/auth/password",
        ));
    }
    // A new password or a deactivation ends every session and key the user had.
    let password_reset = req.password.is_some();
    let revoke = password_reset || req.is_active == Some(false);
    if let Some(n) = req.full_name {
        validate::text("full_name", &n, 2, 100)?;
        u.user.full_name = n.trim().to_string();
    }
    if let Some(p) = req.password {
        validate::password("password", &p)?;
        u.user.password_hash = password::hash(&state.passwords, p).await?;
    }
    if let Some(a) = req.is_active {
        if !a && id == caller.user_id {
            return Err(ApiError::bad_request("You cannot deactivate yourself"));
        }
        u.user.is_active = a;
    }
    u.user.updated_at = Utc::now();
    state.store.update_user(&u.user).await?;
    state.invalidate_user(&id).await;
    let revoked = if revoke {
        revoke_credentials(&state, &id).await?
    } else {
        0
    };
    state
        .audit(
            &caller.ctx,
            Audit::new("user.update", "user")
                .id(&id)
                .by(&caller.user_id, &caller.email)
                .details(serde_json::json!({
                    "password_reset": password_reset,
                    "is_active": u.user.is_active,
                    "revoked_api_keys": revoked,
                })),
        )
        .await;
    Ok(Json(u.into()))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204, description = "deactivated; the record is kept for audit"), (status = 400, description = "bad_request: you cannot deactivate yourself"), (status = 404)), security(("bearer" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_platform_admin()?;
    if id == caller.user_id {
        return Err(ApiError::bad_request("You cannot deactivate yourself"));
    }
    let mut u = load(&state, &id).await?;
    u.user.is_active = false;
    u.user.updated_at = Utc::now();
    state.store.update_user(&u.user).await?;
    state.invalidate_user(&id).await;
    revoke_credentials(&state, &id).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("user.deactivate", "user")
                .id(&id)
                .by(&caller.user_id, &caller.email)
                .status(204),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every refresh token and API key of a user and evicts what the caches hold of them;
/// returns how many keys were revoked.
pub(crate) async fn revoke_credentials(state: &AppState, user_id: &str) -> ApiResult<usize> {
    let prefixes = state
        .store
        .revoke_user_credentials(user_id, Utc::now())
        .await?;
    state.evict_api_keys(&prefixes).await;
    state.invalidate_user(user_id).await;
    Ok(prefixes.len())
}
