//! A simulated Kubernetes cluster with a simulated KubeDB operator.
//!
//! Two halves meet through three small interfaces defined here:
//! - [`admission::Admission`]: the API server asks it to default/validate objects (KubeDB webhooks);
//! - [`proxy::ProxyBackend`]: the API server's service proxy forwards to it (simulated exporters);
//! - [`faults::Faults`]: shared fault-injection settings read by both halves.
//!
//! [`start`] runs the whole cluster in-process: the API server (HTTP or HTTPS with a bearer
//! token), the CRDs, the KubeDB catalog, Nodes, the webhooks, the exporters and the operator.

pub mod admission;
pub mod apiserver;
pub mod catalog;
pub mod cli;
pub mod exporters;
pub mod faults;
pub mod kubestash;
pub mod operator;
pub mod proxy;
pub mod s3;
pub mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use apiserver::metrics::{RequestCounts, RequestKey};
pub use apiserver::server::ApiServer;
pub use apiserver::state::ClusterState;
pub use faults::{FaultSettings, Faults};
pub use kubestash::{KubeStashConfig, SimClock};
pub use operator::OperatorConfig;
pub use s3::{S3Server, S3ServerConfig};

/// The Nodes the cluster reports, so capacity can be discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub count: usize,
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
    pub pods: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            count: 3,
            cpu: "8".into(),
            memory: "32Gi".into(),
            ephemeral_storage: "200Gi".into(),
            pods: "110".into(),
        }
    }
}

pub struct SimConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// HTTPS with a fresh self-signed CA (in the kubeconfig) when true, plain HTTP otherwise.
    pub tls: bool,
    /// Bearer token clients must send; a random one when `None`.
    pub token: Option<String>,
    /// Upstream CRD files to serve instead of the ones generated from the typed definitions.
    pub crds_dir: Option<PathBuf>,
    pub state_file: Option<PathBuf>,
    pub operator: OperatorConfig,
    /// Run the simulated KubeDB operator in-process.
    pub run_operator: bool,
    pub faults: FaultSettings,
    pub nodes: NodeConfig,
    /// Events each resource keeps for watch resume (older resourceVersions get 410 Gone).
    pub watch_history: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Run an embedded S3 server (the buckets KubeStash backs up to).
    pub s3: Option<S3ServerConfig>,
    /// The simulated KubeStash (runs beside the operator when the KubeStash CRDs are served).
    pub kubestash: KubeStashConfig,
    /// The clock of backup schedules and snapshot ages; a fresh one when `None`.
    pub clock: Option<SimClock>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            token: None,
            crds_dir: None,
            state_file: None,
            operator: OperatorConfig::default(),
            run_operator: true,
            faults: FaultSettings::default(),
            nodes: NodeConfig::default(),
            watch_history: apiserver::store::DEFAULT_HISTORY,
            bookmark_interval: Duration::from_secs(5),
            s3: None,
            kubestash: KubeStashConfig::default(),
            clock: None,
        }
    }
}

/// A running simulated cluster.
pub struct SimHandle {
    pub url: String,
    pub kubeconfig_yaml: String,
    pub token: String,
    pub state: ClusterState,
    pub faults: Arc<Faults>,
    /// Catalog objects the served CRD schemas rejected at start (empty when all is well).
    pub bootstrap_warnings: Vec<String>,
    /// The embedded S3 server, when [`SimConfig::s3`] asked for one.
    pub s3: Option<S3Server>,
    /// The simulated KubeStash's clock: `advance` it to fire schedules and age snapshots.
    pub clock: SimClock,
    server: Arc<ApiServer>,
    client: kube::Client,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// A `kube::Client` for this cluster (admin token).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A client that sees every error as the server sent it (no automatic retries).
    pub async fn client_without_retries(&self) -> anyhow::Result<kube::Client> {
        client_from_kubeconfig_with(&self.kubeconfig_yaml, false).await
    }

    /// The request counters so far, by verb, resource and client.
    pub fn request_counts(&self) -> RequestCounts {
        self.server.metrics.snapshot()
    }

    pub fn reset_request_counts(&self) {
        self.server.metrics.reset();
    }

    /// The API server itself, for in-process access beyond [`ClusterState`].
    pub fn api_server(&self) -> &Arc<ApiServer> {
        &self.server
    }

    /// Writes the kubeconfig (it holds the cluster's bearer token) to a file only its owner reads.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        apiserver::persist::write_private(path, self.kubeconfig_yaml.as_bytes())
    }

    /// Stops serving, stops the operator and writes the state file one last time.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(s3) = self.s3 {
            s3.stop().await;
        }
        for t in self.tasks {
            let aborter = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .is_err()
            {
                aborter.abort();
            }
        }
    }
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
        .collect()
}

/// Builds a client from kubeconfig text (with kube's default retries of 429/503/504).
pub async fn client_from_kubeconfig(yaml: &str) -> anyhow::Result<kube::Client> {
    client_from_kubeconfig_with(yaml, true).await
}

