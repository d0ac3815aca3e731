//! Extractors whose rejections speak the contract's envelope.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// JSON body: 415 without a JSON content type, 413 over the body limit, 422 naming the field for
/// malformed JSON, wrong types and unknown fields.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected a request body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Request body exceeds the 1 MiB limit",
                )
            } else {
                ApiError::bad_request(format!("Could not read the request body: {r}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes a JSON document, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let mut value: serde_json::Value = serde_path_to_error::deserialize(de).map_err(rejection)?;
    integral_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(rejection)
}

/// JSON has one number type: `7.0` is the integer 7 (as JSON Schema's `integer` says), so an
/// integral float within range is given to integer fields as one.
fn integral_numbers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *v = serde_json::Value::from(f as i64);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

fn rejection(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = if path == "." || path.is_empty() {
        "body".to_string()
    } else {
        path
    };
    let message = if inner.is_syntax() || inner.is_eof() {
        format!("malformed JSON: {inner}")
    } else {
        // serde's text carries "at line X column Y"; keep only the reason.
        let text = inner.to_string();
        text.split(" at line ").next().unwrap_or(&text).to_string()
    };
    ApiError::validation(&field, message)
}

/// Query string: 422 naming the parameter on a wrong type or unknown value.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_de(query);
        de.map(ApiQuery)
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // Reuse axum's Query parser for the exact same semantics, and map its error.
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::validation("query", "malformed query string"))?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|e: QueryRejection| {
            let text = e.body_text();
            let reason = text
                .trim_start_matches("Failed to deserialize query string: ")
                .to_string();
            let field = reason
                .split(':')
                .next()
                .filter(|f| !f.contains(' '))
                .unwrap_or("query")
                .to_string();
            ApiError::validation(&field, reason)
        })
}
