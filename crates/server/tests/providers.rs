//! Providers end to end against the simulated cluster (upstream KubeDB CRDs, zero operator
//! delays): onboarding and its failures, the version listings and the policy file, the placement
//! preview and the periodic health check. Every test runs on SQLite and on PostgreSQL.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sim::{OperatorConfig, SimConfig, SimHandle};

fn crds_dir() -> Option<PathBuf> {
    let d = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/kubedb-crds"
    ));
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("NOTE: {} not found; using the generated CRDs", d.display());
        None
    }
}

async fn start_sim(tls: bool) -> SimHandle {
    sim::start(SimConfig {
        crds_dir: crds_dir(),
        tls,
        operator: OperatorConfig {
            provisioning_delay: Duration::ZERO,
            step_delay: Duration::ZERO,
        },
        ..Default::default()
    })
    .await
    .expect("simulated cluster starts")
}

fn body(name: &str, kubeconfig: &str, extra: Value) -> Value {
    let mut b = json!({
        "name": name,
        "region": "eu-west",
        "availability_zone": "eu-west-1a",
        "cpu_total_cores": 10.0,
        "memory_total_gb": 40.0,
        "storage_total_gb": 500.0,
        "kubeconfig_content": kubeconfig,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        b[k] = v;
    }
    b
}

async fn onboard(ts: &TestServer, admin: &str, name: &str, kc: &str, extra: Value) -> Value {
    let (s, p) = ts
        .post("/api/v1/providers", admin, body(name, kc, extra))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p
}

/// The raw answer, to check that no kubeconfig material ever leaves the server.
async fn raw(ts: &TestServer, path: &str, token: &str) -> String {
    ts.http
        .get(ts.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A kubeconfig pointing at a port nothing listens on.
async fn unreachable_kubeconfig(sim: &SimHandle) -> String {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    sim.kubeconfig_yaml
        .replace(&sim.url, &format!("http://127.0.0.1:{port}"))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

/// The sim's PostgreSQL catalog offered by default: newest first, the deprecated 13.22 left out.
const PG_OFFERED: [&str; 8] = [
    "18.3",
    "17.9-bookworm",
    "17.9",
    "17.6",
    "16.10",
    "timescaledb-2.14.2-pg16",
    "15.14",
    "14.19",
];

both_stores!(
    onboarding_answers_the_contract_and_hides_the_kubeconfig,
    |b| async move {
        let sim = start_sim(false).await;
        let ts = TestServer::start(b).await;
        let admin = ts.admin_token().await;

        let p = onboard(
            &ts,
            &admin,
            "sim-yaml",
            &sim.kubeconfig_yaml,
            json!({"priority": 200, "tags": ["sim"], "metadata": {"team": "db"}}),
        )
        .await;
        assert!(p["id"].as_str().unwrap().starts_with("provider-"), "{p}");
        assert_eq!(p["region"], "eu-west");
        assert_eq!(p["availability_zone"], "eu-west-1a");
        assert_eq!(p["domain"], Value::Null);
        assert_eq!(
            p["resources"]["cpu"],
            json!({"total_cores": 10.0, "allocated_cores": 0.0, "available_cores": 8.0, "reservation_percent": 80.0})
        );
        assert_eq!(p["resources"]["memory"]["available_gb"], 32.0);
        assert_eq!(p["resources"]["storage"]["available_gb"], 400.0);
        assert_eq!(p["is_active"], true);
        assert_eq!(p["is_maintenance"], false);
        assert_eq!(p["priority"], 200);
        assert_eq!(p["enable_loadbalancer"], false);
        assert_eq!(p["tags"], json!(["sim"]));
        assert_eq!(p["metadata"], json!({"team": "db"}));
        assert_eq!(p["kubedb"]["installed"], true);
        let mut engines: Vec<String> =
            serde_json::from_value(p["kubedb"]["engines"].clone()).unwrap();
        engines.sort();
        assert_eq!(
            engines,
            [
                "elasticsearch",
                "mariadb",
                "mongodb",
                "mysql",
                "postgres",
                "redis"
            ]
        );
        assert!(
            p["kubedb"].get("catalog").is_none(),
            "the catalog is not part of the answer: {p}"
        );
        assert_eq!(p["connection"]["status"], "connected");
        assert!(p["connection"]["last_checked_at"].is_string(), "{p}");
        assert!(p["connection"].get("error").is_none(), "{p}");
        for k in ["created_at", "updated_at", "cloud_provider"] {
            assert!(p.get(k).is_some(), "{k} missing: {p}");
        }

        let b64 = base64::engine::general_purpose::STANDARD.encode(&sim.kubeconfig_yaml);
        let q = onboard(&ts, &admin, "sim-base64", &b64, json!({})).await;
        assert_eq!(q["connection"]["status"], "connected");

        // Listing: priority desc, filters, never the kubeconfig or its token.
        let (s, list) = ts.get("/api/v1/providers/", &admin).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(list["total"], 2);
        assert_eq!(names(&list["providers"]), ["sim-yaml", "sim-base64"]);
        let (_, filtered) = ts.get("/api/v1/providers?region=nowhere", &admin).await;
        assert_eq!(filtered["total"], 0);
        let (_, filtered) = ts
            .get(
                "/api/v1/providers?is_active=true&availability_zone=eu-west-1a",
                &admin,
            )
            .await;
        assert_eq!(filtered["total"], 2);
        let id = p["id"].as_str().unwrap();
        for path in [
            "/api/v1/providers".to_string(),
            format!("/api/v1/providers/{id}"),
        ] {
            let text = raw(&ts, &path, &admin).await;
            assert!(
                !text.contains("kubeconfig") && !text.contains(&sim.token),
                "{path}: {text}"
            );
        }

        // Duplicate name: 409 (checked before any cluster round trip).
        let (s, e) = ts
            .post(
                "/api/v1/providers",
                &admin,
                body("sim-yaml", &sim.kubeconfig_yaml, json!({})),
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict")),
            "{e}"
        );

        // Audit trail.
        let (_, audit) = ts
            .get("/api/v1/audit-logs?action=provider.create", &admin)
            .await;
        assert_eq!(audit["total"], 2, "{audit}");

        // PATCH: maintenance, capacity, clearing a nullable field.
        let (s, u) = ts
            .patch(
                &format!("/api/v1/providers/{id}"),
                &admin,
                json!({"is_maintenance": true, "cpu_total_cores": 20, "availability_zone": null}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{u}");
        assert_eq!(u["is_maintenance"], true);
        assert_eq!(u["resources"]["cpu"]["available_cores"], 16.0);
        assert_eq!(u["availability_zone"], Value::Null);
        let (_, got) = ts.get(&format!("/api/v1/providers/{id}"), &admin).await;
        assert_eq!(got["is_maintenance"], true);
        // A new kubeconfig that does not work is refused and the old one is kept.
        let dead = unreachable_kubeconfig(&sim).await;
        let (s, e) = ts
            .patch(
                &format!("/api/v1/providers/{id}"),
                &admin,
                json!({"kubeconfig_content": dead}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot reach"),
            "{e}"
        );
        // …and one that works re-probes.
        let (s, u) = ts
            .patch(
                &format!("/api/v1/providers/{id}"),
                &admin,
                json!({"kubeconfig_content": sim.kubeconfig_yaml}),
            )
            .await;
        assert_eq!(
            (s, &u["connection"]["status"]),
            (StatusCode::OK, &json!("connected")),
            "{u}"
        );
        // Renaming onto another provider's name conflicts.
        let (s, _) = ts
            .patch(
                &format!("/api/v1/providers/{id}"),
                &admin,
                json!({"name": "sim-base64"}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT);

        // DELETE.
        let (s, _) = ts.delete(&format!("/api/v1/providers/{id}"), &admin).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = ts.get(&format!("/api/v1/providers/{id}"), &admin).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = ts.delete(&format!("/api/v1/providers/{id}"), &admin).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, audit) = ts
            .get("/api/v1/audit-logs?action=provider.delete", &admin)
            .await;
        assert_eq!(audit["total"], 1, "{audit}");
        sim.shutdown().await;
    }
);

both_stores!(onboarding_failures_say_why, |b| async move {
    let sim = start_sim(false).await;
    let ts = TestServer::start(b).await;
    let admin = ts.admin_token().await;

    let (s, e) = ts
        .post(
            "/api/v1/providers",
            &admin,
            body("garbage", "this: [is not a kubeconfig", json!({})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kubeconfig"),
        "{e}"
    );

    let dead = unreachable_kubeconfig(&sim).await;
    let (s, e) = ts
        .post("/api/v1/providers", &admin, body("dead", &dead, json!({})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("cannot reach") && msg.contains("connection refused"),
        "{e}"
    );

    let bad_token = sim.kubeconfig_yaml.replace(&sim.token, "not-the-token");
    let (s, e) = ts
        .post(
            "/api/v1/providers",
            &admin,
            body("unauthorized", &bad_token, json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unauthorized"),
        "{e}"
    );

    // Field validation: 422 naming the field.
    for (extra, field) in [
        (json!({"priority": 1001}), "priority"),
        (json!({"cpu_total_cores": 0}), "cpu_total_cores"),
        (
            json!({"memory_reservation_percent": 101}),
            "memory_reservation_percent",
        ),
        (json!({"region": "r".repeat(51)}), "region"),
        (json!({"name": ""}), "name"),
        (json!({"domain": "Not A Slug"}), "domain"),
        (json!({"domain": "no-such-tenant"}), "domain"),
        (json!({"kubeconfig_content": " "}), "kubeconfig_content"),
        (json!({"metadata": [1]}), "metadata"),
        (json!({"verify_ssl": "yes"}), "verify_ssl"),
    ] {
        let (s, e) = ts
            .post(
                "/api/v1/providers",
                &admin,
                body("v", &sim.kubeconfig_yaml, extra.clone()),
            )
            .await;
        // A tenant that does not exist breaks a rule against what is stored (400), not the
        // request's shape (422).
        let want = if extra == json!({"domain": "no-such-tenant"}) {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(s, want, "{extra}: {e}");
        assert_eq!(e["error"]["details"][0]["field"], field, "{extra}: {e}");
    }

    // A cluster without KubeDB's PostgreSQL CRD.
    let resp = reqwest::Client::new()
        .delete(format!(
            "{}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/postgreses.kubedb.com",
            sim.url
        ))
        .bearer_auth(&sim.token)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let (s, e) = ts
        .post(
            "/api/v1/providers",
            &admin,
            body("no-kubedb", &sim.kubeconfig_yaml, json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("KubeDB is not installed") && msg.contains("postgreses.kubedb.com"),
        "{e}"
    );

    let (_, list) = ts.get("/api/v1/providers", &admin).await;
    assert_eq!(list["total"], 0, "nothing stored on failure: {list}");
    sim.shutdown().await;
});

both_stores!(verify_ssl_is_honoured, |b| async move {
    let sim = start_sim(true).await;
    assert!(sim.url.starts_with("https://"));
    let ts = TestServer::start(b).await;
    let admin = ts.admin_token().await;
    // Without the CA the sim's self-signed certificate cannot be verified.
    let no_ca: String = sim
        .kubeconfig_yaml
        .lines()
        .filter(|l| !l.contains("certificate-authority-data"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (s, e) = ts
        .post(
            "/api/v1/providers",
            &admin,
            body("strict", &no_ca, json!({"verify_ssl": true})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{e}"
    );
    let p = onboard(&ts, &admin, "lenient", &no_ca, json!({"verify_ssl": false})).await;
    assert_eq!(p["connection"]["status"], "connected");
    // With the CA in the kubeconfig, verification succeeds.
    onboard(
        &ts,
        &admin,
        "with-ca",
        &sim.kubeconfig_yaml,
        json!({"verify_ssl": true}),
    )
    .await;
    // Switching verification on without a CA is re-checked, and refused.
    let (s, e) = ts
        .patch(
            &format!("/api/v1/providers/{}", p["id"].as_str().unwrap()),
            &admin,
            json!({"verify_ssl": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    sim.shutdown().await;
});

both_stores!(only_platform_admins_manage_providers, |b| async move {
    let sim = start_sim(false).await;
    let ts = TestServer::start(b).await;
    let admin = ts.admin_token().await;
    let p = onboard(&ts, &admin, "sim", &sim.kubeconfig_yaml, json!({})).await;
    let id = p["id"].as_str().unwrap();
    let (s, _) = ts
        .post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Created with the role directly (adding a member only invites).
    let (s, _) = ts
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "dev@acme.test", "password": "user-password-123", "full_name": "Dev",
                   "bindings": [{"role": "domain_admin", "domain": "acme"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let user = ts.login("dev@acme.test", "user-password-123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/v1/providers/{id}");
    let checks = [
        (
            reqwest::Method::POST,
            "/api/v1/providers".to_string(),
            Some(body("x", &sim.kubeconfig_yaml, json!({}))),
        ),
        (reqwest::Method::GET, "/api/v1/providers".to_string(), None),
        (reqwest::Method::GET, path.clone(), None),
        (
            reqwest::Method::PATCH,
            path.clone(),
            Some(json!({"is_maintenance": true})),
        ),
        (reqwest::Method::DELETE, path.clone(), None),
    ];
    for (m, path, b) in checks {
        let (s, e) = ts.call(m.clone(), &path, Some(&user), b.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{m} {path}: {e}");
        let (s, _) = ts.call(m.clone(), &path, None, b).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{m} {path}");
    }
    // Reads of what is offered are open to any authenticated user.
    let (s, v) = ts.get("/api/v1/versions?engine=postgres", &user).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(names(&v["postgres"]), PG_OFFERED);
    let (_, got) = ts.get(&path, &admin).await;
    assert_eq!(
        got["is_maintenance"], false,
        "the refused PATCH changed nothing"
    );
    sim.shutdown().await;
});

both_stores!(
    versions_come_from_the_catalog_newest_first,
    |b| async move {
        let sim = start_sim(false).await;
        let ts = TestServer::start(b).await;
        let admin = ts.admin_token().await;

        // No provider yet: every engine, nothing offered.
        let (s, v) = ts.get("/api/v1/versions", &admin).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v.as_object().unwrap().len(), 6);
        assert!(
            v.as_object()
                .unwrap()
                .values()
                .all(|l| l.as_array().unwrap().is_empty()),
            "{v}"
        );

        onboard(&ts, &admin, "sim", &sim.kubeconfig_yaml, json!({})).await;
        // The cached provider list was invalidated by the onboarding.
        let (_, v) = ts.get("/api/v1/versions", &admin).await;
        assert_eq!(names(&v["postgres"]), PG_OFFERED, "{v}");
        assert!(v["postgres"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["deprecated"] == false));
        assert_eq!(
            v["postgres"][1],
            json!({"version": "17.9", "name": "17.9-bookworm", "deprecated": false})
        );
        for (engine, list) in v.as_object().unwrap() {
            assert!(
                !list.as_array().unwrap().is_empty(),
                "{engine} offers nothing: {v}"
            );
        }
        let (_, only) = ts.get("/api/v1/versions?engine=redis", &admin).await;
        assert_eq!(
            only.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["redis"]
        );
        let (s, e) = ts.get("/api/v1/versions?engine=cassandra", &admin).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

        let (s, pv) = ts.get("/api/v1/providers/versions/postgres", &admin).await;
        assert_eq!(s, StatusCode::OK, "{pv}");
        assert_eq!(pv["engine"], "postgres");
        assert_eq!(names(&pv["versions"]), PG_OFFERED);
        let (s, _) = ts.get("/api/v1/providers/versions/cassandra", &admin).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (_, none) = ts
            .get("/api/v1/providers/versions/postgres?region=nowhere", &admin)
            .await;
        assert_eq!(none["versions"], json!([]));

        let (s, en) = ts
            .get("/api/v1/providers/engines?region=eu-west", &admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{en}");
        let mut keys: Vec<&String> = en["engines"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "elasticsearch",
                "mariadb",
                "mongodb",
                "mysql",
                "postgres",
                "redis"
            ]
        );
        assert_eq!(en["engines"]["postgres"][0], "18.3");
        let (_, en) = ts
            .get(
                "/api/v1/providers/engines?availability_zone=elsewhere",
                &admin,
            )
            .await;
        assert_eq!(en["engines"], json!({}));

        // An inactive provider offers nothing.
        let (_, list) = ts.get("/api/v1/providers", &admin).await;
        let id = list["providers"][0]["id"].as_str().unwrap().to_string();
        ts.patch(
            &format!("/api/v1/providers/{id}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
        let (_, v) = ts.get("/api/v1/versions?engine=postgres", &admin).await;
        assert_eq!(v["postgres"], json!([]));
        sim.shutdown().await;
    }
);

both_stores!(the_policy_file_filters_versions, |b| async move {
    let sim = start_sim(false).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("versions.yaml");
    std::fs::write(
        &policy,
        "postgres:\n  deny: [\"16.*\"]\nredis:\n  enabled: false\n",
    )
    .unwrap();
    let ts = TestServer::start_with(b, |c| c.versions_policy_file = Some(policy.clone())).await;
    let admin = ts.admin_token().await;
    onboard(&ts, &admin, "sim", &sim.kubeconfig_yaml, json!({})).await;
    let (_, v) = ts.get("/api/v1/versions", &admin).await;
    let expected: Vec<&str> = PG_OFFERED
        .into_iter()
        .filter(|n| *n != "16.10" && !n.starts_with("timescaledb"))
        .collect();
    assert_eq!(names(&v["postgres"]), expected, "{v}");
    assert_eq!(v["redis"], json!([]));
    let (_, en) = ts.get("/api/v1/providers/engines", &admin).await;
    assert!(en["engines"].get("redis").is_none(), "{en}");
    assert_eq!(en["engines"].as_object().unwrap().len(), 5);

    // A policy file that does not parse stops the start with a message naming it.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "postgress:\n  deny: []\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = base_config(data.path().to_path_buf());
    config.versions_policy_file = Some(bad.clone());
    if b == Backend::Postgres {
        config.database_url = Some(store::testing::fresh_postgres_url().await);
    }
    let err = match server::start(config).await {
        Ok(_) => panic!("a bad policy file must stop the start"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("bad.yaml") && err.contains("postgress"),
        "{err}"
    );
    sim.shutdown().await;
});

both_stores!(placement_preview_ranks_dedicated_first, |b| async move {
    let sim = start_sim(false).await;
    let ts = TestServer::start(b).await;
    let admin = ts.admin_token().await;
    let kc = &sim.kubeconfig_yaml;
    ts.post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await;
    ts.post("/api/v1/tenants", &admin, json!({"name": "globex"}))
        .await;
    let shared = onboard(
        &ts,
        &admin,
        "shared-big",
        kc,
        json!({"cpu_total_cores": 100, "priority": 1000}),
    )
    .await;
    let dedicated = onboard(
        &ts,
        &admin,
        "acme-small",
        kc,
        json!({"domain": "acme", "cpu_total_cores": 4}),
    )
    .await;
    onboard(
        &ts,
        &admin,
        "globex-own",
        kc,
        json!({"domain": "globex", "cpu_total_cores": 100}),
    )
    .await;
    let maint = onboard(
        &ts,
        &admin,
        "in-maintenance",
        kc,
        json!({"cpu_total_cores": 100}),
    )
    .await;
    ts.patch(
        &format!("/api/v1/providers/{}", maint["id"].as_str().unwrap()),
        &admin,
        json!({"is_maintenance": true}),
    )
    .await;
    onboard(
        &ts,
        &admin,
        "inactive",
        kc,
        json!({"cpu_total_cores": 100, "is_active": false}),
    )
    .await;
    let us = onboard(
        &ts,
        &admin,
        "us-east",
        kc,
        json!({"region": "us-east", "availability_zone": "us-east-1a"}),
    )
    .await;

    let need = json!({"cpu_cores": 1, "memory_gb": 2, "storage_gb": 10});
    let (s, r) = ts
        .post("/api/v1/providers/select?domain=acme", &admin, need.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        names(&r["providers"]),
        ["acme-small", "shared-big", "us-east"],
        "{r}"
    );
    assert_eq!(r["selected"], dedicated["id"]);
    assert_eq!(r["providers"][0]["dedicated"], true);
    assert_eq!(
        r["providers"][0]["available"],
        json!({"cpu_cores": 3.2, "memory_gb": 32.0, "storage_gb": 400.0})
    );
    assert_eq!(r["providers"][0]["score"], 3.2);

    // Too big for the dedicated one: the shared one takes it.
    let (_, r) = ts
        .post(
            "/api/v1/providers/select?domain=acme",
            &admin,
            json!({"cpu_cores": 5, "memory_gb": 2, "storage_gb": 10}),
        )
        .await;
    assert_eq!(r["selected"], shared["id"], "{r}");

    // Region and zone headers.
    let resp = ts
        .http
        .post(ts.url("/api/v1/providers/select?domain=acme"))
        .bearer_auth(&admin)
        .header("X-Region", "us-east")
        .header("X-Availability-Zone", "us-east-1a")
        .json(&need)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(names(&r["providers"]), ["us-east"]);
    assert_eq!(r["selected"], us["id"]);
    let resp = ts
        .http
        .post(ts.url("/api/v1/providers/select"))
        .bearer_auth(&admin)
        .header("X-Region", "mars")
        .json(&need)
        .send()
        .await
        .unwrap();
    let r: Value = resp.json().await.unwrap();
    assert_eq!(
        (r["providers"].clone(), r["selected"].clone()),
        (json!([]), Value::Null)
    );

    // The query form answers the same.
    let (s, r) = ts.get("/api/v1/providers/available/list?cpu_cores=1&memory_gb=2&storage_gb=10&region=eu-west&domain=acme", &admin).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(names(&r["providers"]), ["acme-small", "shared-big"]);

    // Tenants: their own domain implied, no capacities of the clusters.
    ts.post(
        "/api/v1/users",
        &admin,
        json!({"email": "dev@acme.test", "password": "user-password-123", "full_name": "Dev",
               "bindings": [{"role": "domain_admin", "domain": "acme"}]}),
    )
    .await;
    let dev = ts.login("dev@acme.test", "user-password-123").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, r) = ts
        .post("/api/v1/providers/select", &dev, need.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        names(&r["providers"]),
        ["acme-small", "shared-big", "us-east"]
    );
    assert!(
        r["providers"][0].get("available").is_none() && r["providers"][0].get("score").is_none(),
        "{r}"
    );
    let (s, _) = ts
        .post("/api/v1/providers/select?domain=globex", &dev, need.clone())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (loner, _) = ts.user(&admin, "loner@example.test").await;
    let (s, _) = ts
        .post("/api/v1/providers/select", &loner, need.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, e) = ts
        .post(
            "/api/v1/providers/select",
            &admin,
            json!({"cpu_cores": 0, "memory_gb": 2, "storage_gb": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"]["details"][0]["field"], "cpu_cores");
    let (s, _) = ts
        .get("/api/v1/providers/available/list?cpu_cores=1", &admin)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    sim.shutdown().await;
});

both_stores!(
    health_check_marks_a_dead_cluster_unreachable,
    |b| async move {
        let sim = start_sim(false).await;
        let ts = TestServer::start_with(b, |c| {
            c.provider_health_interval_secs = 1;
            c.provider_health_timeout_secs = 2;
        })
        .await;
        let admin = ts.admin_token().await;
        let p = onboard(&ts, &admin, "sim", &sim.kubeconfig_yaml, json!({})).await;
        let path = format!("/api/v1/providers/{}", p["id"].as_str().unwrap());
        let onboarded_at = p["connection"]["last_checked_at"]
            .as_str()
            .unwrap()
            .to_string();

        // A round runs and keeps it connected.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, got) = ts.get(&path, &admin).await;
            if got["connection"]["last_checked_at"].as_str() != Some(&onboarded_at) {
                assert_eq!(got["connection"]["status"], "connected", "{got}");
                assert_eq!(got["kubedb"]["installed"], true);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no health round within 10 s: {got}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        sim.shutdown().await;
        let down = Instant::now();
        let got = loop {
            let (_, got) = ts.get(&path, &admin).await;
            if got["connection"]["status"] == "unreachable" {
                break got;
            }
            assert!(down.elapsed() < Duration::from_secs(10), "still {got}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!(
            "marked unreachable {:?} after the cluster went down (interval 1 s)",
            down.elapsed()
        );
        // One interval plus the probe's own time; the probe of a closed port fails at once.
        assert!(
            down.elapsed() < Duration::from_secs(4),
            "took {:?}",
            down.elapsed()
        );
        assert!(
            got["connection"]["error"]
                .as_str()
                .unwrap()
                .contains("cannot reach"),
            "{got}"
        );
        // What the cluster offered is kept while it is away.
        assert_eq!(got["kubedb"]["installed"], true);
        let (_, v) = ts.get("/api/v1/versions?engine=postgres", &admin).await;
        assert_eq!(names(&v["postgres"]), PG_OFFERED);
    }
);
