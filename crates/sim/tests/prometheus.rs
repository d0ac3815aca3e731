//! The monitoring assets in `deploy/monitoring/` against a real Prometheus (Debian's `prometheus`
//! package; `.ci/run` installs it): the alert rules pass `promtool check rules` and their
//! `promtool test rules` file; the shipped scrape config's relabelling turns the simulated
//! cluster's stats Services into targets labelled as the metrics contract says; and every query of
//! both Grafana dashboards returns data from a Prometheus scraping the simulated exporters and a
//! stand-in for the platform's `/metrics`.

mod kubedb_common;
mod monitoring;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use kubedb_common::*;
use monitoring::*;
use serde_json::{json, Value};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard(name: &str) -> Value {
    let path = monitoring_dir().join("grafana").join(name);
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped scrape config's job called `name`.
fn shipped_job(name: &str) -> serde_yaml::Value {
    let path = monitoring_dir().join("prometheus/scrape-configs.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&read(&path)).expect("scrape-configs.yaml");
    doc["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs is a list")
        .iter()
        .find(|j| j["job_name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("scrape-configs.yaml has no job {name}"))
        .clone()
}

#[test]
fn alert_rules_pass_promtool() {
    let dir = monitoring_dir().join("prometheus");
    let (ok, out) = promtool(&["check", "rules", "alerts.yaml"], &dir);
    assert!(ok, "promtool check rules alerts.yaml failed:\n{out}");
    let (ok, out) = promtool(&["test", "rules", "alerts.test.yaml"], &dir);
    assert!(ok, "promtool test rules alerts.test.yaml failed:\n{out}");

    // every alert of the rule file is exercised by the test file
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&read(&dir.join("alerts.yaml"))).expect("alerts.yaml");
    let tests = read(&dir.join("alerts.test.yaml"));
    let alerts: Vec<String> = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    for required in [
        "DatabaseReplicationLagHigh",
        "DatabaseNotReady",
        "DatabaseBackupFailed",
        "DatabaseBackupMissing",
        "DatabaseStorageAlmostFull",
        "OperationFailures",
        "ProviderUnreachable",
    ] {
        assert!(
            alerts.iter().any(|a| a == required),
            "alerts.yaml lacks {required}"
        );
    }
    for alert in &alerts {
        let fires = format!("alertname: {alert}\n        exp_alerts:\n          - ");
        let quiet = format!("alertname: {alert}\n        exp_alerts: []");
        assert!(
            tests.contains(&fires),
            "alerts.test.yaml never expects {alert} to fire"
        );
        assert!(
            tests.contains(&quiet),
            "alerts.test.yaml never expects {alert} to stay quiet"
        );
    }
}

#[test]
fn shipped_scrape_config_is_valid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = monitoring_dir().join("prometheus/alerts.yaml");
    let shipped = read(&monitoring_dir().join("prometheus/scrape-configs.yaml"));
    let wrap = |scrape: &str| {
        format!(
            "global:\n  scrape_interval: 30s\nrule_files:\n  - {}\n{scrape}",
            rules.display()
        )
    };
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, wrap(&shipped)).expect("write config");
    let (ok, out) = promtool(
        &["check", "config", &config.display().to_string()],
        dir.path(),
    );
    if ok {
        return;
    }
    // Debian builds Prometheus without Kubernetes service discovery: check everything else of the
    // shipped jobs with file_sd in its place (the end-to-end test runs the same relabelling).
    assert!(
        out.contains("field kubernetes_sd_configs not found"),
        "promtool check config on the shipped scrape config failed:\n{out}"
    );
    eprintln!("NOTE: this promtool has no kubernetes_sd_configs; checking with file_sd instead");
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&shipped).expect("yaml");
    for job in doc["scrape_configs"]
        .as_sequence_mut()
        .expect("scrape_configs")
    {
        let map = job.as_mapping_mut().expect("job");
        assert!(
            map.remove("kubernetes_sd_configs").is_some(),
            "every shipped job discovers through Kubernetes"
        );
        map.insert(
            "file_sd_configs".into(),
            serde_yaml::from_str("[{files: [targets.json]}]").expect("yaml"),
        );
    }
    std::fs::write(dir.path().join("targets.json"), "[]").expect("write targets");
    std::fs::write(&config, wrap(&serde_yaml::to_string(&doc).expect("yaml")))
        .expect("write config");
    let (ok, out) = promtool(
        &["check", "config", &config.display().to_string()],
        dir.path(),
    );
    assert!(
        ok,
        "promtool check config on the shipped scrape config failed:\n{out}"
    );
}