/// Builds a client from kubeconfig text; `retries: false` turns off kube's default retry layer,
/// which otherwise hides injected 429/503/504 faults behind up to 15 backed-off retries.
pub async fn client_from_kubeconfig_with(
    yaml: &str,
    retries: bool,
) -> anyhow::Result<kube::Client> {
    let kc = kube::config::Kubeconfig::from_yaml(yaml).context("parsing kubeconfig")?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .context("loading kubeconfig")?;
    config.default_retry = retries;
    kube::Client::try_from(config).context("building kube client")
}

/// Reads every CRD in a directory (`.yaml`, `.yml`, `.json`, several documents per file allowed).
pub fn load_crd_dir(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading CRD directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .collect();
    files.sort();
    // YAML parsing dominates start-up; spread it over the cores.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let chunks: Vec<Vec<PathBuf>> = (0..workers)
        .map(|w| files.iter().skip(w).step_by(workers).cloned().collect())
        .collect();
    let results: Vec<anyhow::Result<Vec<Value>>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for path in chunk {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        for doc in serde_yaml::Deserializer::from_str(&text) {
                            let v: Value = serde::Deserialize::deserialize(doc)
                                .with_context(|| format!("parsing {}", path.display()))?;
                            if v.get("kind").and_then(Value::as_str)
                                == Some("CustomResourceDefinition")
                            {
                                out.push(v);
                            }
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("CRD loader thread panicked")))
            })
            .collect()
    });
    let mut crds = Vec::new();
    for r in results {
        crds.extend(r?);
    }
    Ok(crds)
}

/// Creates an object unless one with that name exists (cluster set-up).
fn ensure_object(srv: &ApiServer, group: &str, plural: &str, obj: Value) -> anyhow::Result<()> {
    let info = srv
        .registry
        .get(group, plural)
        .with_context(|| format!("resource {plural}.{group} is not served"))?;
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(String::from);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if srv.get(&info, ns.as_deref().unwrap_or(""), &name).is_ok() {
        return Ok(());
    }
    let version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|av| apiserver::state::split_api_version(av).1.to_string())
        .unwrap_or_else(|| info.storage_version().to_string());
    match srv.create(&info, &version, ns.as_deref(), obj, &Default::default()) {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(anyhow::anyhow!("installing {plural}.{group}/{name}: {e}")),
    }
}

/// Creates or replaces a CRD so the served schema is the current one.
fn install_crd(srv: &ApiServer, crd: Value) -> anyhow::Result<()> {
    let info = srv
        .registry
        .get("apiextensions.k8s.io", "customresourcedefinitions")
        .context("CRD resource missing")?;
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match srv.get(&info, "", &name) {
        Ok(existing) => {
            let mut crd = crd;
            crd["metadata"]["resourceVersion"] =
                json!(apiserver::store::rv_of(&existing).to_string());
            srv.update(&info, "v1", "", &name, crd, false, &Default::default())
                .map_err(|e| anyhow::anyhow!("updating CRD {name}: {e}"))?;
        }
        Err(_) => {
            srv.create(&info, "v1", None, crd, &Default::default())
                .map_err(|e| anyhow::anyhow!("creating CRD {name}: {e}"))?;
        }
    }
    Ok(())
}

/// Installs CRDs, namespaces, the default StorageClass, Nodes and the KubeDB catalog.
fn bootstrap(srv: &ApiServer, config: &SimConfig) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    let crds: Vec<Value> = match &config.crds_dir {
        Some(dir) => load_crd_dir(dir)?,
        None => provider::kubedb::crds()
            .into_iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?,
    };
    for crd in crds {
        install_crd(srv, crd)?;
    }
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kubedb",
    ] {
        ensure_object(
            srv,
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
    }
    ensure_object(
        srv,
        "",
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443, "protocol": "TCP"}]}}),
    )?;
    ensure_object(
        srv,
        "storage.k8s.io",
        "storageclasses",
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
               "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true}),
    )?;
    let n = &config.nodes;
    for i in 0..n.count {
        let capacity = json!({"cpu": n.cpu, "memory": n.memory, "ephemeral-storage": n.ephemeral_storage, "pods": n.pods});
        ensure_object(
            srv,
            "",
            "nodes",
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": format!("sim-node-{}", i + 1), "labels": {"kubernetes.io/hostname": format!("sim-node-{}", i + 1), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": format!("zone-{}", (i % 3) + 1)}},
                   "spec": {"podCIDR": format!("10.244.{i}.0/24")},
                   "status": {"capacity": capacity, "allocatable": capacity,
                              "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
                              "addresses": [{"type": "InternalIP", "address": format!("172.18.0.{}", i + 2)}, {"type": "Hostname", "address": format!("sim-node-{}", i + 1)}],
                              "nodeInfo": {"kubeletVersion": "v1.33.0", "architecture": "amd64", "operatingSystem": "linux", "containerRuntimeVersion": "containerd://2.0.0", "osImage": "simulated", "kernelVersion": "6.0.0", "kubeProxyVersion": "v1.33.0", "machineID": "", "systemUUID": "", "bootID": ""}}}),
        )?;
    }
    for obj in catalog::catalog_objects() {
        let av = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let group = apiserver::state::split_api_version(&av).0.to_string();
        let Some(info) = srv
            .registry
            .all()
            .into_iter()
            .find(|r| r.group == group && r.kind == kind)
        else {
            tracing::warn!(%kind, %group, "catalog kind not served; skipped");
            continue;
        };
        // A catalog object the served schema rejects is reported, not fatal: the rest of the
        // cluster is still useful, and tests assert the list is empty.
        if let Err(e) = ensure_object(srv, &group, &info.plural, obj) {
            tracing::warn!(error = %e, "catalog object rejected");
            warnings.push(e.to_string());
        }
    }
    Ok(warnings)
}

