//! `/api/v1/auth/console`: the web console's sign-in. The console keeps its access token in
//! memory only; the refresh token travels in an `HttpOnly`, `SameSite=Strict` cookie that scripts
//! cannot read, scoped to these routes. Because a browser sends that cookie by itself, the two
//! routes that use it also want the `X-CSRF-Token` header to repeat the `dbaas_csrf` cookie (a
//! value only a page of this origin can read; a cross-site form cannot set a header).

use axum::extract::State;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{password_login, revoke_refresh, rotate_refresh, LoginRequest, TokenResponse};
use crate::auth::tokens::{new_csrf_token, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::{AppState, RequestCtx};

pub const REFRESH_COOKIE: &str = "dbaas_refresh";
pub const CSRF_COOKIE: &str = "dbaas_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The refresh cookie goes only to these routes, never with ordinary API calls.
const REFRESH_PATH: &str = "/api/v1/auth/console";

/// What the console keeps in memory: the refresh token is in the cookie, not here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires; refresh before then.
    pub expires_in: i64,
}

#[utoipa::path(post, operation_id = "console_login", path = "/api/v1/auth/console/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = ConsoleSession, description = "signed in; sets the `dbaas_refresh` (HttpOnly, SameSite=Strict) and `dbaas_csrf` cookies"),
        (status = 401, description = "Invalid email or password"), (status = 429, description = "too many attempts"),
        (status = 503, description = "too many password checks at once")))]
pub async fn login(
    State(state): State<AppState>,
    ctx: RequestCtx,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let pair = password_login(&state, &ctx, req).await?;
    Ok(session(&state, &ctx, pair))
}

#[utoipa::path(post, operation_id = "console_refresh", path = "/api/v1/auth/console/refresh", tag = "auth",
    params(("X-CSRF-Token" = String, Header, description = "the value of the `dbaas_csrf` cookie")),
    responses((status = 200, body = ConsoleSession, description = "a new access token; both cookies rotated"),
        (status = 401, description = "no valid refresh cookie: signed out"),
        (status = 403, description = "`csrf_failed`: the header does not repeat the `dbaas_csrf` cookie")))]
pub async fn refresh(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let presented = cookie_bound_refresh_token(&headers)?;
    match rotate_refresh(&state, &ctx, &presented).await {
        Ok(pair) => Ok(session(&state, &ctx, pair)),
        // A dead cookie is dropped, so the browser stops sending it.
        Err(e) => Ok((cleared(&ctx), e).into_response()),
    }
}

#[utoipa::path(post, operation_id = "console_logout", path = "/api/v1/auth/console/logout", tag = "auth",
    params(("X-CSRF-Token" = String, Header, description = "the value of the `dbaas_csrf` cookie")),
    responses((status = 204, description = "the session's refresh-token family is revoked and the cookies cleared"),
        (status = 403, description = "`csrf_failed`: the header does not repeat the `dbaas_csrf` cookie")))]
pub async fn logout(
    State(state): State<AppState>,
    ctx: RequestCtx,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match cookie_bound_refresh_token(&headers) {
        Ok(presented) => revoke_refresh(&state, &ctx, &presented).await?,
        // Nothing to revoke: signing out twice is fine.
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {}
        Err(e) => return Err(e),
    }
    Ok((cleared(&ctx), StatusCode::NO_CONTENT).into_response())
}

/// The refresh cookie, once the CSRF header has been checked against its cookie.
fn cookie_bound_refresh_token(headers: &HeaderMap) -> ApiResult<String> {
    let csrf_failed = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "The X-CSRF-Token header must repeat the dbaas_csrf cookie",
        )
    };
    let header = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(csrf_failed)?;
    let expected = cookie(headers, CSRF_COOKIE).ok_or_else(csrf_failed)?;
    // Compared as digests, so the time taken says nothing about how much of it matched.
    if header.is_empty() || sha256_hex(header) != sha256_hex(&expected) {
        return Err(csrf_failed());
    }
    cookie(headers, REFRESH_COOKIE)
        .ok_or_else(|| ApiError::unauthenticated("Not signed in: no console session"))
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The answer to a sign-in or refresh: the access token in the body, the refresh token and a new
/// CSRF value in cookies that last as long as the refresh token.
fn session(state: &AppState, ctx: &RequestCtx, pair: TokenResponse) -> Response {
    let max_age = state.config.refresh_token_ttl_days as i64 * 86_400;
    let csrf = new_csrf_token();
    let cookies = [
        set_cookie(
            ctx,
            REFRESH_COOKIE,
            &pair.refresh_token,
            REFRESH_PATH,
            true,
            max_age,
        ),
        set_cookie(ctx, CSRF_COOKIE, &csrf, "/", false, max_age),
    ];
    let body = ConsoleSession {
        access_token: pair.access_token,
        token_type: pair.token_type,
        expires_in: pair.expires_in,
    };
    let mut res = Json(body).into_response();
    for c in cookies {
        res.headers_mut().append(SET_COOKIE, c);
    }
    res.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    res
}

/// Headers that delete both cookies.
fn cleared(ctx: &RequestCtx) -> AppendHeaders<[(HeaderName, HeaderValue); 2]> {
    AppendHeaders([
        (
            SET_COOKIE,
            set_cookie(ctx, REFRESH_COOKIE, "", REFRESH_PATH, true, 0),
        ),
        (SET_COOKIE, set_cookie(ctx, CSRF_COOKIE, "", "/", false, 0)),
    ])
}

fn set_cookie(
    ctx: &RequestCtx,
    name: &str,
    value: &str,
    path: &str,
    http_only: bool,
    max_age: i64,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if ctx.https {
        c.push_str("; Secure");
    }
    // Built from our own token alphabet and constants only.
    HeaderValue::from_str(&c).expect("cookie text is a valid header value")
}
