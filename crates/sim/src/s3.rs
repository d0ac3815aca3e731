//! An embedded S3-compatible server (`s3s` over the `s3s-fs` filesystem backend) that the
//! simulated KubeStash backs up to: buckets are directories under `root`, requests must be
//! signed (signature v4) with the one access key/secret configured.
//!
//! The fault `s3_unavailable` makes it answer 503 to every request while it is set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::faults::Faults;

pub const DEFAULT_ACCESS_KEY: &str = "dbaas-sim";
pub const DEFAULT_SECRET_KEY: &str = "dbaas-sim-secret";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_BUCKET: &str = "dbaas-backups";

#[derive(Clone, PartialEq, Eq)]
pub struct S3ServerConfig {
    /// Buckets are directories under it (created when missing).
    pub root: PathBuf,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Created at start when missing.
    pub buckets: Vec<String>,
}

impl S3ServerConfig {
    /// Default keys, region and bucket, on a free port.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_key: DEFAULT_ACCESS_KEY.into(),
            secret_key: DEFAULT_SECRET_KEY.into(),
            region: DEFAULT_REGION.into(),
            buckets: vec![DEFAULT_BUCKET.into()],
        }
    }
}

impl std::fmt::Debug for S3ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ServerConfig")
            .field("root", &self.root)
            .field("listen", &self.listen)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .field("buckets", &self.buckets)
            .finish()
    }
}

/// A running embedded S3 server.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`: the endpoint for path-style requests.
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub root: PathBuf,
    shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .field("root", &self.root)
            .finish()
    }
}

impl S3Server {
    /// Where a BackupStorage on this server keeps its data: `bucket`, under `prefix`.
    pub fn location(&self, bucket: &str, prefix: &str) -> provider::s3::S3Location {
        provider::s3::S3Location {
            endpoint: self.url.clone(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            region: self.region.clone(),
            access_key_id: self.access_key.clone(),
            secret_access_key: self.secret_key.clone(),
            insecure_tls: false,
        }
    }

    /// Stops accepting connections and waits (briefly) for the accept loop to end.
    pub async fn stop(self) {
        let _ = self.shutdown_tx.send(true);
        let aborter = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.task)
            .await
            .is_err()
        {
            aborter.abort();
        }
    }
}

/// Starts the server and returns once it is listening.
pub async fn start(config: S3ServerConfig) -> anyhow::Result<S3Server> {
    start_with_faults(config, None).await
}

/// Starts the server; `faults.s3_unavailable` turns every answer into a 503 while set.
pub async fn start_with_faults(
    config: S3ServerConfig,
    faults: Option<Arc<Faults>>,
) -> anyhow::Result<S3Server> {
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("creating S3 root {}", config.root.display()))?;
    let root = std::fs::canonicalize(&config.root)
        .with_context(|| format!("resolving S3 root {}", config.root.display()))?;
    for bucket in &config.buckets {
        anyhow::ensure!(
            valid_bucket_name(bucket),
            "invalid bucket name {bucket:?} (3-63 lowercase letters, digits, '-' and '.')"
        );
        std::fs::create_dir_all(root.join(bucket))
            .with_context(|| format!("creating bucket {bucket}"))?;
    }
    let fs = s3s_fs::FileSystem::new(&root)
        .map_err(|e| anyhow::anyhow!("opening S3 root {}: {e:?}", root.display()))?;
    let service = {
        let mut b = S3ServiceBuilder::new(ExistingBuckets {
            fs,
            root: root.clone(),
        });
        b.set_auth(SimpleAuth::from_single(
            config.access_key.clone(),
            config.secret_key.clone(),
        ));
        b.build()
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding S3 server to {}", config.listen))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let url = format!("http://{host}:{}", addr.port());
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let builder = ConnBuilder::new(TokioExecutor::new());
        loop {
            let (socket, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "S3 server accept failed");
                        continue;
                    }
                },
                _ = shutdown_rx.changed() => break,
            };
            let service = service.clone();
            let faults = faults.clone();
            let handler = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let service = service.clone();
                let unavailable = faults.as_ref().is_some_and(|f| f.s3_unavailable());
                async move {
                    if unavailable {
                        return Ok(service_unavailable());
                    }
                    hyper::service::Service::call(&service, req).await
                }
            });
            let conn = builder
                .serve_connection(TokioIo::new(socket), handler)
                .into_owned();
            let mut stop = shutdown_rx.clone();
            tokio::spawn(async move {
                tokio::select! {
                    r = conn => if let Err(e) = r {
                        tracing::debug!(error = %e, "S3 connection ended with an error");
                    },
                    _ = stop.changed() => {}
                }
            });
        }
    });
    tracing::info!(%url, root = %root.display(), "embedded S3 server listening");
    Ok(S3Server {
        url,
        access_key: config.access_key,
        secret_key: config.secret_key,
        region: config.region,
        root,
        shutdown_tx,
        task,
    })
}

