//! `dbaas sim`: run the simulated cluster, or (`dbaas sim operator`) only the simulated KubeDB
//! operator against any API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::faults::{ApiFault, FaultKind, FaultSettings, Faults};
use crate::s3::{DEFAULT_ACCESS_KEY, DEFAULT_BUCKET, DEFAULT_REGION, DEFAULT_SECRET_KEY};
use crate::{KubeStashConfig, NodeConfig, OperatorConfig, S3ServerConfig, SimClock, SimConfig};

/// "3s", "500ms", "2m", or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `KEY=VALUE` pairs for the repeatable fault flags.
fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

fn parse_fault_kind(s: &str) -> Result<FaultKind, String> {
    match s {
        "server_error" | "500" => Ok(FaultKind::ServerError),
        "too_many_requests" | "429" => Ok(FaultKind::TooManyRequests),
        "timeout" => Ok(FaultKind::Timeout),
        "drop" => Ok(FaultKind::Drop),
        _ => Err(format!(
            "unknown fault kind {s:?} (server_error, too_many_requests, timeout, drop)"
        )),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "sim",
    about = "Run a simulated Kubernetes cluster with a simulated KubeDB operator"
)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    /// Address to serve the Kubernetes API on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Write a kubeconfig for the cluster (CA + token) to this file.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Load CRDs from this directory (e.g. ../shared/kubedb-crds) instead of the generated ones.
    #[arg(long)]
    pub crds: Option<PathBuf>,
    /// Keep every object in this file across restarts.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub plain_http: bool,
    /// Bearer token clients must present (random when absent).
    #[arg(long, env = "DBAAS_SIM_TOKEN")]
    pub token: Option<String>,
    /// How long databases stay Provisioning.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub provisioning_delay: Duration,
    /// How long each OpsRequest step takes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_delay: Duration,
    /// Number of Nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Allocatable CPU per Node.
    #[arg(long, default_value = "8")]
    pub node_cpu: String,
    /// Allocatable memory per Node.
    #[arg(long, default_value = "32Gi")]
    pub node_memory: String,
    /// Do not run the simulated operator in-process.
    #[arg(long)]
    pub no_operator: bool,
    /// Added latency for every API request (ms).
    #[arg(long, default_value_t = 0)]
    pub fault_latency_ms: u64,
    /// Fraction of API requests that fail (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_error_rate: f64,
    /// How failing requests fail: server_error, too_many_requests, timeout, drop.
    #[arg(long, default_value = "server_error", value_parser = parse_fault_kind)]
    pub fault_kind: FaultKind,
    /// Limit the latency/error fault to one verb (get, list, watch, create, update, patch, delete).
    #[arg(long)]
    pub fault_verb: Option<String>,
    /// Limit the latency/error fault to one resource (plural or plural.group).
    #[arg(long)]
    pub fault_resource: Option<String>,
    /// Cut every watch stream after this many seconds.
    #[arg(long)]
    pub cut_watches_after_secs: Option<u64>,
    /// Force a database phase: `namespace/name=Critical` (repeatable).
    #[arg(long = "force-db-phase", value_parser = parse_pair)]
    pub force_db_phase: Vec<(String, String)>,
    /// Fail an OpsRequest: `namespace/name=reason` or `*=reason` (repeatable).
    #[arg(long = "fail-ops-request", value_parser = parse_pair)]
    pub fail_ops_request: Vec<(String, String)>,
    /// Run an embedded S3 server keeping its buckets in this directory.
    #[arg(long)]
    pub s3_dir: Option<PathBuf>,
    /// Address of the embedded S3 server.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub s3_listen: SocketAddr,
    /// Access key of the embedded S3 server.
    #[arg(long, default_value = DEFAULT_ACCESS_KEY)]
    pub s3_access_key: String,
    /// Secret key of the embedded S3 server.
    #[arg(long, env = "DBAAS_SIM_S3_SECRET_KEY", default_value = DEFAULT_SECRET_KEY, hide_env_values = true)]
    pub s3_secret_key: String,
    /// A bucket to create at start (repeatable).
    #[arg(long = "s3-bucket", default_values_t = [DEFAULT_BUCKET.to_string()])]
    pub s3_bucket: Vec<String>,
    /// How long each step of a simulated backup or restore takes.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub backup_step_delay: Duration,
    /// Trigger one backup right after a BackupConfiguration becomes Ready.
    #[arg(long)]
    pub backup_on_ready: bool,
    /// Fail the backups of a BackupConfiguration: `namespace/name=reason` or `*=reason` (repeatable).
    #[arg(long = "fail-backup", value_parser = parse_pair)]
    pub fail_backup: Vec<(String, String)>,
    /// The embedded S3 server answers 503 to everything.
    #[arg(long)]
    pub s3_unavailable: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Run only the simulated KubeDB operator against the API server in a kubeconfig.
    Operator(OperatorArgs),
}

#[derive(Debug, clap::Args)]
pub struct OperatorArgs {
    #[arg(long)]
    pub kubeconfig: PathBuf,
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub provisioning_delay: Duration,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub step_delay: Duration,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub backup_step_delay: Duration,
}

