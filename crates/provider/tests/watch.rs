//! The merged cluster watch: phase progression, deletions, resuming after cut watches, and
//! steady-state API traffic that does not grow with the number of databases.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use domain::engine::Engine;
use futures::{Stream, StreamExt};
use provider::translate::{self, CreatePlan, Owner};
use provider::{watch_cluster, Cluster, ClusterEvent, ProbeReport};

const ENGINES: [Engine; 6] = Engine::ALL;

async fn create(cluster: &Cluster, report: &ProbeReport, ns: &str, engine: Engine, name: &str) {
    let db = common::database(engine, name);
    let version = common::version_for(report, engine);
    let obj = translate::database_object(&CreatePlan {
        db: &db,
        namespace: ns,
        version_name: &version,
        auth_secret: None,
        storage_class: None,
        service_type: "ClusterIP",
        monitor: &translate::MonitorAgent::Builtin,
    });
    cluster.create_database(engine, &obj).await.expect("create");
}

async fn namespace(cluster: &Cluster, project: &str) -> String {
    let ns = translate::namespace_name("acme", project);
    cluster
        .ensure_namespace(&translate::namespace_object(&ns, "acme", project))
        .await
        .expect("namespace");
    ns
}

/// Reads events until `done` says so, or panics after `secs`.
async fn until<S: Stream<Item = ClusterEvent> + Unpin>(
    events: &mut S,
    secs: u64,
    what: &str,
    mut done: impl FnMut(&ClusterEvent) -> bool,
) -> Vec<ClusterEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(ev)) => {
                let stop = done(&ev);
                seen.push(ev);
                if stop {
                    return seen;
                }
            }
            Ok(None) => panic!("the watch stream ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; saw {} events", seen.len()),
        }
    }
}

#[tokio::test]
async fn phases_progress_to_ready_and_deletions_are_reported() {
    let sim = common::start_with(sim::SimConfig {
        // a visible Provisioning phase before Ready
        operator: sim::OperatorConfig {
            provisioning_delay: Duration::from_millis(1500),
            step_delay: Duration::ZERO,
        },
        ..common::sim_config()
    })
    .await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = namespace(&cluster, "watched").await;
    let mut events = Box::pin(watch_cluster(&cluster));

    // every stream lists first (empty here) and says so
    let mut resynced = BTreeSet::new();
    until(&mut events, 10, "initial resyncs", |ev| {
        if let ClusterEvent::Resynced { engine } = ev {
            resynced.insert(engine.map(|e| e.as_str()));
        }
        resynced.len() == 7
    })
    .await;

    let names: Vec<(Engine, String)> = ENGINES
        .iter()
        .map(|e| (*e, format!("w-{}", translate::meta(*e).short_name)))
        .collect();
    for (e, n) in &names {
        create(&cluster, &report, &ns, *e, n).await;
    }
    let mut phases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut services: BTreeSet<String> = BTreeSet::new();
    until(&mut events, 30, "all Ready", |ev| {
        match ev {
            ClusterEvent::Database(o) => {
                let p = o.phase.clone().unwrap_or_default();
                let list = phases.entry(o.name.clone()).or_default();
                if list.last() != Some(&p) {
                    list.push(p);
                }
                assert!(o.database_id.is_some(), "our label is read back");
            }
            ClusterEvent::Service { instance, .. } => {
                services.extend(instance.clone());
            }
            _ => {}
        }
        names
            .iter()
            .all(|(_, n)| phases.get(n).and_then(|p| p.last()).map(String::as_str) == Some("Ready"))
    })
    .await;
    for (_, n) in &names {
        let p = &phases[n];
        assert!(p.contains(&"Provisioning".to_string()), "{n}: {p:?}");
        assert_eq!(p.last().map(String::as_str), Some("Ready"), "{n}: {p:?}");
    }
    for (_, n) in &names {
        assert!(
            services.contains(n),
            "a Service event for {n}: {services:?}"
        );
    }

    // deletions
    for (e, n) in &names {
        cluster
            .delete_database(*e, &ns, n, &Owner::of(&common::database(*e, n)), true)
            .await
            .expect("delete");
    }
    let mut gone = BTreeSet::new();
    let mut seen_deleting = BTreeSet::new();
    until(&mut events, 30, "all gone", |ev| {
        match ev {
            ClusterEvent::DatabaseGone {
                name, database_id, ..
            } => {
                assert!(database_id.is_some());
                gone.insert(name.clone());
            }
            ClusterEvent::Database(o) if o.being_deleted => {
                seen_deleting.insert(o.name.clone());
            }
            _ => {}
        }
        gone.len() == names.len()
    })
    .await;
    assert!(
        !seen_deleting.is_empty(),
        "deletionTimestamp is surfaced while finalizers run"
    );
    sim.shutdown().await;
}

