//! Kubeconfig → client, in memory only; the per-provider client cache and request rate limit.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::future::BoxFuture;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::ProviderError;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(600);
pub const DEFAULT_RATE_PER_SEC: u32 = 50;
pub const DEFAULT_BURST: u32 = 100;
/// Sent as User-Agent so cluster audit logs (and the simulator's counters) can tell us apart.
pub const USER_AGENT: &str = concat!("kubedb-dbaas/", env!("CARGO_PKG_VERSION"));

/// YAML, or base64 of YAML. Never written to disk.
pub fn parse_kubeconfig(content: &str) -> Result<Kubeconfig, ProviderError> {
    let text = content.trim();
    if text.is_empty() {
        return Err(ProviderError::InvalidKubeconfig("it is empty".into()));
    }
    let kc = match Kubeconfig::from_yaml(text) {
        Ok(kc) if !kc.clusters.is_empty() => kc,
        first => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            match decoded.map(|d| Kubeconfig::from_yaml(&d)) {
                Some(Ok(kc)) => kc,
                Some(Err(e)) => {
                    return Err(ProviderError::InvalidKubeconfig(format!(
                        "base64 content is not a kubeconfig: {e}"
                    )))
                }
                None => {
                    return Err(ProviderError::InvalidKubeconfig(match first {
                        Ok(_) => "it defines no clusters".into(),
                        Err(e) => format!("neither kubeconfig YAML nor base64 of it ({e})"),
                    }))
                }
            }
        }
    };
    check_kubeconfig(&kc)?;
    Ok(kc)
}

/// Refuses what would make the control plane run commands or read its own files on behalf of
/// whoever submits a kubeconfig (exec plugins, auth providers, file paths).
fn check_kubeconfig(kc: &Kubeconfig) -> Result<(), ProviderError> {
    let bad = |m: String| Err(ProviderError::InvalidKubeconfig(m));
    if kc.clusters.is_empty() {
        return bad("it defines no clusters".into());
    }
    for c in &kc.clusters {
        let Some(cluster) = &c.cluster else { continue };
        if cluster.server.as_deref().is_none_or(str::is_empty) {
            return bad(format!("cluster {:?} has no server URL", c.name));
        }
        if cluster.certificate_authority.is_some() {
            return bad(format!(
                "cluster {:?} refers to a CA file; embed it as certificate-authority-data",
                c.name
            ));
        }
    }
    for a in &kc.auth_infos {
        let Some(auth) = &a.auth_info else { continue };
        if auth.exec.is_some() || auth.auth_provider.is_some() {
            return bad(format!(
                "user {:?} uses an exec/auth-provider plugin, which the platform does not run; use a service-account token or client certificate",
                a.name
            ));
        }
        if auth.token_file.is_some()
            || auth.client_certificate.is_some()
            || auth.client_key.is_some()
        {
            return bad(format!(
                "user {:?} refers to files; embed token / client-certificate-data / client-key-data instead",
                a.name
            ));
        }
    }
    Ok(())
}

async fn config_from(
    content: &str,
    verify_ssl: bool,
    agent: &str,
) -> Result<kube::Config, ProviderError> {
    let kc = parse_kubeconfig(content)?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| ProviderError::InvalidKubeconfig(e.to_string()))?;
    // The provider's flag wins over the kubeconfig's insecure-skip-tls-verify either way.
    cfg.accept_invalid_certs = !verify_ssl;
    cfg.connect_timeout = Some(CONNECT_TIMEOUT);
    cfg.read_timeout = Some(READ_TIMEOUT);
    cfg.write_timeout = Some(READ_TIMEOUT);
    // Count the read timeout from the request, not from when a pooled connection went idle.
    cfg.reset_reader_on_write = true;
    let agent = http::HeaderValue::from_str(agent)
        .unwrap_or_else(|_| http::HeaderValue::from_static(USER_AGENT));
    cfg.headers.push((http::header::USER_AGENT, agent));
    Ok(cfg)
}

fn build(
    cfg: kube::Config,
    limiter: Option<Arc<RateLimiter>>,
    observe: Option<ObserveLayer>,
) -> Result<kube::Client, ProviderError> {
    let builder = ClientBuilder::try_from(cfg).map_err(|e| match ProviderError::from(e) {
        ProviderError::InvalidKubeconfig(m) => ProviderError::InvalidKubeconfig(m),
        other => ProviderError::InvalidKubeconfig(other.to_string()),
    })?;
    Ok(match (limiter, observe) {
        (Some(l), Some(o)) => builder
            .with_layer(&RateLimitLayer(l))
            .with_layer(&o)
            .build(),
        (Some(l), None) => builder.with_layer(&RateLimitLayer(l)).build(),
        (None, Some(o)) => builder.with_layer(&o).build(),
        (None, None) => builder.build(),
    })
}

