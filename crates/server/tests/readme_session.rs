//! Replays the README's demo session (between its `demo-session` markers) with bash and curl
//! against `dbaas serve --demo`, as a new user would type it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "readme-admin-password";

fn session() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- demo-session:start -->")
        .expect("README has a demo session");
    let end = readme
        .find("<!-- demo-session:end -->")
        .expect("end marker");
    let block = &readme[start..end];
    let code_start = block.find("```bash\n").expect("a bash block") + "```bash\n".len();
    let code_end = block[code_start..].find("```").expect("closed block") + code_start;
    block[code_start..code_end].to_string()
}

#[test]
fn readme_demo_session_works() {
    let script = session();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_dbaas"))
        .args(["serve", "--demo"])
        .env("DBAAS_DATA_DIR", dir.path())
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
        .expect("dbaas starts");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new("timeout")
        .args(["180", "bash", "-euo", "pipefail", "-c", &script])
        .env("BASE", &base)
        .env("DBAAS_ADMIN_PASSWORD", PASSWORD)
        .output()
        .expect("bash runs");
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README session failed:\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("postgresql://"),
        "credentials printed: {stdout}"
    );
    for day2 in [
        "scale_vertical",
        "expand_storage",
        "pause",
        "resume",
        "paused → resuming",
        "manual succeeded",
        "cloned",
    ] {
        assert!(stdout.contains(day2), "{day2} in: {stdout}");
    }
    assert!(stdout.trim_end().ends_with("deleted"), "{stdout}");
}