#[test]
fn dashboards_are_well_formed() {
    for (file, uid) in [
        ("database.json", "dbaas-database"),
        ("platform.json", "dbaas-platform"),
    ] {
        let d = dashboard(file);
        assert_eq!(d["uid"], uid, "{file}");
        assert_eq!(d["refresh"], "30s", "{file} refreshes every 30 s");
        let vars = d["templating"]["list"].as_array().expect("variables");
        let ds = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{file} lacks the datasource variable"));
        assert_eq!(ds["type"], "datasource", "{file}");
        assert_eq!(ds["query"], "prometheus", "{file}");
        let mut ids = BTreeSet::new();
        let all = panels(&d);
        assert!(all.len() >= 10, "{file} has only {} panels", all.len());
        for p in all {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: a panel without a title");
            assert!(
                ids.insert(p["id"].as_i64().expect("panel id")),
                "{file}: duplicate panel id in {title}"
            );
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{file}: panel {title} has no description"
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file}: panel {title} does not use the datasource variable"
            );
            let targets = p["targets"].as_array().map(Vec::len).unwrap_or(0);
            let exprs = exprs(p);
            assert!(!exprs.is_empty(), "{file}: panel {title} has no query");
            assert_eq!(
                exprs.len(),
                targets,
                "{file}: panel {title} has a target without an expr"
            );
            for t in p["targets"].as_array().into_iter().flatten() {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{file}: a query of {title} does not use the datasource variable"
                );
            }
            assert!(
                p["fieldConfig"]["defaults"]["unit"].is_string(),
                "{file}: panel {title} has no unit"
            );
        }
    }
    let db = dashboard("database.json");
    let var = db["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["name"] == "database")
        .expect("the database dashboard has a `database` variable");
    let query = var["query"]
        .as_str()
        .or_else(|| var["query"]["query"].as_str())
        .expect("variable query");
    let (_, label) = parse_label_values(query).expect("label_values(...) query");
    assert_eq!(label, "database_id");
}

/// Every `dbaas_*` family of the contract is on some dashboard or in some rule.
#[test]
fn every_platform_series_is_used() {
    let mut text = String::new();
    for file in ["database.json", "platform.json"] {
        for p in panels(&dashboard(file)) {
            for (_, e) in exprs(p) {
                text.push_str(&e);
                text.push('\n');
            }
        }
    }
    text.push_str(&read(&monitoring_dir().join("prometheus/alerts.yaml")));
    for family in PLATFORM_FAMILIES {
        assert!(text.contains(family), "{family} is used nowhere");
    }
}

/// A database the test creates, and what its stats Service turns into.
struct TestDb {
    kind: &'static str,
    engine: &'static str,
    name: &'static str,
    namespace: &'static str,
    domain: &'static str,
    project: &'static str,
    id: String,
    spec: Value,
}

