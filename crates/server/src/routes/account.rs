//! The signed-in user's own account: invitations addressed to them (list, accept, decline) and
//! changing their password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use domain::ids::{is_id, IdKind};
use domain::invitation::{Invitation, InvitationStatus};
use domain::validate;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::tenants::{InvitationList, InvitationResponse};
use crate::auth::tokens::sha256_hex;
use crate::auth::{password, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, Audit};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The code the inviter received when inviting you (`inv_…`).
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// 12–256 characters.
    #[schema(min_length = 12, max_length = 256)]
    pub new_password: String,
}

/// Granting roles and changing the password are account matters: not for API keys.
fn require_session(caller: &Caller, what: &str) -> ApiResult<()> {
    if caller.api_key.is_some() {
        return Err(ApiError::forbidden(format!(
            "{what} needs a signed-in session, not an API key"
        )));
    }
    Ok(())
}

/// An invitation addressed to the caller; anything else (someone else's, malformed) is 404.
async fn addressed_to_caller(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Invitation> {
    let not_found = || ApiError::not_found("Invitation", id);
    if !is_id(IdKind::Invitation, id) {
        return Err(not_found());
    }
    state
        .store
        .get_invitation(id)
        .await?
        .filter(|i| i.email.eq_ignore_ascii_case(&caller.email))
        .ok_or_else(not_found)
}

fn not_open(i: &Invitation, now: chrono::DateTime<Utc>) -> ApiError {
    ApiError::conflict(format!(
        "The invitation is {}, not pending",
        i.status_at(now).as_str()
    ))
}

#[utoipa::path(get, path = "/api/v1/auth/invitations", tag = "auth",
    responses((status = 200, body = InvitationList, description = "pending invitations addressed to the caller's e-mail")),
    security(("bearer" = [])))]
pub async fn list_my_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<InvitationList>> {
    let now = Utc::now();
    let invitations: Vec<_> = state
        .store
        .open_invitations_for(&caller.email, now)
        .await?
        .into_iter()
        .map(|i| InvitationResponse::of(i, now, None))
        .collect();
    Ok(Json(InvitationList {
        total: invitations.len() as i64,
        invitations,
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/invitations/{id}/accept", tag = "auth", params(("id" = String, Path)),
    request_body = AcceptInvitation,
    responses((status = 200, body = InvitationResponse, description = "accepted: the role is granted"),
        (status = 403, description = "wrong code, or an API key"), (status = 404),
        (status = 409, description = "expired, revoked, declined, accepted already, or the role is held already")),
    security(("bearer" = [])))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AcceptInvitation>,
) -> ApiResult<Json<InvitationResponse>> {
    require_session(&caller, "Accepting an invitation")?;
    let inv = addressed_to_caller(&state, &caller, &id).await?;
    let now = Utc::now();
    let scope_domain = inv.binding.domain.clone();
    let scope_project = inv.binding.project.clone();
    let audit = |status: u16, reason: &str| {
        Audit::new("member.accept", "invitation")
            .id(&id)
            .scope(scope_domain.as_deref(), scope_project.as_deref())
            .by(&caller.user_id, &caller.email)
            .status(status)
            .details(json!({
                "role": inv.binding.role,
                "invited_by": inv.invited_by_email,
                "result": reason,
            }))
    };
    if !inv.is_open(now) {
        state.audit(&caller.ctx, audit(409, "not_open")).await;
        return Err(not_open(&inv, now));
    }
    // The code proves the invitation reached the person it was sent to, not merely an account
    // that registered the address first.
    let presented = sha256_hex(req.code.trim());
    if !crate::auth::constant_time_eq(presented.as_bytes(), inv.code_hash.as_bytes()) {
        state.audit(&caller.ctx, audit(403, "wrong_code")).await;
        return Err(ApiError::forbidden(
            "The invitation code does not match: use the code the inviter sent to your address",
        ));
    }
    let accepted = match state
        .store
        .accept_invitation(&id, &caller.user_id, now)
        .await
    {
        Ok(a) => a,
        Err(store::StoreError::Conflict(m)) => {
            state.audit(&caller.ctx, audit(409, "conflict")).await;
            return Err(ApiError::conflict(m));
        }
        Err(e) => return Err(e.into()),
    };
    state.invalidate_user(&caller.user_id).await;
    state.audit(&caller.ctx, audit(200, "accepted")).await;
    Ok(Json(InvitationResponse::of(accepted, now, None)))
}

#[utoipa::path(post, path = "/api/v1/auth/invitations/{id}/decline", tag = "auth", params(("id" = String, Path)),
    responses((status = 204, description = "declined"), (status = 404), (status = 409, description = "no longer pending")),
    security(("bearer" = [])))]
pub async fn decline_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_session(&caller, "Declining an invitation")?;
    let inv = addressed_to_caller(&state, &caller, &id).await?;
    let now = Utc::now();
    if !inv.is_open(now)
        || !state
            .store
            .close_invitation(&id, InvitationStatus::Declined, now)
            .await?
    {
        let fresh = state.store.get_invitation(&id).await?.unwrap_or(inv);
        return Err(not_open(&fresh, now));
    }
    state
        .audit(
            &caller.ctx,
            Audit::new("member.decline", "invitation")
                .id(&id)
                .scope(
                    inv.binding.domain.as_deref(),
                    inv.binding.project.as_deref(),
                )
                .by(&caller.user_id, &caller.email)
                .status(204)
                .details(json!({"role": inv.binding.role, "invited_by": inv.invited_by_email})),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "changed; every refresh token and API key of the account is revoked"),
        (status = 403, description = "wrong current password, or an API key"), (status = 422)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    require_session(&caller, "Changing the password")?;
    validate::password("new_password", &req.new_password)?;
    let mut u = state
        .store
        .get_user(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("Invalid or expired token"))?
        .user;
    if !password::verify(
        &state.passwords,
        req.current_password,
        Some(u.password_hash.clone()),
    )
    .await?
    {
        state
            .audit(
                &caller.ctx,
                Audit::new("user.change_password", "user")
                    .id(&caller.user_id)
                    .by(&caller.user_id, &caller.email)
                    .status(403),
            )
            .await;
        return Err(ApiError::forbidden("The current password is wrong"));
    }
    u.password_hash = password::hash(&state.passwords, req.new_password).await?;
    u.updated_at = Utc::now();
    state.store.update_user(&u).await?;
    let revoked = super::users::revoke_credentials(&state, &u.id).await?;
    state
        .audit(
            &caller.ctx,
            Audit::new("user.change_password", "user")
                .id(&caller.user_id)
                .by(&caller.user_id, &caller.email)
                .status(204)
                .details(json!({"revoked_api_keys": revoked})),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