/// Told of every request a provider's clients make: for the platform's own metrics.
pub trait RequestObserver: Send + Sync + 'static {
    /// `ok`: an answer that is not a server error or a throttle (4xx are the caller's business).
    fn observed(&self, provider_id: &str, ok: bool, took: Duration);
}

/// Tower layer that reports each request's outcome and time to a [`RequestObserver`].
#[derive(Clone)]
pub struct ObserveLayer {
    provider_id: Arc<str>,
    observer: Arc<dyn RequestObserver>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observed<S>;
    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            layer: self.clone(),
        }
    }
}

pub struct Observed<S> {
    inner: S,
    layer: ObserveLayer,
}

impl<S, B, RB> tower::Service<http::Request<B>> for Observed<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    RB: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let answer = self.inner.call(req);
        let layer = self.layer.clone();
        Box::pin(async move {
            let r = answer.await;
            let ok = matches!(&r, Ok(resp) if !resp.status().is_server_error()
                && resp.status() != http::StatusCode::TOO_MANY_REQUESTS);
            layer
                .observer
                .observed(&layer.provider_id, ok, started.elapsed());
            r
        })
    }
}

/// Builds a client in memory; `verify_ssl=false` sets accept_invalid_certs explicitly.
pub async fn client_from_kubeconfig(
    content: &str,
    verify_ssl: bool,
) -> Result<kube::Client, ProviderError> {
    build(
        config_from(content, verify_ssl, USER_AGENT).await?,
        None,
        None,
    )
}

/// A token bucket shared by every request to one cluster: callers wait, they never fail.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate_per_sec.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes a token, or says how long until one is there.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(st.1).as_secs_f64() * self.rate;
        st.0 = (st.0 + refill).min(self.burst);
        st.1 = now;
        if st.0 >= 1.0 {
            st.0 -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - st.0) / self.rate))
        }
    }

    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Tower layer that holds each request until the bucket has a token. kube's client drives its
/// stack from one buffer worker, so waiting in `poll_ready` queues requests in order.
#[derive(Clone)]
pub struct RateLimitLayer(pub Arc<RateLimiter>);

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;
    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limiter: self.0.clone(),
            permit: false,
            sleep: None,
        }
    }
}

pub struct RateLimited<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
    permit: bool,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, R> tower::Service<R> for RateLimited<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        while !self.permit {
            if let Some(sleep) = self.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            match self.limiter.try_acquire() {
                Ok(()) => self.permit = true,
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> S::Future {
        self.permit = false;
        self.inner.call(req)
    }
}

/// One cluster: a client for requests (30 s read timeout) and one for watches (no read timeout;
/// kube's watcher has its own idle timeout), both behind the same rate limiter. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
    watch_client: kube::Client,
    url: String,
    limiter: Arc<RateLimiter>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.url).finish()
    }
}

impl Cluster {
    /// Builds both clients with their own limiter at the default rate.
    pub async fn connect(content: &str, verify_ssl: bool) -> Result<Cluster, ProviderError> {
        Self::connect_with(
            content,
            verify_ssl,
            Arc::new(RateLimiter::new(DEFAULT_RATE_PER_SEC, DEFAULT_BURST)),
            USER_AGENT,
        )
        .await
    }

    /// Builds both clients sharing `limiter`, sending `agent` as User-Agent.
    pub async fn connect_with(
        content: &str,
        verify_ssl: bool,
        limiter: Arc<RateLimiter>,
        agent: &str,
    ) -> Result<Cluster, ProviderError> {
        Self::connect_observed(content, verify_ssl, limiter, agent, None).await
    }

    /// [`Cluster::connect_with`], with every request reported through `observe`.
    async fn connect_observed(
        content: &str,
        verify_ssl: bool,
        limiter: Arc<RateLimiter>,
        agent: &str,
        observe: Option<ObserveLayer>,
    ) -> Result<Cluster, ProviderError> {
        let cfg = config_from(content, verify_ssl, agent).await?;
        let url = cfg
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_string();
        let mut watch_cfg = cfg.clone();
        watch_cfg.read_timeout = None;
        Ok(Cluster {
            client: build(cfg, Some(limiter.clone()), observe.clone())?,
            watch_client: build(watch_cfg, Some(limiter.clone()), observe)?,
            url,
            limiter,
        })
    }

    /// The request client (rate-limited).
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The client for long-lived watches (rate-limited, no read timeout).
    pub fn watch_client(&self) -> &kube::Client {
        &self.watch_client
    }