/// Starts the simulated cluster and returns once it is serving.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let token = config.token.clone().unwrap_or_else(random_token);
    let operator_token = random_token();
    let faults = Arc::new(Faults::new(config.faults.clone()));
    let tokens = HashMap::from([
        (token.clone(), "admin".to_string()),
        (operator_token.clone(), "kubedb-operator".to_string()),
    ]);
    let mut server = ApiServer::new(tokens, faults.clone());
    server.store = Arc::new(apiserver::store::Store::new(config.watch_history));
    server.bookmark_interval = config.bookmark_interval;
    let server = server.into_arc();

    if let Some(path) = &config.state_file {
        let n = apiserver::persist::load(&server, path)?;
        tracing::info!(objects = n, path = %path.display(), "loaded state file");
    }
    let bootstrap_warnings = bootstrap(&server, &config)?;
    server.set_admission(Arc::new(webhooks::KubeDbAdmission::new(server.state())));
    server.set_proxy(Arc::new(exporters::Exporters::new(server.state())));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let host = addr.ip().to_string();
    let (scheme, tls) = if config.tls {
        let mut hosts = vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "::1".to_string(),
        ];
        if !hosts.contains(&host) && !addr.ip().is_unspecified() {
            hosts.push(host.clone());
        }
        ("https", Some(apiserver::tls::generate(&hosts)?))
    } else {
        ("http", None)
    };
    let connect_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        host
    };
    let connect_host = if connect_host.contains(':') {
        format!("[{connect_host}]")
    } else {
        connect_host
    };
    let url = format!("{scheme}://{connect_host}:{}", addr.port());
    let ca = tls.as_ref().map(|t| t.ca_pem.clone());
    let kubeconfig_yaml = apiserver::tls::kubeconfig(&url, ca.as_deref(), Some(&token));
    let operator_kubeconfig =
        apiserver::tls::kubeconfig(&url, ca.as_deref(), Some(&operator_token));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let app = apiserver::http::router(server.clone(), format!("{connect_host}:{}", addr.port()));
    let mut tasks = vec![tokio::spawn(apiserver::listener::serve(
        listener,
        tls.map(|t| t.config),
        app,
        shutdown_rx.clone(),
    ))];
    if let Some(path) = &config.state_file {
        tasks.push(apiserver::persist::spawn_saver(
            server.clone(),
            path.clone(),
            Duration::from_millis(500),
            shutdown_rx.clone(),
        ));
    }
    let client = client_from_kubeconfig(&kubeconfig_yaml).await?;
    let s3 = match config.s3.clone() {
        Some(c) => Some(s3::start_with_faults(c, Some(faults.clone())).await?),
        None => None,
    };
    let clock = config.clock.clone().unwrap_or_default();
    if config.run_operator && config.kubestash.enabled {
        let ks_client = client_from_kubeconfig(&operator_kubeconfig).await?;
        let ks_config = config.kubestash.clone();
        let ks_faults = faults.clone();
        let ks_clock = clock.clone();
        let mut stop = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                r = kubestash::run(ks_client, ks_config, ks_faults, ks_clock) => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "simulated KubeStash stopped");
                    }
                }
                _ = stop.changed() => {}
            }
        }));
    }
    if config.run_operator {
        let op_client = client_from_kubeconfig(&operator_kubeconfig).await?;
        let op_config = config.operator;
        let op_faults = faults.clone();
        let mut stop = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                r = operator::run(op_client, op_config, op_faults) => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "simulated operator stopped");
                    }
                }
                _ = stop.changed() => {}
            }
        }));
    }
    Ok(SimHandle {
        url,
        kubeconfig_yaml,
        token,
        state: server.state(),
        faults,
        bootstrap_warnings,
        s3,
        clock,
        server,
        client,
        shutdown_tx,
        tasks,
    })
}