fn test_databases() -> Vec<TestDb> {
    let storage = json!({ "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } });
    let list: [(&str, &str, &str, Value); 6] = [
        (
            "Postgres",
            "postgres",
            "orders",
            json!({ "version": "17.9", "replicas": 2 }),
        ),
        (
            "MySQL",
            "mysql",
            "billing",
            json!({ "version": "8.4.8", "replicas": 3, "topology": { "mode": "GroupReplication" } }),
        ),
        (
            "MariaDB",
            "mariadb",
            "ledger",
            json!({ "version": "11.8.5", "replicas": 3, "topology": { "mode": "GaleraCluster" } }),
        ),
        (
            "MongoDB",
            "mongodb",
            "catalog",
            json!({ "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0" } }),
        ),
        (
            "Redis",
            "redis",
            "sessions",
            json!({ "version": "7.4.6", "mode": "Cluster", "cluster": { "shards": 3, "replicas": 2 } }),
        ),
        (
            "Elasticsearch",
            "elasticsearch",
            "search",
            json!({ "version": "xpack-9.2.3", "replicas": 3 }),
        ),
    ];
    list.into_iter()
        .enumerate()
        .map(|(i, (kind, engine, name, mut spec))| {
            // two tenants, so labels from different projects meet in one Prometheus
            let (namespace, domain, project) = if i % 2 == 0 {
                ("dbaas-acme-shop", "acme", "shop")
            } else {
                ("dbaas-globex-analytics", "globex", "analytics")
            };
            let id = format!("db-{:032x}", 0x0197_0000_0000_0000_u128 + i as u128);
            let container = provider::kubedb::names::by_kind(kind)
                .expect("kind")
                .container;
            spec["storage"] = storage.clone();
            spec["storageType"] = json!("Durable");
            spec["podTemplate"] = json!({ "spec": { "containers": [{ "name": container, "resources": {
                "requests": { "cpu": "500m", "memory": "1536Mi" }, "limits": { "memory": "1536Mi" } } }] } });
            spec["deletionPolicy"] = json!("WipeOut");
            spec["monitor"] = json!({ "agent": "prometheus.io/builtin",
                                      "prometheus": { "exporter": { "port": 56790 } } });
            // The labels KubeDB copies from the database onto its Services, set on the stats
            // Service through its template (the simulated operator copies no labels). Only the
            // first tenant's carry our managed-by, so both halves of the shipped keep rule run.
            let mut stats_labels = json!({ "dbaas.io/database-id": id, "dbaas.io/domain": domain,
                                           "dbaas.io/project": project });
            if i % 2 == 0 {
                stats_labels["app.kubernetes.io/managed-by"] = json!("kubedb-dbaas");
            }
            spec["serviceTemplates"] =
                json!([{ "alias": "stats", "metadata": { "labels": stats_labels } }]);
            TestDb {
                kind,
                engine,
                name,
                namespace,
                domain,
                project,
                id,
                spec,
            }
        })
        .collect()
}

/// What kubernetes_sd (role `endpoints`) would attach to the target of a stats Service, from the
/// Service object itself. The test reaches the exporter through the API server's service proxy
/// instead of a pod IP, so it sets `__address__` and `__metrics_path__` and leaves out the
/// annotation meta labels (`prometheus.io/path` would point at the pod's own `/metrics`) and the
/// pod's name (one target stands for the whole database).
fn stats_target(svc: &Value, api_addr: &str) -> Value {
    let ns = svc["metadata"]["namespace"].as_str().expect("namespace");
    let name = svc["metadata"]["name"].as_str().expect("name");
    let port = svc["spec"]["ports"][0]["name"].as_str().expect("port name");
    let mut labels = serde_json::Map::new();
    for (k, v) in svc["metadata"]["labels"].as_object().into_iter().flatten() {
        let key = sanitize_label(k);
        labels.insert(format!("__meta_kubernetes_service_label_{key}"), v.clone());
        labels.insert(
            format!("__meta_kubernetes_service_labelpresent_{key}"),
            json!("true"),
        );
    }
    labels.insert("__meta_kubernetes_namespace".into(), json!(ns));
    labels.insert("__meta_kubernetes_service_name".into(), json!(name));
    labels.insert("__meta_kubernetes_endpoint_port_name".into(), json!(port));
    labels.insert(
        "__metrics_path__".into(),
        json!(format!(
            "/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/metrics"
        )),
    );
    json!({ "targets": [api_addr], "labels": labels })
}

/// The shipped job `name` with file_sd (targets written by the test) in place of Kubernetes
/// discovery, scraping every second.
fn test_job(
    name: &str,
    targets_file: &Path,
    extra: &[(&str, serde_yaml::Value)],
) -> serde_yaml::Value {
    let mut job = shipped_job(name);
    let map = job.as_mapping_mut().expect("job");
    assert!(map.remove("kubernetes_sd_configs").is_some());
    map.insert(
        "file_sd_configs".into(),
        serde_yaml::to_value(json!([{ "files": [targets_file.display().to_string()] }]))
            .expect("yaml"),
    );
    map.insert("scrape_interval".into(), "1s".into());
    map.insert("scrape_timeout".into(), "1s".into());
    for (k, v) in extra {
        map.insert((*k).into(), v.clone());
    }
    job
}

/// Polls `f` every 250 ms until it yields `Some`, or panics after `deadline` with what `f` last
/// said was missing.
async fn poll<T, F, Fut>(deadline: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let until = Instant::now() + deadline;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(why) if Instant::now() >= until => {
                panic!("timed out after {deadline:?} waiting for {what}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One query of one panel, and the databases (or the platform) for which it returned data.
struct QueryCheck {
    dashboard: &'static str,
    panel: String,
    ref_id: String,
    expr: String,
    with_data: Vec<String>,
    tried: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_answers_every_dashboard_query() {
    require(PROMETHEUS);
    require(PROMTOOL);
    let started = Instant::now();
    let sim = start().await;
    let dbs = test_databases();

    // the databases, Ready, with their stats Services
    for db in &dbs {
        ensure_namespace(&sim, db.namespace).await;
        let obj = json!({
            "apiVersion": "kubedb.com/v1", "kind": db.kind,
            "metadata": { "name": db.name, "namespace": db.namespace, "labels": {
                "app.kubernetes.io/managed-by": "kubedb-dbaas",
                "dbaas.io/database-id": db.id,
                "dbaas.io/domain": db.domain,
                "dbaas.io/project": db.project,
            } },
            "spec": db.spec,
        });
        create(&sim, &db_ar(db.kind), obj)
            .await
            .unwrap_or_else(|e| panic!("creating {} {}: {e}", db.kind, db.name));
    }
    let mut stats_targets = Vec::new();
    for db in &dbs {
        wait_phase(
            &api(&sim, db.namespace, &db_ar(db.kind)),
            db.name,
            "Ready",
            60,
        )
        .await;
        let svcs = core(&sim, db.namespace, "Service", "services");
        let svc = wait_for(30, &format!("{}-stats", db.name), || async {
            svcs.get_opt(&format!("{}-stats", db.name))
                .await
                .ok()
                .flatten()
        })
        .await;
        let svc = serde_json::to_value(&svc).expect("service json");
        stats_targets.push(stats_target(&svc, sim.url.trim_start_matches("http://")));
    }

    // the platform's /metrics, and a database as a real cluster shows it
    let real = RealWorldDatabase {
        started: Instant::now(),
        namespace: "dbaas-initech-core".into(),
        pods: vec!["accounts-0".into(), "accounts-1".into()],
        container: "postgres".into(),
        capacity_bytes: 10.0 * 1_073_741_824.0,
    };
    let real_id = format!("db-{:032x}", 0x0197_0000_0000_00ff_u128);
    let real_pods = real.pods.clone();
    let platform = StandIns::start(
        PlatformPage {
            started: Instant::now(),
            databases: dbs
                .iter()
                .enumerate()
                .map(|(i, d)| PlatformDatabase {
                    id: d.id.clone(),
                    engine: d.engine,
                    storage_bytes: 1_073_741_824.0,
                    backup_failed: i == 1,
                })
                .collect(),
            providers: vec![
                "provider-0197aaaa000070008000000000000001".into(),
                "provider-0197aaaa000070008000000000000002".into(),
            ],
        },
        real,
    )
    .await;
    // its exporter: one target per pod, with the meta labels kubernetes_sd gives an endpoint
    for pod in &real_pods {
        stats_targets.push(json!({ "targets": [platform.addr.to_string()], "labels": {
            "__metrics_path__": "/exporter/metrics",
            "__meta_kubernetes_namespace": "dbaas-initech-core",
            "__meta_kubernetes_service_name": "accounts-stats",
            "__meta_kubernetes_endpoint_port_name": "metrics",
            "__meta_kubernetes_pod_name": pod,
            "__meta_kubernetes_service_label_app_kubernetes_io_name": "postgreses.kubedb.com",
            "__meta_kubernetes_service_label_app_kubernetes_io_managed_by": "kubedb.com",
            "__meta_kubernetes_service_label_kubedb_com_role": "stats",
            "__meta_kubernetes_service_label_dbaas_io_database_id": real_id,
            "__meta_kubernetes_service_label_dbaas_io_domain": "initech",
            "__meta_kubernetes_service_label_dbaas_io_project": "core",
        } }));
    }

    // Prometheus: the shipped jobs and rules, targets from file_sd
    let dir = tempfile::tempdir().expect("tempdir");
    let db_targets = dir.path().join("databases.json");
    let platform_targets = dir.path().join("platform.json");
    std::fs::write(
        &db_targets,
        serde_json::to_string_pretty(&stats_targets).expect("json"),
    )
    .expect("write targets");
    std::fs::write(
        &platform_targets,
        json!([{ "targets": [platform.addr.to_string()], "labels": {
            "__meta_kubernetes_service_label_app_kubernetes_io_name": "kubedb-dbaas",
            "__meta_kubernetes_endpoint_port_name": "http",
            "__meta_kubernetes_namespace": "dbaas-system",
            "__meta_kubernetes_pod_name": "dbaas-0",
        } }])
        .to_string(),
    )
    .expect("write targets");
    let auth: serde_yaml::Value =
        serde_yaml::to_value(json!({ "type": "Bearer", "credentials": sim.token })).expect("yaml");
    let config = json!({
        "global": { "scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s" },
        "rule_files": [monitoring_dir().join("prometheus/alerts.yaml").display().to_string()],
        "scrape_configs": [
            serde_json::to_value(test_job("kubedb-databases", &db_targets, &[("authorization", auth)])).expect("json"),
            serde_json::to_value(test_job("dbaas", &platform_targets, &[])).expect("json"),
            // what a cluster's own jobs scrape from every kubelet (cAdvisor, volume stats) and
            // from kube-state-metrics; they keep their namespace and pod labels
            { "job_name": "kubelet", "scrape_interval": "1s", "scrape_timeout": "1s",
              "honor_labels": true, "metrics_path": "/kubelet/metrics",
              "static_configs": [{ "targets": [platform.addr.to_string()] }] },
        ],
    });
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, serde_yaml::to_string(&config).expect("yaml"))
        .expect("write config");
    let (ok, out) = promtool(
        &["check", "config", &config_path.display().to_string()],
        dir.path(),
    );
    assert!(ok, "promtool check config on the test's config:\n{out}");
    let prom = Prometheus::start(&config_path, dir.path(), Duration::from_secs(60)).await;

    // every target up, with the labels of the contract's relabelling
    let n = dbs.len() + real_pods.len();
    let ups = poll(Duration::from_secs(90), "all targets up", || async {
        let r = prom.query("up == 1").await?;
        let rows = r["data"]["result"].as_array().cloned().unwrap_or_default();
        let dbs_up = rows
            .iter()
            .filter(|s| s["metric"]["job"] == "kubedb-databases")
            .count();
        let platform_up = rows.iter().any(|s| s["metric"]["job"] == "dbaas");
        let kubelet_up = rows.iter().any(|s| s["metric"]["job"] == "kubelet");
        if dbs_up == n && platform_up && kubelet_up {
            Ok(rows)
        } else {
            let targets = prom
                .api("/api/v1/targets")
                .await
                .map(|t| t["data"]["activeTargets"].to_string())
                .unwrap_or_default();
            Err(format!(
                "{dbs_up}/{n} exporters and platform {platform_up}; targets: {targets}"
            ))
        }
    })
    .await;
    for db in &dbs {
        let row = ups
            .iter()
            .find(|s| s["metric"]["database_id"] == db.id.as_str())
            .unwrap_or_else(|| panic!("no target labelled database_id={}", db.id));
        let m = &row["metric"];
        assert_eq!(m["domain"], db.domain, "{}", db.name);
        assert_eq!(m["project"], db.project, "{}", db.name);
        assert_eq!(m["namespace"], db.namespace, "{}", db.name);
        assert_eq!(m["service"], format!("{}-stats", db.name), "{}", db.name);
        let plural = provider::kubedb::names::by_kind(db.kind)
            .expect("kind")
            .plural;
        assert_eq!(m["kind"], format!("{plural}.kubedb.com"), "{}", db.name);
    }
    let real_up: BTreeSet<&str> = ups
        .iter()
        .filter(|s| s["metric"]["database_id"] == real_id.as_str())
        .filter_map(|s| s["metric"]["pod"].as_str())
        .collect();
    assert_eq!(
        real_up,
        real_pods.iter().map(String::as_str).collect(),
        "one target per pod, labelled with the pod"
    );
    let platform_up = ups
        .iter()
        .find(|s| s["metric"]["job"] == "dbaas")
        .expect("platform target");
    assert_eq!(platform_up["metric"]["namespace"], "dbaas-system");
    assert_eq!(platform_up["metric"]["pod"], "dbaas-0");

    // the database variable lists every database
    let db_dash = dashboard("database.json");
    let var = db_dash["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .find(|v| v["name"] == "database")
        .expect("database variable")
        .clone();
    let (selector, label) = parse_label_values(
        var["query"]
            .as_str()
            .or_else(|| var["query"]["query"].as_str())
            .expect("variable query"),
    )
    .expect("label_values query");
    let values = prom
        .api(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            encode(&selector)
        ))
        .await
        .expect("label values");
    assert_eq!(values["status"], "success", "{values}");
    let listed: BTreeSet<&str> = values["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for db in &dbs {
        assert!(
            listed.contains(db.id.as_str()),
            "the database variable misses {} ({}): {listed:?}",
            db.id,
            db.name
        );
    }

    // the rules load and evaluate without errors
    poll(Duration::from_secs(60), "every rule evaluated", || async {
        let r = prom.api("/api/v1/rules").await?;
        let mut unknown = Vec::new();
        for g in r["data"]["groups"].as_array().into_iter().flatten() {
            for rule in g["rules"].as_array().into_iter().flatten() {
                let name = rule["name"].as_str().unwrap_or_default();
                match rule["health"].as_str() {
                    Some("ok") => {}
                    Some("err") => panic!("rule {name} fails: {}", rule["lastError"]),
                    _ => unknown.push(name.to_string()),
                }
            }
        }
        if r["data"]["groups"].as_array().map_or(0, Vec::len) < 3 {
            return Err(format!("rule groups: {r}"));
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(format!("not evaluated yet: {unknown:?}"))
        }
    })
    .await;

    // every query of both dashboards, for every database
    let mut checks = Vec::new();
    for (file, name) in [("database.json", "database"), ("platform.json", "platform")] {
        let d = dashboard(file);
        for p in panels(&d) {
            for (ref_id, expr) in exprs(p) {
                checks.push(QueryCheck {
                    dashboard: name,
                    panel: p["title"].as_str().unwrap_or_default().to_string(),
                    ref_id,
                    expr,
                    with_data: Vec::new(),
                    tried: 0,
                });
            }
        }
    }
    let common = [
        ("__rate_interval", "1m"),
        ("__interval", "15s"),
        ("__range", "1h"),
        ("datasource", "prometheus"),
    ];
    let deadline = Duration::from_secs(120);
    let until = Instant::now() + deadline;
    loop {
        for c in checks.iter_mut().filter(|c| c.with_data.is_empty()) {
            c.tried += 1;
            let runs: Vec<(String, String)> = if c.dashboard == "database" {
                dbs.iter()
                    .map(|db| {
                        let mut vars = common.to_vec();
                        vars.push(("database", db.id.as_str()));
                        (db.engine.to_string(), substitute(&c.expr, &vars))
                    })
                    .collect()
            } else {
                vec![("platform".into(), substitute(&c.expr, &common))]
            };
            for (who, expr) in runs {
                let r = match prom.query(&expr).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("query transport error (will retry): {e}");
                        continue;
                    }
                };
                assert_eq!(
                    r["status"], "success",
                    "{} dashboard, panel {:?} query {}: Prometheus refused it:\n{expr}\n{r}",
                    c.dashboard, c.panel, c.ref_id
                );
                if has_data(&r) {
                    c.with_data.push(who);
                }
            }
        }
        let missing: Vec<&QueryCheck> = checks.iter().filter(|c| c.with_data.is_empty()).collect();
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= until {
            let list: Vec<String> = missing
                .iter()
                .map(|c| {
                    format!(
                        "  {} dashboard, panel {:?}, query {} (tried {} times):\n    {}",
                        c.dashboard,
                        c.panel,
                        c.ref_id,
                        c.tried,
                        c.expr.replace('\n', "\n    ")
                    )
                })
                .collect();
            panic!(
                "after {deadline:?} these queries still return no data for any database:\n{}\nPrometheus log:\n{}",
                list.join("\n"),
                prom.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // a summary: which engines feed which panel of the database dashboard now
    let mut by_panel: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for c in checks.iter().filter(|c| c.dashboard == "database") {
        for db in &dbs {
            let vars = [("__rate_interval", "1m"), ("database", db.id.as_str())];
            let r = prom
                .query(&substitute(&c.expr, &vars))
                .await
                .expect("query");
            let engines = by_panel.entry(c.panel.clone()).or_default();
            if has_data(&r) {
                engines.insert(db.engine);
            }
        }
    }
    for (panel, engines) in &by_panel {
        eprintln!(
            "{panel}: {}",
            engines.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }

    // the alerts see the same data: the failed backup of the second database fires (and the
    // platform stand-in's failed operations), nothing else does
    let firing = poll(Duration::from_secs(60), "DatabaseBackupFailed", || async {
        let r = prom.query("ALERTS").await?;
        let rows = r["data"]["result"].as_array().cloned().unwrap_or_default();
        let backup = rows.iter().any(|a| {
            a["metric"]["alertname"] == "DatabaseBackupFailed"
                && a["metric"]["alertstate"] == "firing"
                && a["metric"]["database_id"] == dbs[1].id.as_str()
        });
        if backup {
            Ok(rows)
        } else {
            Err(format!("ALERTS: {r}"))
        }
    })
    .await;
    for a in &firing {
        let name = a["metric"]["alertname"].as_str().unwrap_or_default();
        assert!(
            name == "OperationFailures"
                || (name == "DatabaseBackupFailed"
                    && a["metric"]["database_id"] == dbs[1].id.as_str()),
            "unexpected alert in the healthy simulated cluster: {a}"
        );
    }

    // the real-world shape: cAdvisor, kubelet and kube-state-metrics series reach the database
    // through its exporter targets' pods
    let by_title: BTreeMap<&str, &Value> = panels(&db_dash)
        .into_iter()
        .map(|p| (p["title"].as_str().unwrap_or_default(), p))
        .collect();
    let real_vars = [("__rate_interval", "5s"), ("database", real_id.as_str())];
    let real_query = |title: &str, ref_id: &str| {
        let panel = by_title
            .get(title)
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        let (_, expr) = exprs(panel)
            .into_iter()
            .find(|(r, _)| r == ref_id)
            .unwrap_or_else(|| panic!("panel {title:?} has no query {ref_id}"));
        substitute(&expr, &real_vars)
    };
    let joined = [
        ("CPU", "A"),
        ("Memory", "A"),
        ("Memory", "B"),
        ("Disk read / write", "A"),
        ("Disk read / write", "B"),
        ("Node health", "B"),
        ("Volume usage", "A"),
        ("Storage used", "A"),
        ("Storage used", "B"),
        ("Storage growth", "A"),
        ("Storage full in", "A"),
    ];
    // with 1 s scrapes Grafana's $__rate_interval is 4 s; rate() over a window longer than the
    // data so far would understate it, so the values are checked over 5 s once they settle
    let cpu_of = |s: &Value| -> f64 {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("value")
    };
    let results = poll(
        Duration::from_secs(60),
        "the joined panels of a real-world database",
        || async {
            let mut out = BTreeMap::new();
            for (title, ref_id) in joined {
                let r = prom.query(&real_query(title, ref_id)).await?;
                if !has_data(&r) {
                    return Err(format!("panel {title:?} query {ref_id}: {r}"));
                }
                out.insert((title, ref_id), r);
            }
            let cpu = out[&("CPU", "A")]["data"]["result"].clone();
            let settled = cpu
                .as_array()
                .is_some_and(|rows| rows.iter().all(|s| (0.15..0.3).contains(&cpu_of(s))));
            if settled {
                Ok(out)
            } else {
                Err(format!(
                    "CPU per pod should be 0.21 cores (the pod cgroup must not count twice): {cpu}"
                ))
            }
        },
    )
    .await;
    let cpu = results[&("CPU", "A")]["data"]["result"]
        .as_array()
        .expect("vector");
    let cpu_pods: BTreeSet<&str> = cpu
        .iter()
        .filter_map(|s| s["metric"]["pod"].as_str())
        .collect();
    assert_eq!(
        cpu_pods,
        real_pods.iter().map(String::as_str).collect(),
        "CPU per pod of the database, not of the namesake pod elsewhere: {cpu:?}"
    );
    let value = |key: (&str, &str)| -> f64 {
        results[&key]["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key:?}: {}", results[&key]))
    };
    assert_eq!(value(("Node health", "B")), 2.0, "both pods ready");
    assert_eq!(value(("Storage used", "B")), 10.0 * 1_073_741_824.0);
    let ratio = value(("Volume usage", "A"));
    assert!((0.3..0.4).contains(&ratio), "the fullest volume: {ratio}");

    // the per-database recording rules cover every database
    for record in [
        "dbaas:database_storage_used_bytes",
        "dbaas:database_storage_capacity_bytes",
        "dbaas:database_storage_used_ratio",
    ] {
        let r = prom.query(record).await.expect("query");
        let ids: BTreeSet<&str> = r["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["metric"]["database_id"].as_str())
            .collect();
        for db in &dbs {
            assert!(
                ids.contains(db.id.as_str()),
                "{record} lacks {} ({})",
                db.id,
                db.name
            );
        }
        assert!(ids.contains(real_id.as_str()), "{record} lacks {real_id}");
    }
    let r = prom
        .query("dbaas:database_replication_lag_seconds")
        .await
        .expect("query");
    let lagging: BTreeSet<&str> = r["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metric"]["database_id"].as_str())
        .collect();
    for db in dbs.iter().filter(|d| d.engine != "elasticsearch") {
        assert!(
            lagging.contains(db.id.as_str()),
            "no replication lag for {} ({})",
            db.name,
            db.engine
        );
    }
    eprintln!(
        "{} dashboard queries answered with data in {:?}",
        checks.len(),
        started.elapsed()
    );
    drop(prom);
    sim.shutdown().await;
}
