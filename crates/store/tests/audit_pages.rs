//! Audit pages: the wire-ready JSON page (`list_audit_json`) against the decoded one
//! (`list_audit`), exact filters and pagination over ties, and a `total` that follows writes.
//! Each test runs once per backend, like `suite.rs`; PostgreSQL must be reachable.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome, AuditScope};
use domain::model::PageRequest;
use store::testing::{fresh_postgres_url, fresh_sqlite_url};
use store::{Cipher, Store};

struct Env {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

fn cipher() -> Cipher {
    Cipher::new([7u8; 32])
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_sqlite_url(dir.path());
    let store = store::connect(&url, cipher()).await.expect("open sqlite");
    Env {
        store,
        url,
        _dir: Some(dir),
    }
}

async fn postgres_env() -> Env {
    let url = fresh_postgres_url().await;
    let store = store::connect(&url, cipher()).await.expect("open postgres");
    Env {
        store,
        url,
        _dir: None,
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::sqlite_env().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::postgres_env().await).await;
                }
            )*
        }
    };
}

both_backends!(
    json_page_is_the_decoded_page_encoded,
    filters_and_pages_are_exact_over_ties,
    total_follows_writes_at_once,
);

fn page(page: i64, page_size: i64) -> PageRequest {
    PageRequest { page, page_size }
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().unwrap()
}

/// Entry `i`: every third one shares its timestamp with the previous ones (ties broken by id);
/// fractions of 0, 3 and 6 digits; odd fields empty; text that JSON must escape.
fn entry(i: usize) -> AuditEntry {
    let micros = match (i / 3) % 4 {
        0 => 0,
        1 => 250_000,
        2 => 123_456,
        _ => 7,
    };
    let at =
        base() + chrono::Duration::seconds((i / 3) as i64) + chrono::Duration::microseconds(micros);
    let (domain, project) = match i % 3 {
        0 => (Some("acme"), Some("web")),
        1 => (Some("acme"), None),
        _ => (Some("globex"), Some("api")),
    };
    let odd = i % 2 == 1;
    AuditEntry {
        id: format!("audit-{i:04}"),
        action: if odd {
            "tenant.update"
        } else {
            "database.create"
        }
        .into(),
        resource_type: if odd { "tenant" } else { "database" }.into(),
        resource_id: (!odd).then(|| format!("db-{i}")),
        domain: domain.map(str::to_string),
        project: project.map(str::to_string),
        user_id: Some(format!("user-{}", i % 4)),
        user_email: (!odd).then(|| "zoë@example.com".to_string()),
        ip_address: Some("10.0.0.9".into()),
        user_agent: Some("curl/8 \"quoted\" \\ back\tslash\nnew line \u{1} ctl ☃".into()),
        request_method: Some("POST".into()),
        request_path: odd.then(|| "/api/v1/tenants/acme".to_string()),
        status: if i.is_multiple_of(5) {
            AuditOutcome::Failure
        } else {
            AuditOutcome::Success
        },
        status_code: if odd { None } else { Some(202) },
        details: serde_json::json!({
            "n": i, "f": 1.5, "big": 12345678901234_i64, "neg": -3, "yes": true, "none": null,
            "list": [1, "two", {"three": 3}], "text": "ünïcode \"q\" \\ /",
            "nested": {"b": 1, "a": [], "c": {}}
        }),
        timestamp: at,
    }
}

async fn seed(s: &dyn Store, n: usize) -> Vec<AuditEntry> {
    let mut all = Vec::new();
    for i in 0..n {
        let e = entry(i);
        s.insert_audit(&e).await.unwrap();
        all.push(e);
    }
    all
}

/// What a filter must select, newest first (timestamp, then id, descending).
fn expected(all: &[AuditEntry], keep: impl Fn(&AuditEntry) -> bool) -> Vec<AuditEntry> {
    let mut v: Vec<AuditEntry> = all.iter().filter(|e| keep(e)).cloned().collect();
    v.sort_by(|a, b| (b.timestamp, &b.id).cmp(&(a.timestamp, &a.id)));
    v
}

