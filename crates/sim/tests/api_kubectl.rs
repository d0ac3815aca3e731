//! The real `kubectl` against the simulated cluster over HTTPS with the kubeconfig it emits:
//! get, describe, create -f, delete and get -w on postgreses, secrets and services.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sim::SimConfig;

const KUBECTL: &str = "/usr/bin/kubectl";

fn crds_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/kubedb-crds"
    ));
    if dir.is_dir() {
        println!("using the real upstream CRDs in {}", dir.display());
        Some(dir)
    } else {
        println!(
            "../shared/kubedb-crds not found: using the CRDs generated from the typed definitions"
        );
        None
    }
}

/// Runs kubectl (off the async runtime's threads) and returns (success, stdout, stderr).
async fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let kc = kubeconfig.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(&args)
            .output()
            .expect("run kubectl");
        let res = (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        println!("$ kubectl {}\n{}{}", args.join(" "), res.1, res.2);
        res
    })
    .await
    .unwrap()
}

async fn ok(kubeconfig: &Path, args: &[&str]) -> String {
    let (success, out, err) = kubectl(kubeconfig, args).await;
    assert!(success, "kubectl {args:?} failed: {err}");
    out
}

#[tokio::test]
async fn kubectl_get_describe_create_delete_watch() {
    if !Path::new(KUBECTL).exists() {
        println!("{KUBECTL} not installed; skipping the kubectl test");
        return;
    }
    let sim = sim::start(SimConfig {
        tls: true,
        run_operator: false,
        crds_dir: crds_dir(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("sim.kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();
    let version = sim
        .state
        .list("catalog.kubedb.com/v1alpha1", "postgresversions", None)
        .iter()
        .find(|v| v.pointer("/spec/deprecated").and_then(Value::as_bool) != Some(true))
        .and_then(|v| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .expect("a postgres version");

    ok(&kc, &["version"]).await;
    let nodes = ok(&kc, &["get", "nodes"]).await;
    assert!(nodes.contains("sim-node-1"));
    let svcs = ok(&kc, &["get", "services", "-A"]).await;
    assert!(
        svcs.contains("kubernetes") && svcs.contains("10.96.0.1"),
        "{svcs}"
    );
    let none = ok(&kc, &["get", "postgreses", "-A"]).await;
    assert!(!none.contains("demo"));

    // `get -w` in the background, started before the object exists.
    let mut watcher = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kc)
        .args([
            "get",
            "postgreses",
            "-n",
            "default",
            "-w",
            "--request-timeout=30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watcher.stdout.take().unwrap();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;

    let manifest = dir.path().join("pg.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata:\n  name: demo\n  namespace: default\nspec:\n  version: \"{version}\"\n  replicas: 1\n  storageType: Durable\n  storage:\n    accessModes: [ReadWriteOnce]\n    resources:\n      requests:\n        storage: 1Gi\n  deletionPolicy: WipeOut\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: demo-extra\n  namespace: default\nstringData:\n  password: s3cret\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: demo-lb\n  namespace: default\nspec:\n  type: LoadBalancer\n  ports:\n  - port: 5432\n"
        ),
    )
    .unwrap();
    let created = ok(&kc, &["create", "-f", manifest.to_str().unwrap()]).await;
    assert!(
        created.contains("postgres.kubedb.com/demo created"),
        "{created}"
    );
    assert!(created.contains("secret/demo-extra created"), "{created}");
    assert!(created.contains("service/demo-lb created"), "{created}");

    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = line_rx.recv().await {
            if line.contains("demo") {
                return line;
            }
        }
        String::new()
    })
    .await
    .expect("kubectl get -w saw the new postgres");
    assert!(seen.contains("demo"));

    let pgs = ok(&kc, &["get", "pg"]).await;
    assert!(pgs.contains("demo") && pgs.contains(&version), "{pgs}");
    let yaml = ok(&kc, &["get", "postgres", "demo", "-o", "yaml"]).await;
    assert!(yaml.contains("deletionPolicy: WipeOut"));
    let described = ok(&kc, &["describe", "postgres", "demo"]).await;
    assert!(
        described.contains("Name:") && described.contains("demo"),
        "{described}"
    );
    let secret = ok(
        &kc,
        &[
            "get",
            "secret",
            "demo-extra",
            "-o",
            "jsonpath={.data.password}",
        ],
    )
    .await;
    assert_eq!(secret.trim(), "czNjcmV0");
    ok(&kc, &["describe", "secret", "demo-extra"]).await;
    let lb = ok(&kc, &["get", "svc", "demo-lb"]).await;
    assert!(lb.contains("LoadBalancer"), "{lb}");
    ok(&kc, &["describe", "service", "demo-lb"]).await;

    // Invalid objects are rejected with the field named.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, format!("apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  version: \"{version}\"\n  replicas: lots\n")).unwrap();
    let (success, _, err) = kubectl(&kc, &["create", "-f", bad.to_str().unwrap()]).await;
    assert!(!success);
    assert!(err.contains("spec.replicas"), "{err}");

    let deleted = ok(&kc, &["delete", "postgres", "demo", "--wait=false"]).await;
    assert!(deleted.contains("deleted"), "{deleted}");
    ok(
        &kc,
        &[
            "delete",
            "-f",
            manifest.to_str().unwrap(),
            "--ignore-not-found",
            "--wait=false",
        ],
    )
    .await;
    let after = ok(&kc, &["get", "secrets,services", "-n", "default"]).await;
    assert!(
        !after.contains("demo-extra") && !after.contains("demo-lb"),
        "{after}"
    );

    let _ = watcher.kill();
    let _ = watcher.wait();
    let counts = sim.request_counts();
    assert!(counts.client("kubectl") > 10, "{counts:?}");
    sim.shutdown().await;
}

/// kubectl's typed `create` commands send protobuf bodies (client-go falls back to JSON on 415
/// only for CBOR): they must work against the simulated cluster as against a real one.
#[tokio::test]
async fn kubectl_typed_create_commands_send_protobuf() {
    if !Path::new(KUBECTL).exists() {
        println!("{KUBECTL} not installed; skipping the kubectl test");
        return;
    }
    let sim = sim::start(SimConfig {
        tls: true,
        run_operator: false,
        crds_dir: crds_dir(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("sim.kubeconfig");
    sim.write_kubeconfig(&kc).unwrap();

    let out = ok(&kc, &["create", "namespace", "x"]).await;
    assert!(out.contains("namespace/x created"), "{out}");
    let out = ok(
        &kc,
        &[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "x",
            "--from-literal=password=s3cret",
            "--from-literal=user=admin",
        ],
    )
    .await;
    assert!(out.contains("secret/s created"), "{out}");
    let out = ok(
        &kc,
        &["create", "configmap", "cm", "-n", "x", "--from-literal=k=v"],
    )
    .await;
    assert!(out.contains("configmap/cm created"), "{out}");
    let out = ok(&kc, &["create", "serviceaccount", "sa", "-n", "x"]).await;
    assert!(out.contains("serviceaccount/sa created"), "{out}");
    let out = ok(
        &kc,
        &[
            "create",
            "service",
            "clusterip",
            "web",
            "-n",
            "x",
            "--tcp=80:8080",
        ],
    )
    .await;
    assert!(out.contains("service/web created"), "{out}");

    let namespaces = ok(&kc, &["get", "namespaces"]).await;
    assert!(
        namespaces
            .lines()
            .any(|l| l.split_whitespace().next() == Some("x")),
        "{namespaces}"
    );
    let secrets = ok(&kc, &["get", "secrets", "-n", "x"]).await;
    assert!(
        secrets
            .lines()
            .any(|l| l.starts_with("s ") && l.contains("Opaque")),
        "{secrets}"
    );
    let password = ok(
        &kc,
        &[
            "get",
            "secret",
            "s",
            "-n",
            "x",
            "-o",
            "jsonpath={.data.password}",
        ],
    )
    .await;
    assert_eq!(password.trim(), "czNjcmV0");
    let cm = ok(
        &kc,
        &[
            "get",
            "configmap",
            "cm",
            "-n",
            "x",
            "-o",
            "jsonpath={.data.k}",
        ],
    )
    .await;
    assert_eq!(cm.trim(), "v");
    let ports = ok(
        &kc,
        &[
            "get",
            "service",
            "web",
            "-n",
            "x",
            "-o",
            "jsonpath={.spec.ports[0].port}/{.spec.ports[0].targetPort}",
        ],
    )
    .await;
    assert_eq!(ports.trim(), "80/8080");
    ok(&kc, &["get", "serviceaccount", "sa", "-n", "x"]).await;

    let out = ok(&kc, &["delete", "secret", "s", "-n", "x"]).await;
    assert!(out.contains("deleted"), "{out}");
    let (found, _, err) = kubectl(&kc, &["get", "secret", "s", "-n", "x"]).await;
    assert!(!found && err.contains("NotFound"), "{err}");
    sim.shutdown().await;
}
