//! Security regressions: hardening of the HTTP listener (slowloris, connection floods), of the
//! unauthenticated `/metrics` (label cardinality), and of the files under the data directory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_stores;
use crate::common::*;

/// Generous: these tests run beside full builds on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

async fn connect(ts: &TestServer) -> TcpStream {
    TcpStream::connect(ts.running.addr).await.expect("connect")
}

/// Reads until the peer closes (EOF or reset); returns how long that took, or None at the deadline.
async fn wait_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    closed.ok().map(|()| started.elapsed())
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its head.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + len {
                return head;
            }
        }
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(n > 0, "connection closed before a whole response");
        data.extend_from_slice(&buf[..n]);
    }
}

const GET_LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_request_head_is_closed_after_the_header_timeout() {
    let ts = TestServer::start_with(Backend::Sqlite, |c| {
        c.header_read_timeout_secs = 2;
        c.idle_timeout_secs = 600;
    })
    .await;
    // The slowloris attack: a head that never ends, one byte at a time.
    let mut stream = connect(&ts).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let trickle = tokio::spawn(async move {
        while wr.write_all(b"X").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a connection trickling its request head stayed open for {DEADLINE:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );
    trickle.abort();

    // A connection that sends nothing at all is closed the same way.
    let mut silent = connect(&ts).await;
    assert!(wait_closed(&mut silent, DEADLINE).await.is_some());

    // Normal requests are unaffected, and the closes are counted.
    let (s, _) = ts.call(Method::GET, "/health/live", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let metrics = ts.metrics().await;
    let closed_by_timeout = metrics
        .lines()
        .find(|l| l.starts_with("dbaas_http_connections_closed_total{reason=\"header_timeout\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(closed_by_timeout >= 2.0, "{metrics}");
    ts.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let ts = TestServer::start_with(Backend::Sqlite, |c| {
        c.header_read_timeout_secs = 600;
        c.idle_timeout_secs = 2;
    })
    .await;
    let mut stream = connect(&ts).await;
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        stream.write_all(GET_LIVE).await.unwrap();
        let head = read_response(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let took = wait_closed(&mut stream, DEADLINE)
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(
        took >= Duration::from_millis(1500),
        "closed before the idle timeout: {took:?}"
    );
    let metrics = ts.metrics().await;
    assert!(
        metrics.contains("dbaas_http_connections_closed_total{reason=\"idle_timeout\"}"),
        "{metrics}"
    );
    ts.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_others_close() {
    let ts = TestServer::start_with(Backend::Sqlite, |c| {
        c.max_connections = 2;
        c.header_read_timeout_secs = 600;
        c.idle_timeout_secs = 600;
    })
    .await;
    // Two connections take both slots (one idle after a request, one silent).
    let mut first = connect(&ts).await;
    first.write_all(GET_LIVE).await.unwrap();
    read_response(&mut first).await;
    let second = connect(&ts).await;
    // The third connects (the kernel's backlog accepts it) but is not served.
    let mut third = connect(&ts).await;
    third.write_all(GET_LIVE).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a connection over the cap was served: {early:?}"
    );
    // A slot frees: the waiting connection is served.
    drop(second);
    let head = tokio::time::timeout(DEADLINE, read_response(&mut third))
        .await
        .expect("the waiting connection was served once a slot freed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(first);
    drop(third);
    // Normal requests work again, and the gauge shows the connections open now.
    let until = Instant::now() + DEADLINE;
    loop {
        let metrics = ts.metrics().await;
        let open = metrics
            .lines()
            .find(|l| l.starts_with("dbaas_http_open_connections "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .expect("the open-connections gauge");
        assert!(open <= 2.0, "{open} connections open over a cap of 2");
        if open <= 1.0 {
            break;
        }
        assert!(Instant::now() < until, "closed connections still counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin = ts.admin_token().await;
    let (s, _) = ts.get("/api/v1/auth/me", &admin).await;
    assert_eq!(s, StatusCode::OK);
    ts.running.shutdown().await;
}

fn random_token(rng: &mut impl Rng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..12)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// Every `name{label="value",…}` of the Prometheus text, as (name, label, value).
fn labels(metrics: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((inner, _)) = rest.rsplit_once('}') else {
            continue;
        };
        for pair in inner.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
            out.push((
                name.to_string(),
                k.to_string(),
                v.trim_end_matches('"').to_string(),
            ));
        }
    }
    out
}

both_stores!(metrics_labels_stay_in_known_sets, |backend| async move {
    let ts = TestServer::start(backend).await;
    let mut rng = rand::thread_rng();
    let mut sent = vec!["FOOBAR".to_string()];
    for _ in 0..1000 {
        sent.push(random_token(&mut rng));
    }
    for (i, method) in sent.iter().enumerate() {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        // Made-up methods on real routes, on unknown paths that carry the token too.
        let path = if i % 2 == 0 {
            "/api/v1/auth/login".to_string()
        } else {
            format!("/api/v1/{}", method.to_lowercase())
        };
        let resp = ts.http.request(m, ts.url(&path)).send().await.unwrap();
        assert!(
            resp.status().is_client_error(),
            "{method} {path}: {}",
            resp.status()
        );
    }
    let metrics = ts.metrics().await;
    let methods: BTreeSet<&str> = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other",
    ]
    .into_iter()
    .collect();
    let mut series = BTreeSet::new();
    for (name, label, value) in labels(&metrics) {
        for token in &sent {
            assert!(
                !value.to_uppercase().contains(token.as_str()),
                "request text became a label value: {name}{{{label}=\"{value}\"}}"
            );
        }
        match label.as_str() {
            "method" => assert!(methods.contains(value.as_str()), "method label {value}"),
            "route" => assert!(
                value == "unmatched" || value.starts_with('/'),
                "route label {value}"
            ),
            "status" => assert!(
                value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()),
                "status label {value}"
            ),
            _ => {}
        }
        series.insert(value);
    }
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(metrics.contains("route=\"unmatched\""), "{metrics}");
    // 1,001 made-up methods and 500 made-up paths added a handful of label values, not thousands.
    assert!(
        series.len() < 100,
        "{} label values: {series:?}",
        series.len()
    );
    ts.running.shutdown().await;
});

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_and_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // An existing directory and key file left world-readable by an older version.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = data.join("secret.key");
    std::fs::write(&key, "a".repeat(64)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let mut config = base_config(data.clone());
    config.demo = true;
    let running = server::start(config).await.expect("server starts");
    // Demo state is written at shutdown too: every file the server makes now exists.
    running.shutdown().await;

    assert_eq!(mode(&data), 0o700, "data directory");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        names.push(path.file_name().unwrap().to_string_lossy().to_string());
        // Directories (the demo's S3 buckets) are owner-only too.
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            mode(&path),
            want,
            "{} is readable by others",
            path.display()
        );
    }
    for expected in ["secret.key", "dbaas.db", "demo-cluster.json"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    // The state file holds the demo's secrets: its mode survives a restart's rewrite.
    let mut config = base_config(data.clone());
    config.demo = true;
    let running = server::start(config).await.expect("server restarts");
    running.shutdown().await;
    assert_eq!(mode(&data.join("demo-cluster.json")), 0o600);
    assert_eq!(mode(&data.join("dbaas.db")), 0o600);
}