impl SimArgs {
    pub fn fault_settings(&self) -> FaultSettings {
        let mut s = FaultSettings::default();
        if self.fault_latency_ms > 0 || self.fault_error_rate > 0.0 {
            s.api.push(ApiFault {
                verb: self.fault_verb.clone(),
                resource: self.fault_resource.clone(),
                latency_ms: self.fault_latency_ms,
                error_rate: self.fault_error_rate,
                error: Some(self.fault_kind),
            });
        }
        s.cut_watches_after_secs = self.cut_watches_after_secs;
        s.force_db_phase = self.force_db_phase.iter().cloned().collect();
        s.fail_ops_requests = self.fail_ops_request.iter().cloned().collect();
        s.fail_backups = self.fail_backup.iter().cloned().collect();
        s.s3_unavailable = self.s3_unavailable;
        s
    }

    pub fn s3_config(&self) -> Option<S3ServerConfig> {
        self.s3_dir.as_ref().map(|dir| S3ServerConfig {
            root: dir.clone(),
            listen: self.s3_listen,
            access_key: self.s3_access_key.clone(),
            secret_key: self.s3_secret_key.clone(),
            region: DEFAULT_REGION.into(),
            buckets: self.s3_bucket.clone(),
        })
    }

    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            listen: self.listen,
            tls: !self.plain_http,
            token: self.token.clone(),
            crds_dir: self.crds.clone(),
            state_file: self.state_file.clone(),
            operator: OperatorConfig {
                provisioning_delay: self.provisioning_delay,
                step_delay: self.step_delay,
            },
            run_operator: !self.no_operator,
            faults: self.fault_settings(),
            nodes: NodeConfig {
                count: self.nodes,
                cpu: self.node_cpu.clone(),
                memory: self.node_memory.clone(),
                ..NodeConfig::default()
            },
            s3: self.s3_config(),
            kubestash: KubeStashConfig {
                backup_step_delay: self.backup_step_delay,
                backup_on_ready: self.backup_on_ready,
                ..KubeStashConfig::default()
            },
            ..SimConfig::default()
        }
    }
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    if let Some(SimCommand::Operator(op)) = &args.command {
        let yaml = std::fs::read_to_string(&op.kubeconfig)
            .with_context(|| format!("reading {}", op.kubeconfig.display()))?;
        let client = crate::client_from_kubeconfig(&yaml).await?;
        let config = OperatorConfig {
            provisioning_delay: op.provisioning_delay,
            step_delay: op.step_delay,
        };
        let faults = Arc::new(Faults::new(FaultSettings::default()));
        let kubestash = KubeStashConfig {
            backup_step_delay: op.backup_step_delay,
            ..KubeStashConfig::default()
        };
        let (op, ks) = futures::future::join(
            crate::operator::run(client.clone(), config, faults.clone()),
            crate::kubestash::run(client, kubestash, faults, SimClock::new()),
        )
        .await;
        return op.and(ks);
    }
    let handle = crate::start(args.sim_config()).await?;
    if let Some(path) = &args.kubeconfig_out {
        handle
            .write_kubeconfig(path)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("kubeconfig written to {}", path.display());
    }
    println!("simulated cluster serving at {}", handle.url);
    if let Some(s3) = &handle.s3 {
        // the operator of a local simulated cluster needs these to create the backup secret
        println!(
            "embedded S3 serving at {} (region {}, access key {}, secret key {}, data in {})",
            s3.url,
            s3.region,
            s3.access_key,
            s3.secret_key,
            s3.root.display()
        );
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = SimArgs::try_parse_from([
            "sim",
            "--listen",
            "127.0.0.1:7000",
            "--plain-http",
            "--provisioning-delay",
            "500ms",
            "--fault-error-rate",
            "0.5",
            "--fault-kind",
            "429",
            "--force-db-phase",
            "demo/pg=Critical",
        ])
        .unwrap();
        let cfg = args.sim_config();
        assert!(!cfg.tls);
        assert_eq!(cfg.operator.provisioning_delay, Duration::from_millis(500));
        assert_eq!(cfg.faults.api[0].error, Some(FaultKind::TooManyRequests));
        assert_eq!(cfg.faults.force_db_phase["demo/pg"], "Critical");
        assert!(cfg.s3.is_none());
        let s3 = SimArgs::try_parse_from([
            "sim",
            "--s3-dir",
            "/tmp/s3",
            "--s3-bucket",
            "a-bucket",
            "--s3-bucket",
            "b-bucket",
            "--fail-backup",
            "*=disk full",
        ])
        .unwrap()
        .sim_config();
        let s3c = s3.s3.expect("s3 on");
        assert_eq!(s3c.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s3c.buckets, vec!["a-bucket", "b-bucket"]);
        assert_eq!(s3c.access_key, DEFAULT_ACCESS_KEY);
        assert_eq!(s3.faults.fail_backups["*"], "disk full");
        let op = SimArgs::try_parse_from(["sim", "operator", "--kubeconfig", "/tmp/k"]).unwrap();
        assert!(matches!(op.command, Some(SimCommand::Operator(_))));
        assert!(parse_duration("2x").is_err());
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
    }
}