    /// The API server URL from the kubeconfig.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

#[derive(Clone)]
struct Entry {
    fingerprint: String,
    verify_ssl: bool,
    cluster: Cluster,
}

/// Per-provider client cache (moka, TTL) keyed by provider id; an entry remembers the
/// fingerprint it was built for (e.g. the provider's `updated_at`) so a changed kubeconfig
/// rebuilds. Rate limiters live per provider id beyond cache entries, so a rebuild or expiry
/// does not hand out a fresh burst.
pub struct ClientCache {
    entries: moka::future::Cache<String, Entry>,
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
    rate_per_sec: u32,
    burst: u32,
    agent: String,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_TTL, DEFAULT_RATE_PER_SEC, DEFAULT_BURST)
    }
}

impl ClientCache {
    pub fn new(ttl: Duration, rate_per_sec: u32, burst: u32) -> Self {
        Self {
            entries: moka::future::Cache::builder().time_to_live(ttl).build(),
            limiters: Mutex::new(HashMap::new()),
            rate_per_sec,
            burst,
            agent: USER_AGENT.to_string(),
            observer: None,
        }
    }

    /// Reports every request of the clients this cache builds to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Names the replica in the User-Agent of its clients, so a cluster's audit log (and the
    /// simulator's counters) tell the replicas of one platform apart.
    pub fn for_replica(mut self, replica: &str) -> Self {
        self.agent = format!("{USER_AGENT} (replica {replica})");
        self
    }

    fn limiter(&self, provider_id: &str) -> Arc<RateLimiter> {
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(provider_id.to_string())
            .or_insert_with(|| Arc::new(RateLimiter::new(self.rate_per_sec, self.burst)))
            .clone()
    }

    /// The cached cluster for the provider, or one built from `kubeconfig()` (called only on a
    /// miss, a fingerprint change or a verify_ssl change).
    pub async fn get(
        &self,
        provider_id: &str,
        fingerprint: &str,
        verify_ssl: bool,
        kubeconfig: impl FnOnce() -> BoxFuture<'static, Result<String, ProviderError>>,
    ) -> Result<Cluster, ProviderError> {
        if let Some(e) = self.entries.get(provider_id).await {
            if e.fingerprint == fingerprint && e.verify_ssl == verify_ssl {
                return Ok(e.cluster);
            }
        }
        let content = kubeconfig().await?;
        let observe = self.observer.clone().map(|observer| ObserveLayer {
            provider_id: Arc::from(provider_id),
            observer,
        });
        let cluster = Cluster::connect_observed(
            &content,
            verify_ssl,
            self.limiter(provider_id),
            &self.agent,
            observe,
        )
        .await?;
        self.entries
            .insert(
                provider_id.to_string(),
                Entry {
                    fingerprint: fingerprint.to_string(),
                    verify_ssl,
                    cluster: cluster.clone(),
                },
            )
            .await;
        Ok(cluster)
    }

    pub async fn invalidate(&self, provider_id: &str) {
        self.entries.invalidate(provider_id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_paces() {
        let l = RateLimiter::new(10, 3);
        for _ in 0..3 {
            assert!(l.try_acquire().is_ok());
        }
        let wait = l.try_acquire().expect_err("burst used up");
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn acquire_waits_instead_of_failing() {
        let l = RateLimiter::new(20, 1);
        let start = Instant::now();
        for _ in 0..11 {
            l.acquire().await;
        }
        // 1 from the burst, 10 more at 20/s ≈ 0.5 s
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn garbage_is_an_invalid_kubeconfig() {
        for bad in ["", "not: [a kubeconfig", "aGVsbG8gd29ybGQ=", "just text"] {
            assert!(
                matches!(
                    parse_kubeconfig(bad),
                    Err(ProviderError::InvalidKubeconfig(_))
                ),
                "{bad:?}"
            );
        }
    }

    const KC: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: abc}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"#;

    #[test]
    fn yaml_and_base64_both_parse() {
        let a = parse_kubeconfig(KC).expect("yaml");
        let b64 = base64::engine::general_purpose::STANDARD.encode(KC);
        let b = parse_kubeconfig(&b64).expect("base64");
        assert_eq!(a.clusters.len(), 1);
        assert_eq!(b.current_context.as_deref(), Some("ctx"));
    }

    #[test]
    fn exec_plugins_and_files_are_refused() {
        let exec = KC.replace(
            "user: {token: abc}",
            "user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, id]}}",
        );
        let e = parse_kubeconfig(&exec).expect_err("exec refused");
        assert!(e.to_string().contains("exec"), "{e}");
        let file = KC.replace("user: {token: abc}", "user: {tokenFile: /etc/passwd}");
        assert!(matches!(
            parse_kubeconfig(&file),
            Err(ProviderError::InvalidKubeconfig(_))
        ));
        let ca = KC.replace(
            "cluster: {server: \"https://127.0.0.1:6443\"}",
            "cluster: {server: \"https://127.0.0.1:6443\", certificate-authority: /etc/ssl/ca.pem}",
        );
        assert!(matches!(
            parse_kubeconfig(&ca),
            Err(ProviderError::InvalidKubeconfig(_))
        ));
    }
}
