//! Shared by the benchmarks: the load generator ([`load`]), login, readiness, and process memory.
#![allow(dead_code)]

mod load;
// Not every benchmark generates load.
#[allow(unused_imports)]
pub use load::{load, load_watching, LoadResult, Second, Watch};

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;

pub const SECRET: &str = "bench-secret-key-0123456789abcdef0123456789";
pub const ADMIN: (&str, &str) = ("bench-admin@example.com", "bench-admin-password");

pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut c) = Conn::open(addr).await {
            if let Ok((200, _)) = c.get("/health/ready", None).await {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    anyhow::bail!("server did not become ready")
}

pub async fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let body = json!({"email": ADMIN.0, "password": ADMIN.1}).to_string();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post("/api/v1/auth/login")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(body)))?;
    let resp = send.send_request(req).await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(v["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login failed: {v}"))?
        .to_string())
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn(hyper::client::conn::http1::SendRequest<Empty<Bytes>>);

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Conn(send))
    }

    pub async fn get(&mut self, path: &str, auth: Option<&str>) -> anyhow::Result<(u16, usize)> {
        self.0.ready().await?;
        let mut req = hyper::Request::get(path).header("host", "localhost");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = self.0.send_request(req.body(Empty::new())?).await?;
        let status = resp.status().as_u16();
        let n = resp.into_body().collect().await?.to_bytes().len();
        Ok((status, n))
    }
}

pub fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Starts the real `dbaas serve` on `addr`: SQLite under `data_dir` unless `url` is `postgres://…`;
/// `extra` environment variables last.
pub fn spawn_server(
    bin: &str,
    url: &str,
    data_dir: &Path,
    addr: SocketAddr,
    extra: &[(&str, &str)],
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DBAAS_LISTEN", addr.to_string())
        .env("DBAAS_DATA_DIR", data_dir)
        .env("DBAAS_SECRET_KEY", SECRET)
        .env("DBAAS_ADMIN_EMAIL", ADMIN.0)
        .env("DBAAS_ADMIN_PASSWORD", ADMIN.1)
        .env("DBAAS_RATE_LIMIT_PER_MINUTE", "1000000000")
        .env_remove("DBAAS_REDIS_URL")
        .stdout(Stdio::null());
    // `BENCH_LOG=DIR`: each server's log (info) in DIR, for a run that needs explaining.
    match std::env::var_os("BENCH_LOG") {
        Some(dir) => {
            let file =
                std::fs::File::create(Path::new(&dir).join(format!("server-{}.log", addr.port())))?;
            cmd.env("DBAAS_LOG", "info").stderr(file);
        }
        None => {
            cmd.env("DBAAS_LOG", "warn").stderr(Stdio::null());
        }
    }
    if url.starts_with("postgres") {
        cmd.env("DBAAS_DATABASE_URL", url);
    } else {
        cmd.env_remove("DBAAS_DATABASE_URL");
    }
    cmd.envs(extra.iter().copied());
    Ok(cmd.spawn()?)
}

/// With `BENCH_LOG=DIR`, the in-process simulated cluster logs (info, or `RUST_LOG`) to
/// DIR/sim.log.
pub fn init_bench_log() -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os("BENCH_LOG") else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::File::create(Path::new(&dir).join("sim.log"))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}
