//! A small S3 client for the buckets KubeStash backs up to: checking that a BackupStorage's
//! bucket is usable (with a reason a person understands when it is not), and reading/writing
//! objects under the storage's prefix. Used by the platform and by the simulated KubeStash.
//!
//! Built on `object_store` (path-style requests, plain HTTP allowed for `http://` endpoints) with
//! short timeouts and few retries, so a wrong or unreachable endpoint fails within seconds.

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore as _, ObjectStoreExt as _, PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};

/// How long to wait for a TCP/TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one request may take in total.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a BackupStorage keeps its data: an S3 bucket, a prefix in it and the credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    /// `https://s3.us-east-1.amazonaws.com`, `http://127.0.0.1:9000`; no scheme means https.
    pub endpoint: String,
    pub bucket: String,
    /// Every key lives under it (`cluster-1`, `a/b`); empty for the bucket root.
    pub prefix: String,
    /// `us-east-1` when empty.
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Accept any TLS certificate (private endpoints with self-signed certificates).
    pub insecure_tls: bool,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("insecure_tls", &self.insecure_tls)
            .finish()
    }
}

/// Why an S3 request failed, each with a message meant for a person.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The endpoint does not answer (DNS, refused, timeout) or answers 5xx.
    #[error("{0}")]
    Unreachable(String),
    /// Wrong access key or secret, or the key may not use the bucket.
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    NoSuchBucket(String),
    /// Anything else: a missing object, a malformed endpoint, an unexpected answer.
    #[error("{0}")]
    Other(String),
}

/// The probe object `check` writes, lists and deletes (under the prefix).
const PROBE_DIR: &str = ".dbaas-probe";

impl S3Location {
    /// Puts, lists, then deletes a probe object under the prefix; a clear human reason on
    /// failure ("bucket 'x' does not exist", "access denied: ...", "cannot reach endpoint ...").
    pub async fn check(&self) -> Result<(), S3Error> {
        let store = self.store()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let key = format!("{PROBE_DIR}/{}-{nanos}", std::process::id());
        let path = self.path(&key);
        store
            .put(&path, PutPayload::from_static(b"kubedb-dbaas bucket check"))
            .await
            .map_err(|e| self.classify(&e))?;
        let listed: Vec<_> = store
            .list(Some(&self.path(PROBE_DIR)))
            .try_collect()
            .await
            .map_err(|e| self.classify(&e))?;
        let found = listed.iter().any(|m| m.location == path);
        let deleted = store.delete(&path).await.map_err(|e| self.classify(&e));
        if !found {
            return Err(S3Error::Other(format!(
                "bucket '{}' accepted an object but does not list it",
                self.bucket
            )));
        }
        deleted
    }

    /// Writes one object; `key` is relative to the prefix.
    pub async fn put(&self, key: &str, body: Bytes) -> Result<(), S3Error> {
        self.store()?
            .put(&self.path(key), PutPayload::from_bytes(body))
            .await
            .map(|_| ())
            .map_err(|e| self.classify(&e))
    }

    /// Reads one object; `key` is relative to the prefix.
    pub async fn get(&self, key: &str) -> Result<Bytes, S3Error> {
        let store = self.store()?;
        let got = store
            .get(&self.path(key))
            .await
            .map_err(|e| self.classify_key(&e, key))?;
        got.bytes().await.map_err(|e| self.classify_key(&e, key))
    }