/// A named filter and the rule it must apply.
type Case = (&'static str, AuditFilter, fn(&AuditEntry) -> bool);

fn filters() -> Vec<Case> {
    let scoped = |scopes: Vec<AuditScope>| AuditFilter {
        scopes: Some(scopes),
        ..Default::default()
    };
    vec![
        ("all", AuditFilter::default(), |_| true),
        (
            "action",
            AuditFilter {
                action: Some("tenant.update".into()),
                ..Default::default()
            },
            |e| e.action == "tenant.update",
        ),
        (
            "domain",
            AuditFilter {
                domain: Some("acme".into()),
                ..Default::default()
            },
            |e| e.domain.as_deref() == Some("acme"),
        ),
        (
            "failures of one user",
            AuditFilter {
                status: Some(AuditOutcome::Failure),
                user_id: Some("user-0".into()),
                ..Default::default()
            },
            |e| e.status == AuditOutcome::Failure && e.user_id.as_deref() == Some("user-0"),
        ),
        (
            "window",
            AuditFilter {
                since: Some(base() + chrono::Duration::seconds(3)),
                until: Some(base() + chrono::Duration::seconds(9)),
                ..Default::default()
            },
            |e| {
                e.timestamp >= base() + chrono::Duration::seconds(3)
                    && e.timestamp <= base() + chrono::Duration::seconds(9)
            },
        ),
        (
            "project scope",
            scoped(vec![AuditScope {
                domain: "acme".into(),
                project: Some("web".into()),
            }]),
            |e| e.domain.as_deref() == Some("acme") && e.project.as_deref() == Some("web"),
        ),
        (
            "two scopes",
            scoped(vec![
                AuditScope {
                    domain: "acme".into(),
                    project: Some("web".into()),
                },
                AuditScope {
                    domain: "globex".into(),
                    project: None,
                },
            ]),
            |e| {
                (e.domain.as_deref() == Some("acme") && e.project.as_deref() == Some("web"))
                    || e.domain.as_deref() == Some("globex")
            },
        ),
        ("no scope", scoped(vec![]), |_| false),
    ]
}

async fn json_page_is_the_decoded_page_encoded(env: Env) {
    let s = &*env.store;
    let all = seed(s, 40).await;
    for (name, f, keep) in filters() {
        let want = expected(&all, keep);
        for (p, size) in [(1, 100), (1, 7), (2, 7), (6, 7), (50, 7)] {
            let rows = s.list_audit(&f, page(p, size)).await.unwrap();
            let json = s.list_audit_json(&f, page(p, size)).await.unwrap();
            assert_eq!(
                json.entries,
                serde_json::to_string(&rows.items).unwrap(),
                "{name}, page {p}: the JSON page must be byte for byte the decoded page encoded"
            );
            assert_eq!(
                (json.total, json.page, json.page_size),
                (want.len() as i64, p, size),
                "{name}"
            );
            assert_eq!(rows.total, want.len() as i64, "{name}");
            let decoded: Vec<AuditEntry> = serde_json::from_str(&json.entries).unwrap();
            let start = ((p - 1) * size) as usize;
            let slice: Vec<AuditEntry> = want
                .iter()
                .skip(start)
                .take(size as usize)
                .cloned()
                .collect();
            assert_eq!(decoded, slice, "{name}, page {p}: every field kept");
        }
    }
}

async fn filters_and_pages_are_exact_over_ties(env: Env) {
    let s = &*env.store;
    // 60 entries, three per second: walking every page must yield each entry exactly once, in order.
    let all = seed(s, 60).await;
    for (name, f, keep) in filters() {
        let want = expected(&all, keep);
        let mut walked = Vec::new();
        for p in 1.. {
            let pg = s.list_audit_json(&f, page(p, 4)).await.unwrap();
            assert_eq!(pg.total, want.len() as i64, "{name}");
            let items: Vec<AuditEntry> = serde_json::from_str(&pg.entries).unwrap();
            if items.is_empty() {
                break;
            }
            walked.extend(items);
        }
        let ids = |v: &[AuditEntry]| v.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&walked), ids(&want), "{name}");
    }
}

async fn total_follows_writes_at_once(env: Env) {
    let s = &*env.store;
    seed(s, 10).await;
    let acme = AuditFilter {
        domain: Some("acme".into()),
        ..Default::default()
    };
    let all = AuditFilter::default();
    assert_eq!(
        s.list_audit_json(&all, page(1, 100)).await.unwrap().total,
        10
    );
    let acme_before = s.list_audit(&acme, page(1, 100)).await.unwrap().total;

    // Each write shows in the very next read, well within any caching window.
    for i in 10..15 {
        let e = entry(i);
        s.insert_audit(&e).await.unwrap();
        let p = s.list_audit_json(&all, page(1, 1)).await.unwrap();
        assert_eq!(p.total, i as i64 + 1);
        let first: Vec<AuditEntry> = serde_json::from_str(&p.entries).unwrap();
        assert_eq!(first[0].id, e.id, "the new entry comes first");
        assert_eq!(
            s.list_audit(&all, page(1, 1)).await.unwrap().total,
            i as i64 + 1
        );
    }
    let acme_now = s.list_audit(&acme, page(1, 100)).await.unwrap().total;
    let added_to_acme = (10..15).filter(|i| i % 3 != 2).count() as i64;
    assert_eq!(acme_now, acme_before + added_to_acme);

    // A failed write (duplicate id) changes nothing.
    assert!(s.insert_audit(&entry(3)).await.is_err());
    assert_eq!(s.list_audit_json(&all, page(1, 1)).await.unwrap().total, 15);

    // Purges show at once too.
    let purged = s
        .purge_audit_before(base() + chrono::Duration::seconds(2), None)
        .await
        .unwrap();
    assert_eq!(purged, 6);
    assert_eq!(s.list_audit_json(&all, page(1, 1)).await.unwrap().total, 9);

    // Another replica's write may show late, but within a second.
    let other = store::connect(&env.url, cipher()).await.unwrap();
    other.insert_audit(&entry(99)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.list_audit_json(&all, page(1, 1)).await.unwrap().total, 10);
    assert_eq!(
        s.list_audit(&all, page(1, 100)).await.unwrap().items.len(),
        10
    );
}
