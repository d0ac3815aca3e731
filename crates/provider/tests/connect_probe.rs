//! Onboarding: kubeconfig handling, the reasons a probe gives, TLS, the client cache and the
//! per-provider rate limit.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use domain::engine::Engine;
use futures::FutureExt;
use provider::{ClientCache, Cluster, ProviderError};
use sim::SimConfig;

fn edit_kubeconfig(yaml: &str, f: impl FnOnce(&mut serde_yaml::Value)) -> String {
    let mut v: serde_yaml::Value = serde_yaml::from_str(yaml).expect("kubeconfig yaml");
    f(&mut v);
    serde_yaml::to_string(&v).expect("yaml")
}

#[tokio::test]
async fn probe_reads_version_crds_catalog_and_nodes() {
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let r = cluster.probe().await.expect("probe");
    assert!(r.server_version.starts_with("v1."), "{}", r.server_version);
    assert!(r.kubedb_installed);
    assert!(r.missing_crds.is_empty(), "{:?}", r.missing_crds);
    let mut engines = r.engines.clone();
    engines.sort();
    let mut all = Engine::ALL.to_vec();
    all.sort();
    assert_eq!(engines, all);
    for e in Engine::ALL {
        assert!(
            r.catalog.iter().any(|c| c.engine == e && !c.deprecated),
            "{e} offered"
        );
    }
    assert!(
        r.catalog.iter().any(|c| c.deprecated),
        "deprecated versions are listed too"
    );
    assert!(r.catalog.iter().any(|c| c.engine == Engine::Elasticsearch
        && c.name.starts_with("xpack-")
        && c.version != c.name));
    assert!(r.catalog.iter().any(|c| c.distribution.is_some()));
    assert_eq!(r.nodes.nodes, 3);
    assert!((r.nodes.cpu_cores - 24.0).abs() < 1e-9, "{:?}", r.nodes);
    assert!((r.nodes.memory_gb - 96.0).abs() < 1e-9, "{:?}", r.nodes);
    assert!(
        (r.nodes.ephemeral_storage_gb - 600.0).abs() < 1e-9,
        "{:?}",
        r.nodes
    );
    r.require_kubedb().expect("installed");

    // the same through base64 of the kubeconfig
    let b64 = base64::engine::general_purpose::STANDARD.encode(&sim.kubeconfig_yaml);
    let c2 = Cluster::connect(&b64, true)
        .await
        .expect("base64 kubeconfig");
    assert_eq!(
        c2.probe().await.expect("probe").server_version,
        r.server_version
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unreachable_cluster_is_transient_with_a_reason() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
    );
    let cluster = Cluster::connect(&kc, true)
        .await
        .expect("client builds offline");
    let start = Instant::now();
    let e = cluster.probe().await.expect_err("nothing listens");
    assert!(e.is_transient(), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("cannot reach https://127.0.0.1:{port}")),
        "{msg}"
    );
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn bad_token_is_permanent_unauthorized() {
    let sim = common::start().await;
    let kc = edit_kubeconfig(&sim.kubeconfig_yaml, |v| {
        v["users"][0]["user"]["token"] = "wrong-token".into();
    });
    let cluster = Cluster::connect(&kc, true).await.expect("builds");
    let e = cluster.probe().await.expect_err("refused");
    assert!(
        matches!(&e, ProviderError::Permanent(m) if m.starts_with("unauthorized")),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "unauthorized: the kubeconfig's credentials were refused"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn garbage_kubeconfig_is_invalid() {
    for bad in [
        "garbage",
        "{}",
        "clusters: 7",
        "apiVersion: v1\nkind: Config\nclusters: []\n",
        "!!!not base64!!!",
    ] {
        let e = Cluster::connect(bad, true).await.expect_err(bad);
        assert!(
            matches!(e, ProviderError::InvalidKubeconfig(_)),
            "{bad:?}: {e:?}"
        );
        let Err(e) = provider::client_from_kubeconfig(bad, true).await else {
            panic!("{bad:?} accepted");
        };
        assert!(e.to_string().starts_with("invalid kubeconfig: "), "{e}");
    }
    // a context that names no cluster
    let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://h\ncurrent-context: missing\n";
    let e = Cluster::connect(kc, true)
        .await
        .expect_err("no such context");
    assert!(matches!(e, ProviderError::InvalidKubeconfig(_)), "{e:?}");
}

#[tokio::test]
async fn tls_verification_follows_verify_ssl() {
    let sim = common::start_with(SimConfig {
        tls: true,
        ..common::sim_config()
    })
    .await;
    assert!(sim.url.starts_with("https://"));
    // with the CA in the kubeconfig, verification succeeds
    let ok = Cluster::connect(&sim.kubeconfig_yaml, true)
        .await
        .expect("client");
    ok.probe().await.expect("verified TLS");

    // a kubeconfig without the CA: the self-signed certificate is only accepted when told to
    let no_ca = edit_kubeconfig(&sim.kubeconfig_yaml, |v| {
        if let Some(m) = v["clusters"][0]["cluster"].as_mapping_mut() {
            m.remove("certificate-authority-data");
        }
    });
    let lax = Cluster::connect(&no_ca, false).await.expect("client");
    lax.probe()
        .await
        .expect("verify_ssl=false accepts the self-signed certificate");
    let strict = Cluster::connect(&no_ca, true).await.expect("client");
    let e = strict.probe().await.expect_err("untrusted certificate");
    assert!(!e.is_transient(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("TLS"), "{msg}");
    assert!(msg.contains("verify_ssl"), "{msg}");
    assert!(msg.contains(&sim.url), "{msg}");

    // verify_ssl=true wins over the kubeconfig's insecure-skip-tls-verify
    let skip = edit_kubeconfig(&no_ca, |v| {
        v["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = true.into();
    });
    let e = Cluster::connect(&skip, true)
        .await
        .expect("client")
        .probe()
        .await;
    assert!(e.is_err(), "verification stays on");
    sim.shutdown().await;
}

#[tokio::test]
async fn client_cache_reuses_rebuilds_and_invalidates() {
    let sim = common::start().await;
    let cache = ClientCache::new(Duration::from_secs(600), 50, 100);
    let calls = Arc::new(AtomicUsize::new(0));
    let get = |fp: &'static str| {
        let calls = calls.clone();
        let kc = sim.kubeconfig_yaml.clone();
        let cache = &cache;
        async move {
            cache
                .get("prov-1", fp, true, move || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async move { Ok(kc) }.boxed()
                })
                .await
        }
    };
    let c = get("t1").await.expect("built");
    c.probe().await.expect("works");
    get("t1").await.expect("cached");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "second get is a hit");
    get("t2").await.expect("rebuilt");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a new fingerprint rebuilds"
    );
    cache.invalidate("prov-1").await;
    get("t2").await.expect("rebuilt");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "invalidate drops the entry"
    );

    // the kubeconfig source's error comes through untouched
    let e = cache
        .get("prov-2", "x", true, || {
            async { Err(ProviderError::Permanent("cannot decrypt".into())) }.boxed()
        })
        .await
        .expect_err("source failed");
    assert_eq!(e.to_string(), "cannot decrypt");

    // a short TTL expires entries
    let short = ClientCache::new(Duration::from_millis(200), 50, 100);
    let n = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let n = n.clone();
        let kc = sim.kubeconfig_yaml.clone();
        short
            .get("p", "f", true, move || {
                n.fetch_add(1, Ordering::SeqCst);
                async move { Ok(kc) }.boxed()
            })
            .await
            .expect("built");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(n.load(Ordering::SeqCst), 2, "expired entry was rebuilt");
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_through_a_cluster_honour_the_rate_limit() {
    let sim = common::start().await;
    // 10 req/s, burst 1: 21 requests need about 2 s; they wait rather than fail
    let cache = ClientCache::new(Duration::from_secs(600), 10, 1);
    let kc = sim.kubeconfig_yaml.clone();
    let cluster = cache
        .get("p", "f", true, move || async move { Ok(kc) }.boxed())
        .await
        .expect("cluster");
    let start = Instant::now();
    let ns = "default";
    let mut tasks = Vec::new();
    for _ in 0..21 {
        let c = cluster.clone();
        tasks.push(tokio::spawn(async move {
            let db = common::database(Engine::Postgres, "nope");
            c.read_credentials(
                Engine::Postgres,
                ns,
                "nope",
                &provider::translate::Owner::of(&db),
            )
            .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("no error"), None);
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    sim.shutdown().await;
}