    /// Deletes one object (deleting a missing object succeeds, as in S3).
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.store()?.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.classify(&e)),
        }
    }

    /// Every object under `key_prefix` (a directory relative to the prefix; empty for all), as
    /// keys relative to the prefix with their sizes, sorted by key.
    pub async fn list(&self, key_prefix: &str) -> Result<Vec<(String, u64)>, S3Error> {
        let store = self.store()?;
        let dir = self.path(key_prefix);
        let dir = (!dir.as_ref().is_empty()).then_some(dir);
        let metas: Vec<_> = store
            .list(dir.as_ref())
            .try_collect()
            .await
            .map_err(|e| self.classify(&e))?;
        let base = self.path("");
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .map(|m| {
                let full = m.location.as_ref();
                let rel = if base.as_ref().is_empty() {
                    full
                } else {
                    full.strip_prefix(base.as_ref())
                        .map(|r| r.trim_start_matches('/'))
                        .unwrap_or(full)
                };
                (rel.to_string(), m.size)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The endpoint with a scheme.
    fn endpoint_url(&self) -> String {
        let e = self.endpoint.trim().trim_end_matches('/');
        if e.contains("://") {
            e.to_string()
        } else {
            format!("https://{e}")
        }
    }

    /// The object path of a key relative to the prefix.
    fn path(&self, key: &str) -> Path {
        let joined = [self.prefix.as_str(), key]
            .iter()
            .flat_map(|s| s.split('/'))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        Path::from(joined.as_str())
    }

    fn store(&self) -> Result<AmazonS3, S3Error> {
        // reqwest is built without a bundled crypto provider; use ring like the rest of the
        // workspace (an error only means one is installed already).
        let _ = rustls::crypto::ring::default_provider().install_default();
        if self.bucket.trim().is_empty() {
            return Err(S3Error::Other("no bucket is set".into()));
        }
        let endpoint = self.endpoint_url();
        let region = if self.region.trim().is_empty() {
            "us-east-1"
        } else {
            self.region.trim()
        };
        let options = ClientOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_allow_invalid_certificates(self.insecure_tls);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 1,
            retry_timeout: REQUEST_TIMEOUT,
        };
        AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_bucket_name(self.bucket.trim())
            .with_region(region)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| {
                S3Error::Other(format!("invalid S3 settings for endpoint {endpoint}: {e}"))
            })
    }

    fn classify(&self, e: &object_store::Error) -> S3Error {
        classify(e, &self.bucket, &self.endpoint_url(), None)
    }

    fn classify_key(&self, e: &object_store::Error, key: &str) -> S3Error {
        classify(e, &self.bucket, &self.endpoint_url(), Some(key))
    }
}

/// Turns an `object_store` error into a reason a person understands. S3 error codes in the
/// response body win; then the HTTP status; then transport errors.
fn classify(e: &object_store::Error, bucket: &str, endpoint: &str, key: Option<&str>) -> S3Error {
    let text = chain_text(e);
    let http_kind = transport_kind(e);
    let status = status_code(&text);
    classify_parts(
        &text,
        status,
        http_kind,
        bucket,
        endpoint,
        key,
        matches!(e, object_store::Error::NotFound { .. }),
    )
}

#[allow(clippy::too_many_arguments)]
fn classify_parts(
    text: &str,
    status: Option<u16>,
    http_kind: Option<HttpErrorKind>,
    bucket: &str,
    endpoint: &str,
    key: Option<&str>,
    not_found: bool,
) -> S3Error {
    let has = |code: &str| text.contains(&format!("<Code>{code}</Code>"));
    if has("NoSuchBucket") {
        return S3Error::NoSuchBucket(format!("bucket '{bucket}' does not exist"));
    }
    if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") {
        return S3Error::AccessDenied(
            "access denied: the access key or secret is wrong".to_string(),
        );
    }
    if has("AccessDenied") || matches!(status, Some(401 | 403)) {
        return S3Error::AccessDenied(format!(
            "access denied: the access key may not use bucket '{bucket}' (or the key or secret is wrong)"
        ));
    }
    if has("NoSuchKey") || (not_found && key.is_some()) {
        return S3Error::Other(format!(
            "object '{}' does not exist in bucket '{bucket}'",
            key.unwrap_or_default()
        ));
    }
    if let Some(s) = status.filter(|s| *s >= 500) {
        return S3Error::Unreachable(format!(
            "endpoint {endpoint} is unavailable: it answered HTTP {s}"
        ));
    }
    if let Some(kind) = http_kind {
        let what = match kind {
            HttpErrorKind::Timeout => "timed out",
            HttpErrorKind::Connect => "connection failed",
            _ => "request failed",
        };
        return S3Error::Unreachable(format!(
            "cannot reach endpoint {endpoint}: {what}: {}",
            innermost(text)
        ));
    }
    if not_found {
        // a 404 without an S3 code: a path-style request to something that is not S3
        return S3Error::NoSuchBucket(format!("bucket '{bucket}' does not exist"));
    }
    S3Error::Other(format!("S3 request to {endpoint} failed: {text}"))
}