/// What a consumer would keep: the latest view of each database, and what is gone.
#[derive(Default)]
struct Tracker {
    latest: BTreeMap<String, provider::ObservedDatabase>,
    gone: BTreeSet<String>,
}

impl Tracker {
    fn apply(&mut self, ev: &ClusterEvent) {
        match ev {
            ClusterEvent::Database(o) => {
                self.gone.remove(&o.name);
                self.latest.insert(o.name.clone(), o.clone());
            }
            ClusterEvent::DatabaseGone { name, .. } => {
                self.latest.remove(name);
                self.gone.insert(name.clone());
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn cut_watches_resume_without_losing_the_final_state() {
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = namespace(&cluster, "cut").await;
    create(&cluster, &report, &ns, Engine::Postgres, "before").await;

    // every watch stream is cut after one second from now on
    sim.faults.update(|f| f.cut_watches_after_secs = Some(1));
    let mut events = Box::pin(watch_cluster(&cluster));
    let mut state = Tracker::default();

    // changes keep happening across several cuts
    let start = Instant::now();
    let mut made = Vec::new();
    for i in 0..6 {
        let name = format!("db-{i}");
        create(&cluster, &report, &ns, Engine::Redis, &name).await;
        made.push(name);
        let until = tokio::time::Instant::now() + Duration::from_millis(400);
        while let Ok(Some(ev)) = tokio::time::timeout_at(until, events.next()).await {
            state.apply(&ev);
        }
    }
    cluster
        .delete_database(
            Engine::Postgres,
            &ns,
            "before",
            &Owner::of(&common::database(Engine::Postgres, "before")),
            false,
        )
        .await
        .expect("delete");
    until(&mut events, 30, "the final state", |ev| {
        state.apply(ev);
        state.gone.contains("before")
            && made
                .iter()
                .all(|n| state.latest.get(n).and_then(|o| o.phase.as_deref()) == Some("Ready"))
    })
    .await;
    assert!(
        start.elapsed() > Duration::from_secs(2),
        "the stream outlived cuts"
    );
    let watches = sim
        .request_counts()
        .by_key
        .iter()
        .filter(|(k, _)| k.verb == "watch" && k.client == "kubedb-dbaas")
        .map(|(_, v)| *v)
        .sum::<u64>();
    assert!(
        watches > 7,
        "watches were cut and re-established ({watches})"
    );
    sim.faults.update(|f| f.cut_watches_after_secs = None);
    sim.shutdown().await;
}

/// Requests our client sends from the start of the watch through 3 s of steady state, by verb
/// and resource.
async fn watch_traffic(databases: usize) -> BTreeMap<String, u64> {
    let sim = common::start().await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = namespace(&cluster, "load").await;
    let engines = [
        Engine::Postgres,
        Engine::Redis,
        Engine::Mongodb,
        Engine::Mysql,
    ];
    for i in 0..databases {
        let e = engines[i % engines.len()];
        create(&cluster, &report, &ns, e, &format!("d{i}")).await;
    }
    // let the operator settle everything before measuring
    common::wait_for(120, "all databases Ready", || {
        let client = sim.client();
        let ns = ns.clone();
        async move {
            let mut ready = 0;
            for e in engines {
                let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
                    client.clone(),
                    &ns,
                    &provider::cluster::database_resource(e),
                );
                let list = api.list(&Default::default()).await.ok()?;
                ready += list
                    .items
                    .iter()
                    .filter(|o| o.data["status"]["phase"] == "Ready")
                    .count();
            }
            (ready == databases).then_some(())
        }
    })
    .await;

    sim.reset_request_counts();
    let mut events = Box::pin(watch_cluster(&cluster));
    let mut resynced = 0;
    let mut dbs = 0;
    until(&mut events, 60, "initial lists", |ev| {
        match ev {
            ClusterEvent::Resynced { .. } => resynced += 1,
            ClusterEvent::Database(_) => dbs += 1,
            _ => {}
        }
        resynced == 7
    })
    .await;
    assert_eq!(
        dbs, databases,
        "every database reported once by the initial lists"
    );
    // steady state: the watches stay open; drain whatever still arrives
    let quiet_until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(_)) = tokio::time::timeout_at(quiet_until, events.next()).await {}
    let ours: BTreeMap<String, u64> = sim
        .request_counts()
        .by_key
        .into_iter()
        .filter(|(k, _)| k.client == "kubedb-dbaas")
        .map(|(k, v)| (format!("{} {}", k.verb, k.resource), v))
        .collect();
    sim.shutdown().await;
    ours
}

#[tokio::test]
async fn steady_state_traffic_does_not_grow_with_databases() {
    let small = watch_traffic(10).await;
    let large = watch_traffic(200).await;
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    eprintln!(
        "watch requests, start + 3 s steady state: 10 dbs → {} {small:?}; 200 dbs → {} {large:?}",
        total(&small),
        total(&large)
    );
    // one list and one watch per stream (6 database kinds, their 6 OpsRequest kinds, Services,
    // the platform's NetworkPolicies and Secrets), whatever the count
    for m in [&small, &large] {
        assert_eq!(
            m.keys().filter(|k| k.starts_with("list ")).count(),
            15,
            "{m:?}"
        );
        assert!(
            m.keys()
                .all(|k| k.starts_with("list ") || k.starts_with("watch ")),
            "{m:?}"
        );
        assert!(total(m) <= 32, "{m:?}");
    }
    assert!(total(&large) <= total(&small) + 2, "{small:?} vs {large:?}");
}

#[tokio::test]
async fn deletions_missed_while_disconnected_are_reported_after_the_relist() {
    // a short event history, so resuming from an old resourceVersion gets 410 Gone and relists
    let sim = common::start_with(sim::SimConfig {
        watch_history: 8,
        ..common::sim_config()
    })
    .await;
    let cluster = common::cluster(&sim).await;
    let report = cluster.probe().await.expect("probe");
    let ns = namespace(&cluster, "relist").await;
    create(&cluster, &report, &ns, Engine::Postgres, "victim").await;
    // watches end after a second; the watcher only reconnects while someone reads the stream
    sim.faults.update(|f| f.cut_watches_after_secs = Some(1));
    let mut events = Box::pin(watch_cluster(&cluster));
    let mut state = Tracker::default();
    until(&mut events, 30, "victim Ready", |ev| {
        state.apply(ev);
        state.latest.get("victim").and_then(|o| o.phase.as_deref()) == Some("Ready")
    })
    .await;

    // stop reading until the open watches are cut, then change things while disconnected
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster
        .delete_database(
            Engine::Postgres,
            &ns,
            "victim",
            &Owner::of(&common::database(Engine::Postgres, "victim")),
            true,
        )
        .await
        .expect("delete");
    for i in 0..4 {
        create(
            &cluster,
            &report,
            &ns,
            Engine::Postgres,
            &format!("later-{i}"),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut relisted = false;
    until(&mut events, 30, "victim reported gone", |ev| {
        state.apply(ev);
        if matches!(
            ev,
            ClusterEvent::Resynced {
                engine: Some(Engine::Postgres)
            }
        ) {
            relisted = true;
        }
        relisted
            && state.gone.contains("victim")
            && (0..4).all(|i| state.latest.contains_key(&format!("later-{i}")))
    })
    .await;
    assert!(
        relisted,
        "the postgres stream relisted after its resourceVersion expired"
    );
    sim.faults.update(|f| f.cut_watches_after_secs = None);
    sim.shutdown().await;
}
