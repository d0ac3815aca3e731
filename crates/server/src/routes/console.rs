//! The web console: the single-page app built into `web/dist`, embedded in the binary, served at
//! `/`. Hashed files under `/assets/` are cached for good; every other path a browser navigates
//! to gets `index.html` (the app routes on the client), revalidated on each load so a new release
//! shows at once. Text files go out gzip-compressed when the client accepts it (compressed once,
//! at the first request). The API, docs and probes keep their own routes and JSON 404s.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rust_embed::Embed;
use sha2::{Digest, Sha256};

#[derive(Embed)]
#[folder = "../../web/dist/"]
struct Dist;

/// First path segments that belong to the server, never to the console.
const SERVER_PATHS: &[&str] = &["api", "health", "metrics", "docs", "openapi.json"];
/// Vite puts content-hashed files here: a changed file gets a new name.
const HASHED_DIR: &str = "assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// The console loads only its own files and talks only to this origin. Inline styles are allowed
/// for components that position popovers with a `style` attribute.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct Asset {
    body: Bytes,
    gzip: Option<Bytes>,
    content_type: HeaderValue,
    etag: HeaderValue,
}

static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(|| {
    Dist::iter()
        .filter_map(|path| {
            let file = Dist::get(&path)?;
            let body = Bytes::from(file.data.into_owned());
            let mime = file.metadata.mimetype().to_string();
            let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
            let asset = Asset {
                gzip: compressible(&mime).then(|| gzip(&body)).flatten(),
                content_type: HeaderValue::from_str(&mime)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
                etag: HeaderValue::from_str(&etag).ok()?,
                body,
            };
            Some((path.into_owned(), asset))
        })
        .collect()
});

fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || ["javascript", "json", "svg", "xml", "wasm"]
            .iter()
            .any(|t| mime.contains(t))
}

/// A gzip copy, kept only when it is smaller.
fn gzip(body: &[u8]) -> Option<Bytes> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).ok()?;
    let out = enc.finish().ok()?;
    (out.len() < body.len()).then(|| Bytes::from(out))
}

/// The console's answer to a request no route took, or `None` when it is not the console's (an
/// API path, a method other than GET/HEAD, or a missing file that is not a page navigation).
pub fn serve(req: &Request) -> Option<Response> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let path = req.uri().path().trim_start_matches('/');
    let first = path.split('/').next().unwrap_or_default();
    if SERVER_PATHS.contains(&first) {
        return None;
    }
    let (asset, cache) = match ASSETS.get(path) {
        Some(a) if path.starts_with(HASHED_DIR) => (a, IMMUTABLE),
        Some(a) => (a, REVALIDATE),
        // A page of the app (`/`, `/databases/…`): the browser asks for HTML. A missing hashed
        // file stays a 404, so a stale page fails loudly instead of loading HTML as a script.
        None if path.is_empty() || (!path.starts_with(HASHED_DIR) && wants_html(req)) => {
            (ASSETS.get("index.html")?, REVALIDATE)
        }
        None => return None,
    };
    Some(respond(req, asset, cache))
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn respond(req: &Request, asset: &Asset, cache: &'static str) -> Response {
    let headers = req.headers();
    let not_modified = headers
        .get(IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == asset.etag.as_bytes());
    let accepts_gzip = headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut res = Response::builder()
        .header(CACHE_CONTROL, cache)
        .header(ETAG, asset.etag.clone())
        .header(VARY, "accept-encoding")
        .header(X_CONTENT_TYPE_OPTIONS, "nosniff");
    if asset.content_type.as_bytes().starts_with(b"text/html") {
        res = res
            .header(CONTENT_SECURITY_POLICY, CSP)
            .header(X_FRAME_OPTIONS, "DENY")
            .header(REFERRER_POLICY, "no-referrer");
    }
    let res = if not_modified {
        res.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        res = res.header(CONTENT_TYPE, asset.content_type.clone());
        match (&asset.gzip, accepts_gzip) {
            (Some(gz), true) => res
                .header(CONTENT_ENCODING, "gzip")
                .body(Body::from(gz.clone())),
            _ => res.body(Body::from(asset.body.clone())),
        }
    };
    res.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