/// The error and its sources, joined.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// The last, most specific part of a joined error chain.
fn innermost(text: &str) -> &str {
    text.rsplit(": ")
        .find(|p| !p.trim().is_empty())
        .unwrap_or(text)
}

/// The transport error kind when the request never got an HTTP answer.
fn transport_kind(e: &object_store::Error) -> Option<HttpErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(s) = cur {
        if let Some(h) = s.downcast_ref::<HttpError>() {
            return Some(h.kind());
        }
        cur = s.source();
    }
    None
}

/// The HTTP status in object_store's message ("... non-2xx status code: 503 Service ...").
fn status_code(text: &str) -> Option<u16> {
    let (_, rest) = text.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> S3Location {
        S3Location {
            endpoint: "http://127.0.0.1:9".into(),
            bucket: "b".into(),
            prefix: "/cluster-1/".into(),
            region: String::new(),
            access_key_id: "AKID".into(),
            secret_access_key: "very-secret".into(),
            insecure_tls: false,
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let d = format!("{:?}", loc());
        assert!(!d.contains("very-secret"), "{d}");
        assert!(d.contains("<redacted>") && d.contains("AKID"));
    }

    #[test]
    fn keys_live_under_the_prefix() {
        let l = loc();
        assert_eq!(
            l.path("repo/snap/dump.json").as_ref(),
            "cluster-1/repo/snap/dump.json"
        );
        assert_eq!(l.path("/x//y").as_ref(), "cluster-1/x/y");
        let root = S3Location {
            prefix: String::new(),
            ..loc()
        };
        assert_eq!(root.path("a").as_ref(), "a");
        assert_eq!(
            S3Location {
                endpoint: "s3.example.com/".into(),
                ..loc()
            }
            .endpoint_url(),
            "https://s3.example.com"
        );
    }

    #[test]
    fn classifies_s3_error_codes_and_statuses() {
        let c = |text: &str, status, kind, key, nf| {
            classify_parts(text, status, kind, "bkt", "http://e", key, nf)
        };
        let e = c(
            "status code: 404 Not Found: <Error><Code>NoSuchBucket</Code></Error>",
            Some(404),
            None,
            None,
            true,
        );
        assert!(
            matches!(e, S3Error::NoSuchBucket(ref m) if m == "bucket 'bkt' does not exist"),
            "{e:?}"
        );
        let e = c(
            "<Code>SignatureDoesNotMatch</Code>",
            Some(403),
            None,
            None,
            false,
        );
        assert!(
            matches!(e, S3Error::AccessDenied(ref m) if m.contains("access key or secret is wrong"))
        );
        let e = c(
            "<Code>InvalidAccessKeyId</Code>",
            Some(403),
            None,
            None,
            false,
        );
        assert!(matches!(e, S3Error::AccessDenied(_)));
        let e = c("forbidden", Some(403), None, None, false);
        assert!(matches!(e, S3Error::AccessDenied(_)));
        let e = c(
            "status code: 503 Service Unavailable",
            Some(503),
            None,
            None,
            false,
        );
        assert!(matches!(e, S3Error::Unreachable(ref m) if m.contains("503")));
        let e = c(
            "error sending request: tcp connect error: Connection refused",
            None,
            Some(HttpErrorKind::Connect),
            None,
            false,
        );
        assert!(
            matches!(e, S3Error::Unreachable(ref m) if m.starts_with("cannot reach endpoint http://e") && m.contains("Connection refused")),
            "{e:?}"
        );
        let e = c("<Code>NoSuchKey</Code>", Some(404), None, Some("k"), true);
        assert!(matches!(e, S3Error::Other(ref m) if m.contains("object 'k' does not exist")));
        assert_eq!(
            status_code("Server returned non-2xx status code: 503 Service Unavailable: "),
            Some(503)
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_fails_fast_with_a_reason() {
        let started = std::time::Instant::now();
        let err = loc().check().await.expect_err("nothing listens on port 9");
        assert!(matches!(err, S3Error::Unreachable(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("cannot reach endpoint http://127.0.0.1:9"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(15));
        let err = S3Location {
            bucket: " ".into(),
            ..loc()
        }
        .check()
        .await
        .expect_err("no bucket");
        assert!(err.to_string().contains("no bucket"));
    }
}