/// The filesystem backend, except that writes into a bucket that does not exist fail with
/// `NoSuchBucket` as on a real S3 (s3s-fs would create the directory).
struct ExistingBuckets {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

impl ExistingBuckets {
    fn ensure_bucket(&self, bucket: &str) -> s3s::S3Result<()> {
        if valid_bucket_name(bucket) && self.root.join(bucket).is_dir() {
            Ok(())
        } else {
            Err(s3s::s3_error!(NoSuchBucket))
        }
    }
}

/// Implements `S3` for [`ExistingBuckets`]: the listed writes check the bucket first, every
/// other operation goes straight to the filesystem backend.
macro_rules! s3_impl {
    (checked { $($c:ident($ci:ident) -> $co:ident;)* } plain { $($p:ident($pi:ident) -> $po:ident;)* }) => {
        #[async_trait::async_trait]
        impl s3s::S3 for ExistingBuckets {
            $(
                async fn $c(&self, req: s3s::S3Request<s3s::dto::$ci>) -> s3s::S3Result<s3s::S3Response<s3s::dto::$co>> {
                    self.ensure_bucket(&req.input.bucket)?;
                    self.fs.$c(req).await
                }
            )*
            $(
                async fn $p(&self, req: s3s::S3Request<s3s::dto::$pi>) -> s3s::S3Result<s3s::S3Response<s3s::dto::$po>> {
                    self.fs.$p(req).await
                }
            )*
        }
    };
}

s3_impl! {
    checked {
        put_object(PutObjectInput) -> PutObjectOutput;
        copy_object(CopyObjectInput) -> CopyObjectOutput;
        create_multipart_upload(CreateMultipartUploadInput) -> CreateMultipartUploadOutput;
        upload_part(UploadPartInput) -> UploadPartOutput;
        upload_part_copy(UploadPartCopyInput) -> UploadPartCopyOutput;
        complete_multipart_upload(CompleteMultipartUploadInput) -> CompleteMultipartUploadOutput;
    }
    plain {
        create_bucket(CreateBucketInput) -> CreateBucketOutput;
        delete_bucket(DeleteBucketInput) -> DeleteBucketOutput;
        head_bucket(HeadBucketInput) -> HeadBucketOutput;
        list_buckets(ListBucketsInput) -> ListBucketsOutput;
        get_bucket_location(GetBucketLocationInput) -> GetBucketLocationOutput;
        get_object(GetObjectInput) -> GetObjectOutput;
        head_object(HeadObjectInput) -> HeadObjectOutput;
        delete_object(DeleteObjectInput) -> DeleteObjectOutput;
        delete_objects(DeleteObjectsInput) -> DeleteObjectsOutput;
        list_objects(ListObjectsInput) -> ListObjectsOutput;
        list_objects_v2(ListObjectsV2Input) -> ListObjectsV2Output;
        list_parts(ListPartsInput) -> ListPartsOutput;
        abort_multipart_upload(AbortMultipartUploadInput) -> AbortMultipartUploadOutput;
    }
}

/// The answer of an S3 endpoint that is down (fault `s3_unavailable`).
fn service_unavailable() -> s3s::HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ServiceUnavailable</Code>\
                <Message>the simulated S3 endpoint is unavailable (fault s3_unavailable)</Message></Error>";
    let mut resp = http::Response::new(s3s::Body::from(body.to_string()));
    *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// S3's bucket naming rules, simplified: 3-63 of `[a-z0-9.-]`, starting and ending alphanumeric.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(valid_bucket_name("dbaas-backups"));
        assert!(!valid_bucket_name("ab"));
        assert!(!valid_bucket_name("Upper"));
        assert!(!valid_bucket_name("-dash"));
        assert!(!valid_bucket_name("../x"));
    }

    #[tokio::test]
    async fn serves_signed_requests_and_the_unavailable_fault() {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Arc::new(Faults::default());
        let srv = start_with_faults(S3ServerConfig::new(dir.path()), Some(faults.clone()))
            .await
            .expect("starts");
        let loc = srv.location(DEFAULT_BUCKET, "p");
        loc.check().await.expect("bucket usable");
        loc.put("a/b.json", bytes::Bytes::from_static(b"{}"))
            .await
            .expect("put");
        assert_eq!(
            loc.list("a").await.expect("list"),
            vec![("a/b.json".to_string(), 2)]
        );
        assert_eq!(loc.get("a/b.json").await.expect("get").as_ref(), b"{}");
        let wrong = provider::s3::S3Location {
            secret_access_key: "nope".into(),
            ..loc.clone()
        };
        let e = wrong.check().await.expect_err("wrong secret");
        assert!(matches!(e, provider::s3::S3Error::AccessDenied(_)), "{e:?}");
        let missing = srv.location("no-such-bucket", "");
        let e = missing.check().await.expect_err("missing bucket");
        assert_eq!(e.to_string(), "bucket 'no-such-bucket' does not exist");
        faults.update(|f| f.s3_unavailable = true);
        let e = loc.check().await.expect_err("unavailable");
        assert!(matches!(e, provider::s3::S3Error::Unreachable(_)), "{e:?}");
        faults.update(|f| f.s3_unavailable = false);
        loc.delete("a/b.json").await.expect("delete");
        assert!(loc.list("a").await.expect("list").is_empty());
        srv.stop().await;
    }
}
