//! Translation: every engine × topology × option validates against the upstream CRD schema and
//! passes the simulated cluster's KubeDB admission; the plain objects are accepted too.

mod common;

use std::collections::BTreeMap;

use domain::engine::{Engine, Size};
use provider::translate::{self, CreatePlan};
use serde_json::{json, Value};

fn variants() -> Vec<(Engine, bool, bool, bool, bool)> {
    let mut v = Vec::new();
    for engine in Engine::ALL {
        for ha in [false, true] {
            for monitoring in [false, true] {
                for protection in [false, true] {
                    for user_secret in [false, true] {
                        v.push((engine, ha, monitoring, protection, user_secret));
                    }
                }
            }
        }
    }
    v
}

fn name_of(engine: Engine, ha: bool, monitoring: bool, protection: bool, secret: bool) -> String {
    format!(
        "{}-{}{}{}{}",
        translate::meta(engine).short_name,
        if ha { "ha" } else { "sa" },
        u8::from(monitoring),
        u8::from(protection),
        u8::from(secret)
    )
}

#[tokio::test]
async fn every_variant_validates_and_is_admitted() {
    let schemas = common::schema::crd_dir().map(|d| common::schema::Schemas::load(&d));
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = translate::namespace_name("acme", "web");
    cluster
        .ensure_namespace(&translate::namespace_object(&ns, "acme", "web"))
        .await
        .expect("namespace");

    let operator = translate::MonitorAgent::Operator {
        labels: BTreeMap::from([("release".to_string(), "prometheus".to_string())]),
        interval: "30s".into(),
    };
    let mut created = 0;
    for (i, (engine, ha, monitoring, protection, user_secret)) in variants().into_iter().enumerate()
    {
        let name = name_of(engine, ha, monitoring, protection, user_secret);
        let mut db = common::database(engine, &name);
        db.high_availability = ha;
        db.replicas = if ha { 3 } else { 1 };
        db.monitoring_enabled = monitoring;
        db.deletion_protection = protection;
        db.size = Size::ALL[i % Size::ALL.len()];
        db.storage_gb = 10 + i as i64;
        db.labels = BTreeMap::from([("team".to_string(), "payments".to_string())]);
        db.annotations = BTreeMap::from([("note".to_string(), "x: y".to_string())]);
        let version = common::version_for(&report, engine);
        let secret_name = format!("{name}-auth");
        if user_secret {
            let s = translate::auth_secret(&db, &ns, "app", "s3cr3t-p@ss:word/#%");
            assert_eq!(s["metadata"]["name"], secret_name.as_str());
            cluster.ensure_object(&s).await.expect("user secret");
        }
        let plan = CreatePlan {
            db: &db,
            namespace: &ns,
            version_name: &version,
            auth_secret: user_secret.then_some(secret_name.as_str()),
            storage_class: (i % 2 == 0).then_some("standard"),
            service_type: if i % 3 == 0 {
                "LoadBalancer"
            } else {
                "ClusterIP"
            },
            // Both agents, so that both shapes of spec.monitor meet the upstream schema.
            monitor: if i % 2 == 1 {
                &operator
            } else {
                &translate::MonitorAgent::Builtin
            },
        };
        let obj = translate::database_object(&plan);

        if let Some(s) = &schemas {
            let errs = s.errors(&obj);
            assert!(
                errs.is_empty(),
                "{name}: upstream schema rejects: {errs:?}\n{obj:#}"
            );
        }
        // the parts the brief pins down
        let spec = &obj["spec"];
        assert_eq!(
            obj["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "kubedb-dbaas"
        );
        assert_eq!(
            obj["metadata"]["labels"]["dbaas.io/database-id"],
            db.id.as_str()
        );
        assert_eq!(obj["metadata"]["labels"]["team"], "payments");
        assert_eq!(obj["metadata"]["annotations"]["note"], "x: y");
        assert_eq!(spec["storageType"], "Durable");
        assert_eq!(
            spec["storage"]["resources"]["requests"]["storage"],
            format!("{}Gi", db.storage_gb)
        );
        assert_eq!(spec["storage"]["accessModes"], json!(["ReadWriteOnce"]));
        let c = &spec["podTemplate"]["spec"]["containers"][0];
        assert_eq!(c["name"], translate::meta(engine).container);
        assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
        assert_eq!(c["resources"], translate::size_resources(db.size));
        assert_eq!(
            spec["deletionPolicy"],
            if protection {
                "DoNotTerminate"
            } else {
                "Delete"
            }
        );
        assert_eq!(spec["monitor"].is_object(), monitoring);
        if monitoring {
            assert_eq!(spec["monitor"], plan.monitor.spec());
            assert_eq!(spec["monitor"]["prometheus"]["exporter"]["port"], 56790);
            if i % 2 == 1 {
                assert_eq!(spec["monitor"]["agent"], "prometheus.io/operator");
                let sm = &spec["monitor"]["prometheus"]["serviceMonitor"];
                assert_eq!(sm["labels"]["release"], "prometheus");
                // The series get the labels the dashboards select by.
                assert_eq!(
                    sm["targetLabels"],
                    json!(["database_id", "domain", "project"])
                );
            } else {
                assert_eq!(spec["monitor"]["agent"], "prometheus.io/builtin");
            }
        }
        assert_eq!(spec["authSecret"].is_object(), user_secret);
        if user_secret {
            assert_eq!(spec["authSecret"]["externallyManaged"], true);
            assert_eq!(spec["authSecret"]["name"], secret_name.as_str());
        }
        assert_eq!(spec["serviceTemplates"][0]["alias"], "primary");
        assert_eq!(
            spec["serviceTemplates"][0]["spec"]["type"],
            plan.service_type
        );
        // With monitoring, the stats Service says whose database it is (not who manages it).
        let stats = &spec["serviceTemplates"][1];
        assert_eq!(stats.is_object(), monitoring);
        if monitoring {
            assert_eq!(stats["alias"], "stats");
            let labels = &stats["metadata"]["labels"];
            assert_eq!(labels["dbaas.io/database-id"], db.id.as_str());
            assert_eq!(labels["dbaas.io/domain"], "acme");
            assert!(labels.get("app.kubernetes.io/managed-by").is_none());
            // A ServiceMonitor cannot relabel: with the operator agent the plain names are there.
            if i % 2 == 1 {
                assert_eq!(labels["database_id"], db.id.as_str());
                assert_eq!(labels["domain"], "acme");
                assert_eq!(labels["project"], "web");
            } else {
                assert!(labels.get("database_id").is_none());
            }
            // Turning monitoring off and on again on the object gives the same templates.
            let off = translate::monitoring_patch(spec, &db, None);
            assert_eq!(off["monitor"], Value::Null);
            assert_eq!(
                off["serviceTemplates"],
                json!([spec["serviceTemplates"][0]])
            );
            let on = translate::monitoring_patch(&off, &db, Some(plan.monitor));
            assert_eq!(on["monitor"], spec["monitor"]);
            assert_eq!(on["serviceTemplates"], spec["serviceTemplates"]);
        }
        match (engine, ha) {
            (Engine::Mongodb, true) => assert_eq!(spec["replicaSet"]["name"], "rs0"),
            (Engine::Postgres, true) => {
                assert_eq!(spec["standbyMode"], "Hot");
                assert_eq!(spec["streamingMode"], "Asynchronous");
            }
            (Engine::Mysql, true) => {
                assert_eq!(spec["topology"]["mode"], "GroupReplication");
                assert_eq!(spec["topology"]["group"]["mode"], "Single-Primary");
            }
            (Engine::Mariadb, true) => assert_eq!(spec["topology"]["mode"], "GaleraCluster"),
            (Engine::Redis, true) => {
                assert_eq!(spec["mode"], "Cluster");
                assert_eq!(spec["cluster"], json!({"shards": 3, "replicas": 3}));
                assert!(spec.get("replicas").is_none());
            }
            (Engine::Redis, false) => assert_eq!(spec["mode"], "Standalone"),
            _ => {}
        }
        if !(engine == Engine::Redis && ha) {
            assert_eq!(spec["replicas"], db.replicas);
        }

        cluster
            .create_database(engine, &obj)
            .await
            .unwrap_or_else(|e| panic!("{name}: the simulated cluster refused it: {e}\n{obj:#}"));
        created += 1;
    }
    assert_eq!(created, 96);

    // the simulated operator takes every one of them to Ready
    for (engine, ha, monitoring, protection, user_secret) in variants() {
        let name = name_of(engine, ha, monitoring, protection, user_secret);
        let seen = common::wait_for(60, &format!("{name} Ready"), || {
            let cluster = cluster.clone();
            let (ns, name) = (ns.clone(), name.clone());
            async move {
                let o = cluster.get_database(engine, &ns, &name).await.ok()??;
                (o.phase.as_deref() == Some("Ready")).then_some(o)
            }
        })
        .await;
        assert_eq!(seen.replicas, Some(if ha { 3 } else { 1 }), "{name}");
        assert!(seen.size.is_some(), "{name}: size back-translates");
        if user_secret {
            assert_eq!(
                seen.auth_secret.as_deref(),
                Some(format!("{name}-auth").as_str())
            );
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn namespace_policy_and_secret_are_created() {
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let ns = translate::namespace_name("acme", "shop");
    let ns_obj = translate::namespace_object(&ns, "acme", "shop");
    cluster.ensure_namespace(&ns_obj).await.expect("namespace");
    cluster
        .ensure_namespace(&ns_obj)
        .await
        .expect("namespace again");

    let db = common::database(Engine::Postgres, "orders");
    let allowed = BTreeMap::from([("team".to_string(), "shop".to_string())]);
    let np = translate::network_policy(&db, &ns, &allowed);
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    let from = np["spec"]["ingress"][0]["from"].as_array().expect("from");
    assert!(from
        .contains(&json!({"namespaceSelector": {"matchLabels": {"dbaas.io/platform": "true"}}})));
    assert!(from.contains(&json!({"namespaceSelector": {"matchLabels": {"team": "shop"}}})));
    assert!(from.contains(&json!({"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "postgreses.kubedb.com", "app.kubernetes.io/instance": "orders"}}})));
    let no_tenant = translate::network_policy(&db, &ns, &BTreeMap::new());
    assert_eq!(
        no_tenant["spec"]["ingress"][0]["from"]
            .as_array()
            .map(Vec::len),
        Some(from.len() - 1)
    );
    cluster.ensure_object(&np).await.expect("network policy");
    cluster
        .ensure_object(&np)
        .await
        .expect("network policy again");

    let secret = translate::auth_secret(&db, &ns, "app", "pa:ss@word");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    cluster.ensure_object(&secret).await.expect("secret");
    // never patched: a second call with another password keeps the first
    let other = translate::auth_secret(&db, &ns, "app", "changed");
    cluster.ensure_object(&other).await.expect("secret again");
    let kept: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(sim.client(), &ns);
    let data = kept
        .get("orders-auth")
        .await
        .expect("secret")
        .data
        .unwrap_or_default();
    assert_eq!(
        data.get("password").map(|b| b.0.as_slice()),
        Some(&b"pa:ss@word"[..])
    );

    // a same-named secret of another database is a conflict
    let mut stranger = common::database(Engine::Postgres, "orders");
    stranger.id = "another-id".into();
    let foreign = translate::auth_secret(&stranger, &ns, "x", "y");
    let e = cluster.ensure_object(&foreign).await.expect_err("conflict");
    assert!(matches!(e, provider::ProviderError::Conflict(_)), "{e:?}");

    // read back through the plain kube client: labels as the brief names them
    let nss: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(sim.client());
    let got = nss.get(&ns).await.expect("namespace exists");
    let labels = got.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("kubedb-dbaas")
    );
    assert_eq!(
        labels.get("dbaas.io/domain").map(String::as_str),
        Some("acme")
    );
    assert_eq!(
        labels.get("dbaas.io/project").map(String::as_str),
        Some("shop")
    );

    // a pre-existing namespace without our labels is never adopted
    let bare = "dbaas-pre-existing";
    let plain = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": bare, "labels": {"keep": "me"}}});
    cluster
        .ensure_namespace(&plain)
        .await
        .expect("bare namespace");
    let e = cluster
        .ensure_namespace(&translate::namespace_object(bare, "pre", "existing"))
        .await
        .expect_err("not adopted");
    assert!(matches!(e, provider::ProviderError::Conflict(_)), "{e:?}");
    let got = nss.get(bare).await.expect("exists");
    let labels = got.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("keep").map(String::as_str), Some("me"));
    assert_eq!(labels.get("dbaas.io/project"), None, "untouched");

    // delete_object is idempotent
    for _ in 0..2 {
        cluster
            .delete_object(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                &ns,
                &translate::network_policy_name("orders"),
                &translate::Owner::of(&db),
            )
            .await
            .expect("delete policy");
    }
    sim.shutdown().await;
}

#[test]
fn connection_strings_round_trip_through_url_parsing() {
    let nasty = "p@ss:w/rd?#%&= +é";
    let user = "us@er:x";
    for engine in Engine::ALL {
        for host in ["db.ns.svc.cluster.local", "10.0.0.7", "fd00::7"] {
            let (database, url) =
                translate::connection_string(engine, user, nasty, host, engine.default_port());
            let parsed = url::Url::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .expect("utf8")
                    .to_string()
            };
            assert_eq!(dec(parsed.username()), user, "{url}");
            assert_eq!(dec(parsed.password().expect("password")), nasty, "{url}");
            assert_eq!(parsed.port(), Some(engine.default_port()), "{url}");
            let want_host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.to_string()
            };
            assert_eq!(parsed.host_str(), Some(want_host.as_str()), "{url}");
            assert_eq!(parsed.path().trim_start_matches('/'), database, "{url}");
            assert!(
                parsed.query().is_none() && parsed.fragment().is_none(),
                "{url}"
            );
        }
    }
    let (db, url) = translate::connection_string(Engine::Postgres, "postgres", "pw", "h", 5432);
    assert_eq!(
        (db.as_str(), url.as_str()),
        ("postgres", "postgresql://postgres:pw@h:5432/postgres")
    );
    let (db, url) = translate::connection_string(Engine::Mysql, "root", "pw", "h", 3306);
    assert_eq!(
        (db.as_str(), url.as_str()),
        ("mysql", "mysql://root:pw@h:3306/mysql")
    );
    let (db, url) = translate::connection_string(Engine::Mongodb, "root", "pw", "h", 27017);
    assert_eq!(
        (db.as_str(), url.as_str()),
        ("admin", "mongodb://root:pw@h:27017/admin")
    );
    let (db, url) = translate::connection_string(Engine::Redis, "default", "pw", "h", 6379);
    assert_eq!(
        (db.as_str(), url.as_str()),
        ("0", "redis://default:pw@h:6379/0")
    );
    let (db, url) = translate::connection_string(Engine::Elasticsearch, "elastic", "pw", "h", 9200);
    assert_eq!(
        (db.as_str(), url.as_str()),
        ("", "https://elastic:pw@h:9200")
    );
}

/// Every Kubernetes name the platform derives from user-chosen names, for one database.
fn derived_names(domain: &str, project: &str, db: &str) -> Vec<(&'static str, String)> {
    let ns = translate::namespace_name(domain, project);
    vec![
        ("namespace", ns.clone()),
        ("KubeDB object", format!("{ns}/{db}")),
        (
            "auth secret",
            format!("{ns}/{}", provider::kubedb::names::auth_secret_name(db)),
        ),
        (
            "network policy",
            format!("{ns}/{}", translate::network_policy_name(db)),
        ),
    ]
}

/// Names as the API accepts them (DNS labels), drawn from a tiny alphabet so that the splits an
/// attacker would try (`a-b`/`c` against `a`/`b-c`, a suffix that looks like a hash) come up often.
fn adversarial_label(max: usize) -> impl proptest::strategy::Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ab][ab1-]{{0,{max}}}[ab1]"))
        .expect("regex")
        .prop_filter("no empty", |s| !s.is_empty())
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Distinct (domain, project, database) triples never share a derived name, and every
    /// namespace is a DNS label that the ownership labels pin to exactly one project.
    #[test]
    fn derived_names_are_injective(
        triples in proptest::collection::vec(
            (adversarial_label(8), adversarial_label(10), adversarial_label(6)), 2..24),
        long in (adversarial_label(61), adversarial_label(61)),
    ) {
        let mut all = triples.clone();
        all.push((long.0.clone(), long.1.clone(), "db".into()));
        // the review's pair, each time
        all.push(("acme".into(), "corp-default-7a75ea56".into(), "orders".into()));
        all.push(("acme-corp".into(), "default".into(), "orders".into()));
        let mut owner_of: BTreeMap<(&'static str, String), (String, String, String)> = BTreeMap::new();
        for (d, p, n) in &all {
            let triple = (d.clone(), p.clone(), n.clone());
            for (what, name) in derived_names(d, p, n) {
                let key_owner = if what == "namespace" {
                    (d.clone(), p.clone(), String::new())
                } else {
                    triple.clone()
                };
                if let Some(prev) = owner_of.insert((what, name.clone()), key_owner.clone()) {
                    prop_assert_eq!(&prev, &key_owner, "{} {} derived twice", what, name);
                }
                if what == "namespace" {
                    prop_assert!(name.len() <= 63 && name.starts_with("dbaas-"), "{}", name);
                    prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                    prop_assert!(!name.ends_with('-'));
                }
            }
        }
    }
}
