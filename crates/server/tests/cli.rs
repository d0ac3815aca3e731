//! The `dbaas` client subcommands end to end: the real binary, run as a user would run it, against
//! `dbaas serve --demo` (a simulated KubeDB cluster onboarded, tenant `demo`, project `default`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "cli-admin-password-1";
const ADMIN: &str = "admin@dbaas.local";

struct Demo {
    server: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new(env!("CARGO_BIN_EXE_dbaas"))
            .args(["serve", "--demo"])
            .env("DBAAS_DATA_DIR", dir.path().join("server"))
            .env("DBAAS_LISTEN", format!("127.0.0.1:{port}"))
            .env("DBAAS_ADMIN_PASSWORD", PASSWORD)
            .env("DBAAS_DEMO_PROVISIONING_SECS", "1")
            .env("DBAAS_LOG", "warn")
            .env_remove("DBAAS_DATABASE_URL")
            .env_remove("DBAAS_REDIS_URL")
            .env_remove("DBAAS_ADMIN_EMAIL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbaas serve starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Demo {
            server,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("client").join("config.yaml")
    }

    /// Runs `dbaas ARGS` as a user of this server's client configuration.
    fn dbaas(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_dbaas"))
            .args(args)
            .env("DBAAS_CONFIG", self.config())
            .env("DBAAS_PASSWORD", PASSWORD)
            .env("NO_COLOR", "1")
            .env_remove("DBAAS_CONTEXT")
            .env_remove("DBAAS_DOMAIN")
            .env_remove("DBAAS_PROJECT")
            .env_remove("DBAAS_SERVER")
            .env_remove("DBAAS_EMAIL")
            .env_remove("DBAAS_API_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("dbaas runs");
        eprintln!(
            "$ dbaas {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `dbaas ARGS`, which must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dbaas(args);
        assert!(
            out.status.success(),
            "dbaas {} failed ({:?}):\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `dbaas ARGS -o json`, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let text = self.ok(&args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

fn saved(config: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(config).unwrap()).unwrap()
}

async fn api(base: &str, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_first_session_against_the_demo() {
    let demo = Demo::start();
    let wait = ["--wait", "--timeout", "600"];

    // Login with a password (DBAAS_PASSWORD), defaults for the project; the file is private.
    demo.ok(&[
        "login",
        "--server",
        &demo.base,
        "--email",
        ADMIN,
        "--domain",
        "demo",
        "--project",
        "default",
    ]);
    assert_private(&demo.config());
    let cfg = saved(&demo.config());
    let ctx_name = cfg["current_context"].as_str().unwrap().to_string();
    let token = cfg["contexts"][&ctx_name]["access_token"]
        .as_str()
        .expect("the access token is saved")
        .to_string();
    let me = demo.json(&["whoami"]);
    assert_eq!(me["email"], ADMIN);

    // An access token the server refuses is renewed with the refresh token, and saved.
    let text = std::fs::read_to_string(demo.config()).unwrap();
    std::fs::write(demo.config(), text.replace(&token, "expired-or-revoked")).unwrap();
    assert_eq!(demo.json(&["whoami"])["email"], ADMIN);
    let token = saved(&demo.config())["contexts"][&ctx_name]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(token, "expired-or-revoked");

    // A dry run sends nothing.
    let plan = demo.json(&[
        "db",
        "create",
        "orders",
        "--engine",
        "postgres",
        "--version",
        "16.10",
        "--dry-run",
    ]);
    assert_eq!(plan["method"], "POST");
    assert_eq!(plan["body"]["name"], "orders");
    assert_eq!(demo.json(&["db", "list"]), json!([]));

    // Create and wait until it runs.
    let mut args = vec![
        "db",
        "create",
        "orders",
        "--engine",
        "postgres",
        "--version",
        "16.10",
    ];
    args.extend(wait);
    let db = demo.json(&args);
    assert_eq!(db["name"], "orders");
    assert_eq!(db["status"], "running", "{db}");

    // The listing, as a table and as JSON.
    let table = demo.ok(&["db", "list"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("NAME") && header.contains("STATUS"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("orders"))
        .expect("a row for orders");
    assert!(row.contains("postgres") && row.contains("running"), "{row}");
    let list = demo.json(&["db", "list"]);
    let list = list.as_array().expect("an array of databases");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], db["id"]);

    // Credentials.
    let creds = demo.json(&["db", "credentials", "orders"]);
    assert!(
        creds["connection_string"]
            .as_str()
            .unwrap()
            .starts_with("postgresql://"),
        "{creds}"
    );

    // Rotating the credentials gives a new password, and the old one is gone.
    let mut args = vec!["db", "rotate-credentials", "orders"];
    args.extend(wait);
    assert_eq!(demo.json(&args)["status"], "running");
    let rotated = demo.json(&["db", "credentials", "orders"]);
    assert_ne!(rotated["password"], creds["password"], "{rotated}");
    assert_eq!(rotated["username"], creds["username"], "{rotated}");

    // Scale, pause and resume, each followed to its end.
    let mut args = vec!["db", "scale", "orders", "--size", "db.t3.small"];
    args.extend(wait);
    let scaled = demo.json(&args);
    assert_eq!(scaled["size"], "db.t3.small");
    assert_eq!(scaled["current"]["size"], "db.t3.small", "{scaled}");
    assert_eq!(scaled["status"], "running");
    let mut args = vec!["db", "pause", "orders"];
    args.extend(wait);
    assert_eq!(demo.json(&args)["status"], "paused");
    let mut args = vec!["db", "resume", "orders"];
    args.extend(wait);
    assert_eq!(demo.json(&args)["status"], "running");
    let ops = demo.json(&["ops", "list", "--database-id", db["id"].as_str().unwrap()]);
    let types: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    for t in ["create", "rotate_auth", "scale_vertical", "pause", "resume"] {
        assert!(types.contains(&t), "{types:?}");
    }

    // A refused request: the server's message and code on stderr, exit code 1.
    let refused = demo.dbaas(&[
        "db",
        "create",
        "huge",
        "--engine",
        "postgres",
        "--version",
        "16.10",
        "--storage-gb",
        "5000",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let same = api(
        &demo.base,
        reqwest::Method::POST,
        "/api/v1/domain/demo/project/default/databases",
        &token,
        json!({"name": "huge", "engine": "postgres", "version": "16.10", "storage_gb": 5000}),
    )
    .await;
    assert_eq!(same["error"]["code"], "quota_exceeded", "{same}");
    let message = same["error"]["message"].as_str().unwrap();
    assert!(stderr.contains(message), "{stderr}");
    assert!(
        stderr.contains("quota_exceeded") && stderr.contains("403"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "nothing on stdout for a refusal");

    // Usage errors are clap's: exit code 2.
    assert_eq!(
        demo.dbaas(&["db", "create", "orders"]).status.code(),
        Some(2)
    );

    // An API key signs in as well, into a second context.
    let key = api(
        &demo.base,
        reqwest::Method::POST,
        "/api/v1/auth/api-keys",
        &token,
        json!({"name": "cli-test", "scopes": ["read", "write"]}),
    )
    .await;
    let key = key["key"].as_str().expect("the new key").to_string();
    demo.ok(&[
        "login",
        "--server",
        &demo.base,
        "--api-key",
        &key,
        "--name",
        "with-key",
        "--domain",
        "demo",
        "--project",
        "default",
    ]);
    let contexts = demo.json(&["context", "list"]);
    let contexts = contexts.as_array().unwrap();
    assert_eq!(contexts.len(), 2, "{contexts:?}");
    let current: Vec<&Value> = contexts.iter().filter(|c| c["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["name"], "with-key");
    assert_eq!(current[0]["auth"], "api-key");
    let via_key = demo.json(&["db", "get", "orders"]);
    assert_eq!(via_key["id"], db["id"]);
    assert!(!std::fs::read_to_string(demo.config())
        .unwrap()
        .contains(PASSWORD));

    // Back to the password context. `events --follow` prints what happens next, as it happens.
    demo.ok(&["context", "use", &ctx_name]);
    let mut follow = Command::new(env!("CARGO_BIN_EXE_dbaas"))
        .args(["db", "events", "orders", "--follow", "--limit", "3"])
        .env("DBAAS_CONFIG", demo.config())
        .env_remove("DBAAS_CONTEXT")
        .env_remove("DBAAS_DOMAIN")
        .env_remove("DBAAS_PROJECT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut args = vec!["db", "restart", "orders"];
    args.extend(wait);
    assert_eq!(demo.json(&args)["status"], "running");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("restart completed"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("--follow never printed the restart: {seen:#?}"),
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();

    // Delete and wait until it is gone.
    let mut args = vec!["db", "delete", "orders"];
    args.extend(wait);
    let deleted = demo.json(&args);
    assert_eq!(deleted["status"], "deleted", "{deleted}");
    assert_eq!(demo.json(&["db", "list"]), json!([]));
    let gone = demo.dbaas(&["db", "get", "orders"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));

    demo.ok(&["context", "delete", "with-key"]);
    assert_eq!(demo.json(&["context", "list"]).as_array().unwrap().len(), 1);
    assert_private(&demo.config());
}

/// The client's configuration holds tokens: only its owner may read it, after every rewrite.
fn assert_private(config: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the config file is private");
    }
}

#[test]
fn completion_scripts_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_dbaas"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("dbaas") && text.contains("credentials"),
            "{shell}"
        );
    }
}

#[test]
fn without_a_login_commands_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dbaas"))
        .args(["db", "list"])
        .env("DBAAS_CONFIG", dir.path().join("none.yaml"))
        .env_remove("DBAAS_CONTEXT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dbaas login"));
}

/// The README's CLI session (between its `cli-session` markers), replayed with bash as typed.
#[test]
fn readme_cli_session_works() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- cli-session:start -->")
        .expect("README has a CLI session");
    let end = readme.find("<!-- cli-session:end -->").expect("end marker");
    let block = &readme[start..end];
    let code_start = block.find("```bash\n").expect("a bash block") + "```bash\n".len();
    let code_end = block[code_start..].find("```").expect("closed block") + code_start;
    let script = &block[code_start..code_end];

    let demo = Demo::start();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dbaas")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["900", "bash", "-euo", "pipefail", "-c", script])
        .env("PATH", path)
        .env("BASE", &demo.base)
        .env("DBAAS_CONFIG", demo.config())
        .env("DBAAS_PASSWORD", PASSWORD)
        .env_remove("DBAAS_CONTEXT")
        .env_remove("DBAAS_DOMAIN")
        .env_remove("DBAAS_PROJECT")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's CLI session failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("postgresql://"), "{stdout}");
    assert!(stdout.contains("orders"), "{stdout}");
    assert!(stderr.contains("delete"), "{stderr}");
}
