//! The store's behaviour, written once and run against both backends (a fresh SQLite file and a
//! fresh PostgreSQL database per test). PostgreSQL must be reachable: these tests fail otherwise.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use domain::access::{Binding, KeyScope, Role, Suspensions};
use domain::audit::{AuditEntry, AuditFilter, AuditOutcome, AuditScope};
use domain::engine::{Engine, Size};
use domain::ids::{new_id, IdKind};
use domain::invitation::{Invitation, InvitationStatus};
use domain::model::{
    ApiKey, CurrentState, Database, Operation, PageRequest, Plan, Project, Provider,
    ProviderCapacity, RefreshToken, Tenant, User,
};
use domain::placement::Placement;
use domain::quota::{QuotaLimits, Usage};
use domain::status::{DatabaseStatus, OperationStatus, OperationType};
use domain::DomainError;
use store::testing::{fresh_postgres_url, fresh_sqlite_url};
use store::{
    Cipher, DatabaseFilter, OperationFilter, OperationOutcome, ProviderFilter, Store, StoreError,
    Visibility,
};

// ---------------------------------------------------------------- harness

struct Env {
    store: Arc<dyn Store>,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

fn cipher() -> Cipher {
    Cipher::new([42u8; 32])
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_sqlite_url(dir.path());
    let store = store::connect(&url, cipher())
        .await
        .expect("open sqlite store");
    assert_eq!(store.backend(), "sqlite");
    Env {
        store,
        url,
        _dir: Some(dir),
    }
}

async fn postgres_env() -> Env {
    let url = fresh_postgres_url().await;
    let store = store::connect(&url, cipher())
        .await
        .expect("open postgres store");
    assert_eq!(store.backend(), "postgres");
    Env {
        store,
        url,
        _dir: None,
    }
}

/// Each listed test runs once per backend: `sqlite::name` and `postgres::name`.
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
    migrations_are_idempotent,
    users_and_bindings,
    register_is_all_or_nothing,
    api_keys,
    refresh_rotation_and_reuse,
    tenants_and_projects,
    providers_keep_kubeconfig_encrypted,
    databases_filters_and_pagination,
    quotas_resize_and_release,
    hundred_concurrent_creates_admit_exactly_ten,
    concurrent_placement_never_overallocates,
    queue_claims_in_order_one_per_database,
    expired_leases_are_reclaimed,
    retry_backoff_progress_and_completion,
    cancel_only_when_queued,
    queue_stats_count_unfinished,
    concurrent_claimers_never_double_claim,
    operations_listing_and_visibility,
    audit_filters_scopes_and_purge,
    write_generation_moves_with_every_write,
    other_replicas_writes_move_the_generation,
    parked_operations_hold_no_worker_and_wake,
    claims_prefer_the_least_busy_domain,
    nothing_runs_without_a_reservation,
    one_lease_holder_and_its_term_fences,
    fenced_writes_apply_only_in_their_term,
    backup_storage_and_records,
);

// ---------------------------------------------------------------- fixtures

/// Now, at the microsecond precision both backends keep.
fn now() -> DateTime<Utc> {
    let n = Utc::now();
    Utc.timestamp_micros(n.timestamp_micros())
        .single()
        .expect("valid time")
}

fn user(email: &str) -> User {
    let t = now();
    User {
        id: new_id(IdKind::User),
        email: email.into(),
        full_name: format!("User {email}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_active: true,
        created_at: t,
        updated_at: t,
        last_login_at: None,
    }
}

fn big_quota() -> QuotaLimits {
    QuotaLimits {
        max_cpu_cores: 10_000.0,
        max_memory_gb: 10_000.0,
        max_storage_gb: 1_000_000.0,
        max_databases: 100_000,
        max_backups: 1000,
    }
}

fn tenant(name: &str, quota: QuotaLimits) -> Tenant {
    let t = now();
    Tenant {
        name: name.into(),
        display_name: format!("Tenant {name}"),
        plan: Plan::Starter,
        contact_email: Some(format!("ops@{name}.test")),
        quota,
        metadata: serde_json::json!({"tier": "gold"}),
        is_active: true,
        created_at: t,
        updated_at: t,
    }
}

fn project(domain: &str, name: &str, quota: QuotaLimits) -> Project {
    let t = now();
    Project {
        domain: domain.into(),
        name: name.into(),
        display_name: format!("Project {name}"),
        description: Some("a project".into()),
        quota,
        metadata: serde_json::json!({}),
        is_active: true,
        created_at: t,
        updated_at: t,
    }
}

fn provider(name: &str, cpu: f64, priority: i32) -> Provider {
    let t = now();
    Provider {
        id: new_id(IdKind::Provider),
        name: name.into(),
        region: "eu-west".into(),
        availability_zone: Some("eu-west-1a".into()),
        cloud_provider: Some("kind".into()),
        domain: None,
        capacity: ProviderCapacity {
            cpu_total_cores: cpu,
            memory_total_gb: 1000.0,
            storage_total_gb: 100_000.0,
            cpu_reservation_percent: 100.0,
            memory_reservation_percent: 100.0,
            storage_reservation_percent: 100.0,
        },
        allocated: Usage::default(),
        verify_ssl: true,
        enable_loadbalancer: false,
        is_active: true,
        is_maintenance: false,
        priority,
        tags: vec!["ssd".into()],
        metadata: serde_json::json!({"owner": "platform"}),
        kubedb: serde_json::json!({"installed": true, "engines": ["postgres"]}),
        connection: serde_json::json!({"status": "connected"}),
        created_at: t,
        updated_at: t,
    }
}

fn database(domain: &str, project: &str, name: &str) -> Database {
    let t = now();
    let size = Size::Micro;
    Database {
        id: new_id(IdKind::Database),
        name: name.into(),
        domain: domain.into(),
        project: project.into(),
        engine: Engine::Postgres,
        version: "16.4".into(),
        size,
        storage_gb: 10,
        replicas: 1,
        ready_replicas: 0,
        status: DatabaseStatus::Pending,
        health_status: None,
        kubedb_phase: None,
        backup_enabled: true,
        backup_schedule: "daily".into(),
        backup_retention_days: 7,
        high_availability: false,
        monitoring_enabled: true,
        deletion_protection: false,
        endpoint: None,
        port: None,
        service_type: None,
        loadbalancer_ip: None,
        labels: BTreeMap::from([("team".to_string(), "core".to_string())]),
        annotations: BTreeMap::new(),
        provider_id: None,
        namespace: None,
        kubedb_resource_name: None,
        current: CurrentState::default(),
        upgrade_policy: None,
        conditions: serde_json::json!([]),
        reserved: Usage::of_database(size, 10, 1),
        created_at: t,
        updated_at: t,
    }
}

fn operation(db: &Database, op_type: OperationType) -> Operation {
    let t = now();
    Operation {
        id: new_id(IdKind::Operation),
        database_id: db.id.clone(),
        op_type,
        status: OperationStatus::Queued,
        progress: 0,
        message: None,
        desired_state: serde_json::json!({"replicas": db.replicas}),
        ops_request_name: None,
        ops_request_phase: None,
        error_message: None,
        retry_count: 0,
        max_retries: 3,
        created_by: Some("user-x".into()),
        domain: db.domain.clone(),
        project: db.project.clone(),
        lease_owner: None,
        lease_expires_at: None,
        run_after: t,
        created_at: t,
        started_at: None,
        completed_at: None,
        estimated_completion_at: None,
    }
}

fn page(page: i64, page_size: i64) -> PageRequest {
    PageRequest { page, page_size }
}

/// A tenant with one project, both with roomy quotas unless given.
async fn tenancy(s: &dyn Store, domain: &str, proj: &str, project_quota: QuotaLimits) {
    s.create_tenant(&tenant(domain, big_quota())).await.unwrap();
    s.create_project(&project(domain, proj, project_quota))
        .await
        .unwrap();
}

/// Creates a database with its create operation, unplaced.
async fn add_db(s: &dyn Store, domain: &str, proj: &str, name: &str) -> Database {
    let db = database(domain, proj, name);
    s.create_database(&db, &operation(&db, OperationType::Create), None, &[])
        .await
        .unwrap()
}

fn is_quota(e: &StoreError) -> bool {
    matches!(e, StoreError::Domain(DomainError::QuotaExceeded { .. }))
}

// ---------------------------------------------------------------- tests

/// What cached database reads key on: unchanged by reads and by writes elsewhere (audit),
/// moved by every write of database records (plain statement or transaction), and only offered
/// where this process is the only writer.
async fn write_generation_moves_with_every_write(env: Env) {
    let s = env.store.as_ref();
    if s.backend() == "postgres" {
        // Other replicas' writes arrive whenever they do: see the next test.
        return;
    }
    let g0 = s.databases_generation().expect("SQLite sees every write");
    tenancy(s, "gen", "p", big_quota()).await;
    let g1 = s.databases_generation().unwrap();
    assert!(g1 > g0, "creating a tenant and project moved nothing");
    let db = add_db(s, "gen", "p", "one").await;
    let g2 = s.databases_generation().unwrap();
    assert!(g2 > g1, "a create transaction moved nothing");
    s.get_database(&db.id).await.unwrap();
    s.list_databases("gen", "p", &DatabaseFilter::default(), page(1, 10))
        .await
        .unwrap();
    assert_eq!(s.databases_generation(), Some(g2), "a read moved it");
    s.insert_audit(&audit("database.get", Some("gen"), Some("p"), now(), true))
        .await
        .unwrap();
    assert_eq!(
        s.databases_generation(),
        Some(g2),
        "an audit entry moved it"
    );
    let patch = store::DatabasePatch {
        ready_replicas: Some(1),
        ..Default::default()
    };
    assert!(s.patch_database(&db.id, &patch, now()).await.unwrap());
    let g3 = s.databases_generation().unwrap();
    assert!(g3 > g2, "a patch moved nothing");
    s.release_reservation(&db.id, None).await.unwrap();
    assert!(
        s.databases_generation().unwrap() > g3,
        "a release moved nothing"
    );
}

/// On PostgreSQL, a database record written by another replica moves this one's generation as
/// soon as the commit's notification arrives, so nothing cached before it is served after it.
async fn other_replicas_writes_move_the_generation(env: Env) {
    if env.store.backend() == "sqlite" {
        // One serving process owns a SQLite file: there is no other writer to hear.
        return;
    }
    let s = env.store.as_ref();
    let other = store::connect(&env.url, cipher()).await.unwrap();
    tenancy(other.as_ref(), "far", "p", big_quota()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let g0 = loop {
        if let Some(g) = s.databases_generation() {
            break g;
        }
        assert!(std::time::Instant::now() < deadline, "never listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let db = add_db(other.as_ref(), "far", "p", "elsewhere").await;
    while s.databases_generation().unwrap_or(g0) == g0 {
        assert!(
            std::time::Instant::now() < deadline,
            "another replica's write was never heard"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(s.get_database(&db.id).await.unwrap().is_some());
    // A write that changes no record (a lost compare-and-set) announces nothing.
    let g1 = s.databases_generation().unwrap();
    let nothing = store::DatabasePatch {
        ready_replicas: Some(3),
        expect_status: vec![DatabaseStatus::Deleted],
        ..Default::default()
    };
    assert!(!other.patch_database(&db.id, &nothing, now()).await.unwrap());
    // …whereas a real one does; heard after the empty one would have been.
    let real = store::DatabasePatch {
        ready_replicas: Some(2),
        ..Default::default()
    };
    assert!(other.patch_database(&db.id, &real, now()).await.unwrap());
    while s.databases_generation().unwrap_or(g1) == g1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the patch was never heard"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        s.databases_generation(),
        Some(g1 + 1),
        "one notification per committed change"
    );
}

async fn migrations_are_idempotent(env: Env) {
    store::run_migrations(&env.url).await.unwrap();
    store::run_migrations(&env.url).await.unwrap();
    env.store.ping().await.unwrap();
    // A second store on the same database sees the same data.
    env.store
        .create_tenant(&tenant("acme", big_quota()))
        .await
        .unwrap();
    let again = store::connect(&env.url, cipher()).await.unwrap();
    assert!(again.get_tenant("acme").await.unwrap().is_some());
}

async fn users_and_bindings(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", QuotaLimits::default()).await;
    let admin = user("Admin@Example.com");
    s.create_user(&admin, &[Binding::platform_admin()])
        .await
        .unwrap();

    let got = s.get_user(&admin.id).await.unwrap().unwrap();
    assert_eq!(got.user, admin);
    assert_eq!(got.bindings, vec![Binding::platform_admin()]);
    let by_mail = s
        .get_user_by_email("admin@example.COM")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_mail.user.id, admin.id);
    assert!(s.get_user("user-missing").await.unwrap().is_none());
    assert!(s
        .get_user_by_email("nobody@example.com")
        .await
        .unwrap()
        .is_none());

    // E-mails are unique whatever their case.
    let e = s
        .create_user(&user("ADMIN@example.com"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m == "email already registered"),
        "{e:?}"
    );

    let dev = user("dev@example.com");
    s.create_user(&dev, &[Binding::project(Role::Developer, "acme", "web")])
        .await
        .unwrap();
    let mut renamed = dev.clone();
    renamed.email = "admin@EXAMPLE.com".into();
    assert!(matches!(
        s.update_user(&renamed).await,
        Err(StoreError::Conflict(_))
    ));
    renamed.email = "dev2@example.com".into();
    renamed.full_name = "Dev Two".into();
    renamed.is_active = false;
    s.update_user(&renamed).await.unwrap();
    let got = s.get_user(&dev.id).await.unwrap().unwrap().user;
    assert_eq!(
        (got.email.as_str(), got.full_name.as_str(), got.is_active),
        ("dev2@example.com", "Dev Two", false)
    );
    let mut ghost = user("ghost@example.com");
    ghost.id = new_id(IdKind::User);
    assert!(matches!(
        s.update_user(&ghost).await,
        Err(StoreError::NotFound(_))
    ));

    let at = now();
    s.record_login(&admin.id, at).await.unwrap();
    assert_eq!(
        s.get_user(&admin.id)
            .await
            .unwrap()
            .unwrap()
            .user
            .last_login_at,
        Some(at)
    );

    assert_eq!(s.count_platform_admins().await.unwrap(), 1);
    s.add_binding(&dev.id, &Binding::platform_admin())
        .await
        .unwrap();
    // dev is deactivated: not an admin who can act.
    assert_eq!(s.count_platform_admins().await.unwrap(), 1);

    // Bindings: one role per exact scope; unknown scopes are NotFound.
    s.add_binding(&admin.id, &Binding::domain(Role::DomainAdmin, "acme"))
        .await
        .unwrap();
    let dup = s
        .add_binding(&admin.id, &Binding::domain(Role::DomainAdmin, "acme"))
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    let missing = s
        .add_binding(&admin.id, &Binding::domain(Role::DomainAdmin, "nope"))
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    s.add_binding(
        &admin.id,
        &Binding::project(Role::ProjectAdmin, "acme", "web"),
    )
    .await
    .unwrap();

    let domain_members = s.list_members("acme", None).await.unwrap();
    assert_eq!(domain_members.len(), 1);
    assert_eq!(domain_members[0].0.id, admin.id);
    assert_eq!(
        domain_members[0].1,
        Binding::domain(Role::DomainAdmin, "acme")
    );
    let project_members = s.list_members("acme", Some("web")).await.unwrap();
    let mut roles: Vec<(String, &str)> = project_members
        .iter()
        .map(|(u, b)| (u.id.clone(), b.role.as_str()))
        .collect();
    roles.sort();
    let mut want = vec![
        (admin.id.clone(), "project_admin"),
        (dev.id.clone(), "developer"),
    ];
    want.sort();
    assert_eq!(roles, want);

    assert!(s.remove_binding(&admin.id, "acme", None).await.unwrap());
    assert!(!s.remove_binding(&admin.id, "acme", None).await.unwrap());
    // The project binding survived the domain-level removal.
    let b = s.get_user(&admin.id).await.unwrap().unwrap().bindings;
    assert_eq!(
        b,
        vec![
            Binding::platform_admin(),
            Binding::project(Role::ProjectAdmin, "acme", "web")
        ]
    );
    assert!(s
        .remove_binding(&admin.id, "acme", Some("web"))
        .await
        .unwrap());

    // Listing: newest first, each user with their bindings, totals across pages.
    for i in 0..5 {
        s.create_user(
            &user(&format!("u{i}@example.com")),
            &[Binding::project(Role::Developer, "acme", "web")],
        )
        .await
        .unwrap();
    }
    let p1 = s.list_users(page(1, 3)).await.unwrap();
    assert_eq!(
        (p1.total, p1.items.len(), p1.page, p1.page_size),
        (7, 3, 1, 3)
    );
    assert_eq!(p1.items[0].user.email, "u4@example.com");
    assert!(p1
        .items
        .iter()
        .all(|u| u.bindings == vec![Binding::project(Role::Developer, "acme", "web")]));
    let p3 = s.list_users(page(3, 3)).await.unwrap();
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.items[0].user.id, admin.id);
    assert_eq!(p3.items[0].bindings, vec![Binding::platform_admin()]);
    assert!(s.list_users(page(9, 3)).await.unwrap().items.is_empty());
}

async fn register_is_all_or_nothing(env: Env) {
    let s = &*env.store;
    let owner = user("owner@acme.test");
    s.register(
        &owner,
        &tenant("acme", big_quota()),
        &project("acme", "default", QuotaLimits::default()),
        &Binding::domain(Role::DomainAdmin, "acme"),
    )
    .await
    .unwrap();
    let got = s
        .get_user_by_email("owner@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.bindings,
        vec![Binding::domain(Role::DomainAdmin, "acme")]
    );
    assert!(s.get_project("acme", "default").await.unwrap().is_some());

    // Same domain name again: nothing of the second sign-up is written.
    let second = user("second@acme.test");
    let e = s
        .register(
            &second,
            &tenant("acme", big_quota()),
            &project("acme", "default", QuotaLimits::default()),
            &Binding::domain(Role::DomainAdmin, "acme"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("acme")),
        "{e:?}"
    );
    assert!(s
        .get_user_by_email("second@acme.test")
        .await
        .unwrap()
        .is_none());
}

async fn api_keys(env: Env) {
    let s = &*env.store;
    let u = user("keys@example.com");
    let other = user("other@example.com");
    s.create_user(&u, &[]).await.unwrap();
    s.create_user(&other, &[]).await.unwrap();
    let t = now();
    let key = ApiKey {
        id: new_id(IdKind::ApiKey),
        user_id: u.id.clone(),
        name: "ci".into(),
        description: Some("for CI".into()),
        prefix: "dbk_abc123".into(),
        key_hash: "f".repeat(64),
        scopes: vec![KeyScope::Read, KeyScope::Write],
        created_at: t,
        expires_at: Some(t + chrono::Duration::days(30)),
        last_used_at: None,
        revoked_at: None,
    };
    s.create_api_key(&key).await.unwrap();
    let mut dup = key.clone();
    dup.id = new_id(IdKind::ApiKey);
    assert!(matches!(
        s.create_api_key(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let mut second = key.clone();
    second.id = new_id(IdKind::ApiKey);
    second.prefix = "dbk_def456".into();
    second.scopes = vec![KeyScope::Read];
    second.expires_at = None;
    s.create_api_key(&second).await.unwrap();

    assert_eq!(
        s.find_api_key("dbk_abc123").await.unwrap(),
        Some(key.clone())
    );
    assert!(s.find_api_key("dbk_zzz").await.unwrap().is_none());
    let listed = s.list_api_keys(&u.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        vec![second.id.clone(), key.id.clone()]
    );
    assert!(s.list_api_keys(&other.id).await.unwrap().is_empty());

    let used = now();
    s.touch_api_key(&key.id, used).await.unwrap();
    assert_eq!(
        s.find_api_key("dbk_abc123")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(used)
    );

    assert!(
        !s.revoke_api_key(&other.id, &key.id, now()).await.unwrap(),
        "only the owner revokes"
    );
    assert!(s.revoke_api_key(&u.id, &key.id, used).await.unwrap());
    assert!(
        !s.revoke_api_key(&u.id, &key.id, now()).await.unwrap(),
        "already revoked"
    );
    assert_eq!(
        s.find_api_key("dbk_abc123")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(used)
    );
}

async fn refresh_rotation_and_reuse(env: Env) {
    let s = &*env.store;
    let u = user("rt@example.com");
    s.create_user(&u, &[]).await.unwrap();
    let t = now();
    let mk = |hash: &str, family: &str| RefreshToken {
        id: new_id(IdKind::RefreshToken),
        user_id: u.id.clone(),
        family_id: family.into(),
        token_hash: hash.into(),
        created_at: t,
        expires_at: t + chrono::Duration::days(7),
        revoked_at: None,
        replaced_by: None,
    };
    let t1 = mk("h1", "fam");
    s.create_refresh_token(&t1).await.unwrap();
    assert_eq!(s.find_refresh_token("h1").await.unwrap(), Some(t1.clone()));
    assert!(matches!(
        s.create_refresh_token(&mk("h1", "fam")).await,
        Err(StoreError::Conflict(_))
    ));

    let t2 = mk("h2", "fam");
    assert!(s.rotate_refresh_token(&t1.id, &t2, t).await.unwrap());
    let old = s.find_refresh_token("h1").await.unwrap().unwrap();
    assert_eq!(
        (old.revoked_at, old.replaced_by.as_deref()),
        (Some(t), Some(t2.id.as_str()))
    );
    assert!(s
        .find_refresh_token("h2")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());

    // Reuse of the old token: refused, and the would-be successor is not written.
    let t3 = mk("h3", "fam");
    assert!(!s.rotate_refresh_token(&t1.id, &t3, now()).await.unwrap());
    assert!(s.find_refresh_token("h3").await.unwrap().is_none());

    // Two concurrent rotations of the same token: exactly one wins.
    let (a, b) = (mk("h4", "fam"), mk("h5", "fam"));
    let (ra, rb) = tokio::join!(
        s.rotate_refresh_token(&t2.id, &a, now()),
        s.rotate_refresh_token(&t2.id, &b, now())
    );
    assert!(ra.unwrap() ^ rb.unwrap());

    let other = mk("h9", "other-family");
    s.create_refresh_token(&other).await.unwrap();
    // t1, t2 are revoked already; one of h4/h5 is live.
    assert_eq!(s.revoke_refresh_family("fam", now()).await.unwrap(), 1);
    assert_eq!(s.revoke_refresh_family("fam", now()).await.unwrap(), 0);
    assert!(s
        .find_refresh_token("h9")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_none());
}

async fn tenants_and_projects(env: Env) {
    let s = &*env.store;
    let acme = tenant("acme", big_quota());
    s.create_tenant(&acme).await.unwrap();
    let e = s
        .create_tenant(&tenant("acme", big_quota()))
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m == "domain 'acme' already exists"),
        "{e:?}"
    );
    assert_eq!(s.get_tenant("acme").await.unwrap(), Some(acme.clone()));
    assert!(s.get_tenant("nope").await.unwrap().is_none());
    for n in ["beta", "gamma", "delta"] {
        s.create_tenant(&tenant(n, QuotaLimits::default()))
            .await
            .unwrap();
    }
    let all = s.list_tenants(None, page(1, 2)).await.unwrap();
    assert_eq!((all.total, all.items.len()), (4, 2));
    let only = s
        .list_tenants(
            Some(&["acme".to_string(), "gamma".to_string(), "zzz".to_string()]),
            page(1, 10),
        )
        .await
        .unwrap();
    let mut names: Vec<_> = only.items.iter().map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(
        (only.total, names),
        (2, vec!["acme".to_string(), "gamma".to_string()])
    );
    assert_eq!(
        s.list_tenants(Some(&[]), page(1, 10)).await.unwrap().total,
        0
    );

    let mut upd = acme.clone();
    upd.display_name = "ACME Corp".into();
    upd.plan = Plan::Enterprise;
    upd.quota.max_databases = 42;
    upd.metadata = serde_json::json!({"k": [1, 2]});
    upd.is_active = false;
    s.update_tenant(&upd).await.unwrap();
    assert_eq!(s.get_tenant("acme").await.unwrap(), Some(upd));
    assert!(matches!(
        s.update_tenant(&tenant("nope", big_quota())).await,
        Err(StoreError::NotFound(_))
    ));

    // Projects.
    let web = project("acme", "web", QuotaLimits::default());
    s.create_project(&web).await.unwrap();
    let e = s.create_project(&web).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m == "project 'web' already exists in domain 'acme'"),
        "{e:?}"
    );
    assert!(matches!(
        s.create_project(&project("nope", "web", QuotaLimits::default()))
            .await,
        Err(StoreError::NotFound(_))
    ));
    s.create_project(&project("beta", "web", QuotaLimits::default()))
        .await
        .unwrap();
    for n in ["api", "batch"] {
        s.create_project(&project("acme", n, QuotaLimits::default()))
            .await
            .unwrap();
    }
    assert_eq!(
        s.get_project("acme", "web").await.unwrap(),
        Some(web.clone())
    );
    assert!(s.get_project("acme", "nope").await.unwrap().is_none());
    let ps = s.list_projects("acme", None, page(1, 10)).await.unwrap();
    assert_eq!(ps.total, 3);
    assert!(ps.items.iter().all(|p| p.domain == "acme"));
    let only = s
        .list_projects("acme", Some(&["api".to_string()]), page(1, 10))
        .await
        .unwrap();
    assert_eq!((only.total, only.items[0].name.as_str()), (1, "api"));

    let mut upd = web.clone();
    upd.description = None;
    upd.quota.max_cpu_cores = 3.5;
    s.update_project(&upd).await.unwrap();
    assert_eq!(s.get_project("acme", "web").await.unwrap(), Some(upd));

    // A project holding live databases cannot go; once they are deleted it can, with its bindings.
    let u = user("member@acme.test");
    s.create_user(&u, &[Binding::project(Role::Developer, "acme", "web")])
        .await
        .unwrap();
    let mut db = add_db(s, "acme", "web", "orders").await;
    let e = s.delete_project("acme", "web").await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    db.status = DatabaseStatus::Deleted;
    s.update_database(&db).await.unwrap();
    assert!(s.delete_project("acme", "web").await.unwrap());
    assert!(!s.delete_project("acme", "web").await.unwrap());
    assert!(s
        .get_user(&u.id)
        .await
        .unwrap()
        .unwrap()
        .bindings
        .is_empty());
    assert!(s
        .list_members("acme", Some("web"))
        .await
        .unwrap()
        .is_empty());
}

async fn raw_kubeconfig(url: &str, id: &str) -> String {
    let q = "SELECT kubeconfig_enc FROM providers WHERE id = $1";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query_scalar(q)
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query_scalar(q)
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

async fn providers_keep_kubeconfig_encrypted(env: Env) {
    let s = &*env.store;
    let secret = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: very-secret-cluster\n";
    let a = provider("alpha", 100.0, 100);
    s.create_provider(&a, secret, &[]).await.unwrap();
    let raw = raw_kubeconfig(&env.url, &a.id).await;
    assert!(raw.starts_with("v1:"), "stored sealed: {raw}");
    assert!(!raw.contains("very-secret-cluster") && !raw.contains("apiVersion"));
    assert_eq!(
        s.provider_kubeconfig(&a.id).await.unwrap().as_deref(),
        Some(secret)
    );
    assert!(s
        .provider_kubeconfig("provider-missing")
        .await
        .unwrap()
        .is_none());
    // A store holding another key cannot read it, and says so.
    let wrong = store::connect(&env.url, Cipher::new([9u8; 32]))
        .await
        .unwrap();
    assert!(matches!(
        wrong.provider_kubeconfig(&a.id).await,
        Err(StoreError::Corrupt(_))
    ));

    assert_eq!(s.get_provider(&a.id).await.unwrap(), Some(a.clone()));
    let e = s
        .create_provider(&provider("alpha", 1.0, 1), "x", &[])
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");

    let mut b = provider("bravo", 50.0, 500);
    b.region = "us-east".into();
    b.availability_zone = None;
    s.create_provider(&b, "b", &[]).await.unwrap();
    let mut c = provider("charlie", 50.0, 100);
    c.domain = Some("acme".into());
    c.is_active = false;
    s.create_provider(&c, "c", &[]).await.unwrap();

    let all = s.list_providers(&ProviderFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        vec!["bravo", "alpha", "charlie"]
    );
    let eu = s
        .list_providers(&ProviderFilter {
            region: Some("eu-west".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(eu.len(), 2);
    let az = ProviderFilter {
        availability_zone: Some("eu-west-1a".into()),
        is_active: Some(true),
        ..Default::default()
    };
    assert_eq!(
        s.list_providers(&az)
            .await
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["alpha"]
    );
    let dom = ProviderFilter {
        domain: Some("acme".into()),
        ..Default::default()
    };
    assert_eq!(s.list_providers(&dom).await.unwrap()[0].name, "charlie");

    // Update: every field but the allocation; the kubeconfig only when given.
    let mut upd = a.clone();
    upd.priority = 900;
    upd.is_maintenance = true;
    upd.tags = vec!["nvme".into(), "gpu".into()];
    upd.allocated = Usage {
        cpu_cores: 99.0,
        ..Default::default()
    };
    s.update_provider(&upd, None, &[]).await.unwrap();
    let got = s.get_provider(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.priority, got.is_maintenance, got.tags.clone()),
        (900, true, upd.tags.clone())
    );
    assert_eq!(
        got.allocated,
        Usage::default(),
        "allocation is not an update field"
    );
    assert_eq!(
        s.provider_kubeconfig(&a.id).await.unwrap().as_deref(),
        Some(secret)
    );
    s.update_provider(&upd, Some("new-config"), &[])
        .await
        .unwrap();
    assert_eq!(
        s.provider_kubeconfig(&a.id).await.unwrap().as_deref(),
        Some("new-config")
    );
    let mut clash = upd.clone();
    clash.name = "bravo".into();
    assert!(matches!(
        s.update_provider(&clash, None, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_provider(&provider("ghost", 1.0, 1), None, &[])
            .await,
        Err(StoreError::NotFound(_))
    ));

    // Delete: refused while a live database sits on it.
    tenancy(s, "acme", "web", QuotaLimits::default()).await;
    let mut db = database("acme", "web", "pinned");
    db.provider_id = Some(b.id.clone());
    let mut db = s
        .create_database(&db, &operation(&db, OperationType::Create), None, &[])
        .await
        .unwrap();
    assert_eq!(
        s.get_provider(&b.id).await.unwrap().unwrap().allocated,
        db.reserved
    );
    // A refused delete records nothing; a done one commits its audit entry with it.
    let refused = audit("provider.delete", None, None, now(), true);
    assert!(matches!(
        s.delete_provider(&b.id, std::slice::from_ref(&refused))
            .await,
        Err(StoreError::Conflict(_))
    ));
    s.release_reservation(&db.id, None).await.unwrap();
    db.status = DatabaseStatus::Deleted;
    s.update_database(&db).await.unwrap();
    let done = audit("provider.delete", None, None, now(), true);
    assert!(s
        .delete_provider(&b.id, std::slice::from_ref(&done))
        .await
        .unwrap());
    let ids: Vec<String> = s
        .list_audit(&AuditFilter::default(), page(1, 100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(ids.contains(&done.id) && !ids.contains(&refused.id));
    assert!(!s.delete_provider(&b.id, &[]).await.unwrap());
    assert!(s.get_provider(&b.id).await.unwrap().is_none());
}

async fn databases_filters_and_pagination(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    s.create_project(&project("acme", "api", big_quota()))
        .await
        .unwrap();
    let engines = [Engine::Postgres, Engine::Mysql, Engine::Redis];
    let mut made = Vec::new();
    for i in 0..25 {
        let mut db = database("acme", "web", &format!("db-{i:02}"));
        db.engine = engines[i % 3];
        let stored = s
            .create_database(&db, &operation(&db, OperationType::Create), None, &[])
            .await
            .unwrap();
        assert_eq!(stored, db);
        made.push(stored);
    }
    add_db(s, "acme", "api", "elsewhere").await;

    // Round trip of every field, including JSON ones.
    let mut full = made[0].clone();
    full.status = DatabaseStatus::Running;
    full.ready_replicas = 1;
    full.health_status = Some("healthy".into());
    full.kubedb_phase = Some("Ready".into());
    full.endpoint = Some("db-00.acme.svc".into());
    full.port = Some(5432);
    full.service_type = Some("ClusterIP".into());
    full.loadbalancer_ip = Some("10.1.2.3".into());
    full.namespace = Some("dbaas-acme-web".into());
    full.kubedb_resource_name = Some("db-00".into());
    full.current = CurrentState {
        size: Some(Size::Micro),
        storage_gb: Some(10),
        replicas: Some(1),
        version: Some("16.4".into()),
    };
    full.upgrade_policy = Some(serde_json::json!({"auto": true}));
    full.conditions = serde_json::json!([{"type": "Ready", "status": "True"}]);
    full.annotations = BTreeMap::from([("a".to_string(), "b".to_string())]);
    full.updated_at = now();
    s.update_database(&full).await.unwrap();
    assert_eq!(s.get_database(&full.id).await.unwrap(), Some(full.clone()));
    assert!(s.get_database("db-missing").await.unwrap().is_none());
    let mut ghost = full.clone();
    ghost.id = new_id(IdKind::Database);
    assert!(matches!(
        s.update_database(&ghost).await,
        Err(StoreError::NotFound(_))
    ));

    let f = DatabaseFilter::default();
    // A listed database is the stored one, field for field (SQLite builds pages as JSON).
    let all = s
        .list_databases("acme", "web", &f, page(1, 100))
        .await
        .unwrap();
    for d in &all.items {
        assert_eq!(Some(d.clone()), s.get_database(&d.id).await.unwrap());
    }
    assert!(all.items.iter().any(|d| d.id == full.id));
    let p1 = s
        .list_databases("acme", "web", &f, page(1, 10))
        .await
        .unwrap();
    assert_eq!((p1.total, p1.items.len()), (25, 10));
    assert_eq!(p1.items[0].name, "db-24", "newest first");
    let p3 = s
        .list_databases("acme", "web", &f, page(3, 10))
        .await
        .unwrap();
    assert_eq!((p3.total, p3.items.len()), (25, 5));
    assert_eq!(p3.items[4].name, "db-00");
    assert!(s
        .list_databases("acme", "web", &f, page(4, 10))
        .await
        .unwrap()
        .items
        .is_empty());

    let redis = DatabaseFilter {
        engine: Some(Engine::Redis),
        ..Default::default()
    };
    let r = s
        .list_databases("acme", "web", &redis, page(1, 100))
        .await
        .unwrap();
    assert_eq!(r.total, 8);
    assert!(r.items.iter().all(|d| d.engine == Engine::Redis));
    let named = DatabaseFilter {
        name: Some("DB-1".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_databases("acme", "web", &named, page(1, 100))
            .await
            .unwrap()
            .total,
        10
    );
    let wild = DatabaseFilter {
        name: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_databases("acme", "web", &wild, page(1, 100))
            .await
            .unwrap()
            .total,
        0,
        "wildcards are literal"
    );
    let running = DatabaseFilter {
        status: Some(DatabaseStatus::Running),
        ..Default::default()
    };
    assert_eq!(
        s.list_databases("acme", "web", &running, page(1, 100))
            .await
            .unwrap()
            .total,
        1
    );

    // Names: unique among live databases only.
    let dup = database("acme", "web", "db-03");
    let e = s
        .create_database(&dup, &operation(&dup, OperationType::Create), None, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("db-03")),
        "{e:?}"
    );
    let mut gone = made[3].clone();
    gone.status = DatabaseStatus::Deleted;
    s.update_database(&gone).await.unwrap();
    assert_eq!(
        s.list_databases("acme", "web", &f, page(1, 100))
            .await
            .unwrap()
            .total,
        24
    );
    let with_deleted = DatabaseFilter {
        include_deleted: true,
        ..Default::default()
    };
    assert_eq!(
        s.list_databases("acme", "web", &with_deleted, page(1, 100))
            .await
            .unwrap()
            .total,
        25
    );
    let deleted = DatabaseFilter {
        status: Some(DatabaseStatus::Deleted),
        ..Default::default()
    };
    assert_eq!(
        s.list_databases("acme", "web", &deleted, page(1, 100))
            .await
            .unwrap()
            .total,
        1
    );
    s.create_database(&dup, &operation(&dup, OperationType::Create), None, &[])
        .await
        .unwrap();

    // The create operation went in with the database.
    let ops = s
        .list_operations(
            &OperationFilter {
                database_id: Some(made[0].id.clone()),
                ..Default::default()
            },
            page(1, 10),
        )
        .await
        .unwrap();
    assert_eq!(
        (ops.total, ops.items[0].op_type),
        (1, OperationType::Create)
    );
}

async fn quotas_resize_and_release(env: Env) {
    let s = &*env.store;
    // Project: 4 cores; domain: 6 cores over all its projects.
    let pq = QuotaLimits {
        max_cpu_cores: 4.0,
        max_memory_gb: 100.0,
        max_storage_gb: 1000.0,
        max_databases: 10,
        max_backups: 0,
    };
    let mut t = tenant("acme", pq);
    t.quota.max_cpu_cores = 6.0;
    t.quota.max_databases = 100;
    s.create_tenant(&t).await.unwrap();
    s.create_project(&project("acme", "web", pq)).await.unwrap();
    s.create_project(&project("acme", "api", pq)).await.unwrap();

    let p = provider("alpha", 100.0, 1);
    s.create_provider(&p, "k", &[]).await.unwrap();
    let pick = |c: &[Provider]| -> Result<Placement, DomainError> {
        c.first()
            .map(|p| placement_on(&p.id))
            .ok_or_else(|| DomainError::NoCapacity("none".into()))
    };

    let mut a = database("acme", "web", "a");
    a.size = Size::Medium; // 2 cores
    a.reserved = Usage::of_database(Size::Medium, 10, 1);
    // The create's audit entry commits with it and records where it went.
    let recorded = audit("database.create", Some("acme"), Some("web"), now(), true);
    let a = s
        .create_database(
            &a,
            &operation(&a, OperationType::Create),
            Some(&pick),
            std::slice::from_ref(&recorded),
        )
        .await
        .unwrap();
    assert_eq!(a.provider_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(a.version, "16.4-bookworm", "the placement's catalog entry");
    let entries = s
        .list_audit(&AuditFilter::default(), page(1, 100))
        .await
        .unwrap()
        .items;
    let entry = entries
        .iter()
        .find(|e| e.id == recorded.id)
        .expect("audited");
    assert_eq!(entry.details["provider_id"], p.id.as_str());
    assert_eq!(entry.details["version"], "16.4-bookworm");
    assert_eq!(entry.details["why"], "test");
    assert_eq!(
        s.get_database(&a.id)
            .await
            .unwrap()
            .unwrap()
            .provider_id
            .as_deref(),
        Some(p.id.as_str())
    );
    let usage = s.project_usage("acme", "web").await.unwrap();
    assert_eq!(
        (
            usage.cpu_cores,
            usage.memory_gb,
            usage.storage_gb,
            usage.databases
        ),
        (2.0, 4.0, 10.0, 1)
    );

    // Counting all replicas: 3 × 0.5 cores = 1.5 more, fits (3.5 of 4).
    let mut b = database("acme", "web", "b");
    b.replicas = 3;
    b.high_availability = true;
    b.reserved = Usage::of_database(Size::Micro, 10, 3);
    let b = s
        .create_database(&b, &operation(&b, OperationType::Create), Some(&pick), &[])
        .await
        .unwrap();
    assert_eq!(s.project_usage("acme", "web").await.unwrap().cpu_cores, 3.5);
    // One more core does not fit the project.
    let mut c = database("acme", "web", "c");
    c.size = Size::Small;
    c.reserved = Usage::of_database(Size::Small, 10, 1);
    let refused = audit("database.create", Some("acme"), Some("web"), now(), true);
    let e = s
        .create_database(
            &c,
            &operation(&c, OperationType::Create),
            Some(&pick),
            std::slice::from_ref(&refused),
        )
        .await
        .unwrap_err();
    assert!(
        s.list_audit(&AuditFilter::default(), page(1, 100))
            .await
            .unwrap()
            .items
            .iter()
            .all(|e| e.id != refused.id),
        "a refused create records nothing"
    );
    assert!(
        matches!(e, StoreError::Domain(DomainError::QuotaExceeded { ref resource, ref message }) if resource == "cpu" && message.starts_with("project")),
        "{e:?}"
    );
    // The domain caps the sum: web holds 3.5, api may take 2.5 at most.
    let mut d = database("acme", "api", "d");
    d.size = Size::Medium;
    d.reserved = Usage::of_database(Size::Medium, 10, 1);
    let d = s
        .create_database(&d, &operation(&d, OperationType::Create), Some(&pick), &[])
        .await
        .unwrap();
    let mut c2 = database("acme", "api", "c");
    c2.size = Size::Small;
    c2.reserved = Usage::of_database(Size::Small, 10, 1);
    let e2 = s
        .create_database(
            &c2,
            &operation(&c2, OperationType::Create),
            Some(&pick),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e2, StoreError::Domain(DomainError::QuotaExceeded { ref message, .. }) if message.starts_with("domain")),
        "{e2:?}"
    );
    assert_eq!(s.domain_usage("acme").await.unwrap().cpu_cores, 5.5);
    assert_eq!(
        s.get_provider(&p.id)
            .await
            .unwrap()
            .unwrap()
            .allocated
            .cpu_cores,
        5.5
    );

    // Missing tenancy is NotFound.
    let orphan = database("acme", "nope", "x");
    assert!(matches!(
        s.create_database(
            &orphan,
            &operation(&orphan, OperationType::Create),
            None,
            &[]
        )
        .await,
        Err(StoreError::NotFound(_))
    ));

    // Resize: growth is checked like a create (project, domain, provider), shrinking always fits.
    let e = s
        .resize_reservation(&b.id, Usage::of_database(Size::Medium, 10, 3))
        .await
        .unwrap_err();
    assert!(is_quota(&e), "{e:?}");
    let plus_half = Usage {
        cpu_cores: 2.5,
        ..a.reserved
    };
    s.resize_reservation(&a.id, plus_half).await.unwrap(); // web 4.0 of 4, domain 6.0 of 6
    assert_eq!(s.project_usage("acme", "web").await.unwrap().cpu_cores, 4.0);
    assert_eq!(
        s.get_database(&a.id).await.unwrap().unwrap().reserved,
        plus_half
    );
    assert_eq!(
        s.get_provider(&p.id)
            .await
            .unwrap()
            .unwrap()
            .allocated
            .cpu_cores,
        6.0
    );
    let e = s
        .resize_reservation(
            &a.id,
            Usage {
                cpu_cores: 3.0,
                ..a.reserved
            },
        )
        .await
        .unwrap_err();
    assert!(is_quota(&e), "{e:?}");
    s.resize_reservation(&a.id, a.reserved).await.unwrap();
    assert_eq!(s.project_usage("acme", "web").await.unwrap().cpu_cores, 3.5);
    assert_eq!(
        s.get_provider(&p.id)
            .await
            .unwrap()
            .unwrap()
            .allocated
            .cpu_cores,
        5.5
    );
    assert!(matches!(
        s.resize_reservation("db-missing", a.reserved).await,
        Err(StoreError::NotFound(_))
    ));
    // The provider's capacity bounds growth too.
    let mut small = p.clone();
    small.capacity.cpu_total_cores = 5.6;
    s.update_provider(&small, None, &[]).await.unwrap();
    let e = s
        .resize_reservation(
            &d.id,
            Usage {
                cpu_cores: 2.5,
                ..d.reserved
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Domain(DomainError::NoCapacity(_))),
        "{e:?}"
    );

    // Release gives everything back, once.
    let before = s.get_provider(&p.id).await.unwrap().unwrap().allocated;
    s.release_reservation(&b.id, None).await.unwrap();
    s.release_reservation(&b.id, None).await.unwrap();
    let after = s.get_provider(&p.id).await.unwrap().unwrap().allocated;
    assert_eq!(after.cpu_cores, before.cpu_cores - 1.5);
    assert_eq!(after.databases, before.databases - 1);
    assert_eq!(
        s.get_database(&b.id).await.unwrap().unwrap().reserved,
        Usage::default()
    );
    assert_eq!(s.project_usage("acme", "web").await.unwrap().databases, 1);
}

async fn hundred_concurrent_creates_admit_exactly_ten(env: Env) {
    let s = env.store.clone();
    // The project admits 10 databases; cpu/memory/storage are not the limit.
    let pq = QuotaLimits {
        max_databases: 10,
        ..big_quota()
    };
    tenancy(&*s, "acme", "web", pq).await;
    s.create_project(&project("acme", "other", big_quota()))
        .await
        .unwrap();

    let attempt = |name: String| {
        let s = s.clone();
        tokio::spawn(async move {
            let db = database("acme", "web", &name);
            s.create_database(&db, &operation(&db, OperationType::Create), None, &[])
                .await
        })
    };
    let handles: Vec<_> = (0..100).map(|i| attempt(format!("race-{i:03}"))).collect();
    let mut won = Vec::new();
    let mut refused = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(db) => won.push(db),
            Err(e) if is_quota(&e) => refused += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!((won.len(), refused), (10, 90));
    assert_eq!(s.project_usage("acme", "web").await.unwrap().databases, 10);
    let listed = s
        .list_databases("acme", "web", &DatabaseFilter::default(), page(1, 100))
        .await
        .unwrap();
    assert_eq!(listed.total, 10);
    let queued = s.queue_stats(now()).await.unwrap();
    assert_eq!(
        queued.queued, 10,
        "exactly one operation per admitted database"
    );

    // Releasing three makes room for exactly three more.
    for db in &won[..3] {
        s.release_reservation(&db.id, None).await.unwrap();
    }
    let handles: Vec<_> = (0..20).map(|i| attempt(format!("again-{i:03}"))).collect();
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(is_quota(&e), "{e:?}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(s.project_usage("acme", "web").await.unwrap().databases, 10);
}

async fn concurrent_placement_never_overallocates(env: Env) {
    let s = env.store.clone();
    tenancy(&*s, "acme", "web", big_quota()).await;
    // Room for exactly 7 micro databases (0.5 cores each) on the only provider.
    let p = provider("solo", 3.5, 1);
    s.create_provider(&p, "k", &[]).await.unwrap();
    let mut decoy = provider("busy", 100.0, 5);
    decoy.is_maintenance = true;
    s.create_provider(&decoy, "k", &[]).await.unwrap();
    let mut foreign = provider("foreign", 100.0, 9);
    foreign.domain = Some("globex".into());
    s.create_provider(&foreign, "k", &[]).await.unwrap();

    let handles: Vec<_> = (0..30)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let db = database("acme", "web", &format!("place-{i:02}"));
                let need = db.reserved;
                // Headroom rule as the domain would apply it, on the locked (fresh) rows.
                let choose = move |c: &[Provider]| -> Result<Placement, DomainError> {
                    assert!(
                        c.iter().all(|p| p.name == "solo"),
                        "only active, shared-or-own providers are candidates"
                    );
                    c.iter()
                        .find(|p| {
                            p.allocated.cpu_cores + need.cpu_cores
                                <= p.capacity.cpu_total_cores + 1e-9
                        })
                        .map(|p| placement_on(&p.id))
                        .ok_or_else(|| DomainError::NoCapacity("no provider has room".into()))
                };
                s.create_database(
                    &db,
                    &operation(&db, OperationType::Create),
                    Some(&choose),
                    &[],
                )
                .await
            })
        })
        .collect();
    let mut placed = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(db) => {
                assert_eq!(db.provider_id.as_deref(), Some(p.id.as_str()));
                placed += 1;
            }
            Err(StoreError::Domain(DomainError::NoCapacity(_))) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(placed, 7);
    let alloc = s.get_provider(&p.id).await.unwrap().unwrap().allocated;
    assert_eq!((alloc.cpu_cores, alloc.databases), (3.5, 7));
    // What a provider's watcher follows: its live databases, each the stored record, by id.
    let on_provider = s.list_provider_databases(&p.id).await.unwrap();
    assert_eq!(on_provider.len(), 7);
    assert!(on_provider.windows(2).all(|w| w[0].id < w[1].id));
    for d in &on_provider {
        assert_eq!(Some(d.clone()), s.get_database(&d.id).await.unwrap());
    }
    assert!(s
        .list_provider_databases("provider-none")
        .await
        .unwrap()
        .is_empty());

    // A chooser that ignores headroom still cannot push the provider past its capacity.
    let greedy = |c: &[Provider]| -> Result<Placement, DomainError> { Ok(placement_on(&c[0].id)) };
    let db = database("acme", "web", "greedy");
    let e = s
        .create_database(
            &db,
            &operation(&db, OperationType::Create),
            Some(&greedy),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Domain(DomainError::NoCapacity(_))),
        "{e:?}"
    );
    let bogus = |_: &[Provider]| -> Result<Placement, DomainError> {
        Ok(placement_on("provider-elsewhere"))
    };
    let e = s
        .create_database(
            &db,
            &operation(&db, OperationType::Create),
            Some(&bogus),
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Domain(DomainError::NoCapacity(_))),
        "{e:?}"
    );
    assert!(
        s.get_database(&db.id).await.unwrap().is_none(),
        "a refused create writes nothing"
    );
}

fn t0() -> DateTime<Utc> {
    now()
}

async fn queue_claims_in_order_one_per_database(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let a = add_db(s, "acme", "web", "alpha").await;
    let b = add_db(s, "acme", "web", "bravo").await;
    let a_create = &s
        .list_operations(
            &OperationFilter {
                database_id: Some(a.id.clone()),
                ..Default::default()
            },
            page(1, 5),
        )
        .await
        .unwrap()
        .items[0];
    let a_scale = operation(&a, OperationType::ScaleVertical);
    s.enqueue_operation(&a_scale).await.unwrap();
    assert!(matches!(
        s.enqueue_operation(&a_scale).await,
        Err(StoreError::Conflict(_))
    ));

    let t = t0() + chrono::Duration::seconds(1);
    let lease = Duration::from_secs(60);
    let first = s.claim_operation("w1", lease, t).await.unwrap().unwrap();
    assert_eq!(first.id, a_create.id, "oldest first");
    assert_eq!(first.status, OperationStatus::InProgress);
    assert_eq!(first.lease_owner.as_deref(), Some("w1"));
    assert_eq!(first.started_at, Some(t));
    assert_eq!(
        first.lease_expires_at,
        Some(t + chrono::Duration::seconds(60))
    );
    let second = s.claim_operation("w2", lease, t).await.unwrap().unwrap();
    assert_eq!(
        second.database_id, b.id,
        "a's scale waits behind a's create"
    );
    assert!(s.claim_operation("w3", lease, t).await.unwrap().is_none());

    let done = OperationOutcome {
        status: OperationStatus::Completed,
        message: Some("created".into()),
        error_message: None,
    };
    assert!(
        !s.complete_operation(&first.id, "w2", &done, t)
            .await
            .unwrap(),
        "not w2's to complete"
    );
    let finished = t + chrono::Duration::seconds(5);
    assert!(s
        .complete_operation(&first.id, "w1", &done, finished)
        .await
        .unwrap());
    assert!(
        !s.complete_operation(&first.id, "w1", &done, finished)
            .await
            .unwrap(),
        "already ended"
    );
    let ended = s.get_operation(&first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            ended.status,
            ended.progress,
            ended.completed_at,
            ended.lease_owner
        ),
        (OperationStatus::Completed, 100, Some(finished), None)
    );
    assert_eq!(ended.message.as_deref(), Some("created"));
    // A claimer that read its clock before that finish still starts the next one after it.
    let next = s.claim_operation("w3", lease, t).await.unwrap().unwrap();
    assert_eq!(next.id, a_scale.id);
    assert_eq!(
        next.started_at,
        Some(finished),
        "never before the one before"
    );
    assert!(s.get_operation("op-missing").await.unwrap().is_none());
    let bad = OperationOutcome {
        status: OperationStatus::Queued,
        message: None,
        error_message: None,
    };
    assert!(
        s.complete_operation(&next.id, "w3", &bad, t).await.is_err(),
        "only terminal outcomes"
    );
}

async fn expired_leases_are_reclaimed(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    add_db(s, "acme", "web", "alpha").await;
    let t = t0() + chrono::Duration::seconds(1);
    let lease = Duration::from_secs(30);
    let op = s
        .claim_operation("dead-worker", lease, t)
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .claim_operation("w2", lease, t + chrono::Duration::seconds(10))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .renew_lease(
            &op.id,
            "dead-worker",
            lease,
            t + chrono::Duration::seconds(20)
        )
        .await
        .unwrap());
    // Renewed to t+50: still held at t+40.
    assert!(s
        .claim_operation("w2", lease, t + chrono::Duration::seconds(40))
        .await
        .unwrap()
        .is_none());
    let later = t + chrono::Duration::seconds(51);
    let again = s
        .claim_operation("w2", lease, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, op.id);
    assert_eq!(again.lease_owner.as_deref(), Some("w2"));
    assert_eq!(again.started_at, Some(t), "first start is kept");
    // The worker that lost its lease can no longer touch the operation.
    assert!(!s
        .renew_lease(&op.id, "dead-worker", lease, later)
        .await
        .unwrap());
    let done = OperationOutcome {
        status: OperationStatus::Failed,
        message: None,
        error_message: Some("boom".into()),
    };
    assert!(!s
        .complete_operation(&op.id, "dead-worker", &done, later)
        .await
        .unwrap());
    assert!(s.renew_lease(&op.id, "w2", lease, later).await.unwrap());
    assert!(s
        .complete_operation(&op.id, "w2", &done, later)
        .await
        .unwrap());
    let ended = s.get_operation(&op.id).await.unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.error_message.as_deref()),
        (OperationStatus::Failed, Some("boom"))
    );
}

async fn retry_backoff_progress_and_completion(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    add_db(s, "acme", "web", "alpha").await;
    let t = t0() + chrono::Duration::seconds(1);
    let lease = Duration::from_secs(30);
    let mut op = s.claim_operation("w1", lease, t).await.unwrap().unwrap();

    op.progress = 40;
    op.message = Some("waiting for pods".into());
    op.ops_request_name = Some("ops-1".into());
    op.ops_request_phase = Some("Progressing".into());
    assert!(!s.save_progress(&op, "w2").await.unwrap());
    assert!(s.save_progress(&op, "w1").await.unwrap());
    let saved = s.get_operation(&op.id).await.unwrap().unwrap();
    assert_eq!(
        (saved.progress, saved.ops_request_phase.as_deref()),
        (40, Some("Progressing"))
    );

    let backoff = t + chrono::Duration::seconds(60);
    assert!(!s.retry_operation(&op.id, "w2", backoff, "x").await.unwrap());
    assert!(s
        .retry_operation(&op.id, "w1", backoff, "connection refused")
        .await
        .unwrap());
    let queued = s.get_operation(&op.id).await.unwrap().unwrap();
    assert_eq!(queued.status, OperationStatus::Queued);
    assert_eq!(
        (
            queued.retry_count,
            queued.run_after,
            queued.lease_owner.clone()
        ),
        (1, backoff, None)
    );
    assert_eq!(queued.error_message.as_deref(), Some("connection refused"));
    assert!(
        !s.save_progress(&op, "w1").await.unwrap(),
        "no lease any more"
    );

    // Not before its backoff.
    assert!(s
        .claim_operation("w1", lease, t + chrono::Duration::seconds(59))
        .await
        .unwrap()
        .is_none());
    let again = s
        .claim_operation("w2", lease, backoff)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.retry_count), (op.id.as_str(), 1));
}

async fn cancel_only_when_queued(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let a = add_db(s, "acme", "web", "alpha").await;
    let extra = operation(&a, OperationType::Backup);
    s.enqueue_operation(&extra).await.unwrap();
    let t = t0() + chrono::Duration::seconds(1);
    let running = s
        .claim_operation("w1", Duration::from_secs(30), t)
        .await
        .unwrap()
        .unwrap();
    assert!(!s.cancel_operation(&running.id, t).await.unwrap());
    assert_eq!(
        s.get_operation(&running.id).await.unwrap().unwrap().status,
        OperationStatus::InProgress
    );
    assert!(s.cancel_operation(&extra.id, t).await.unwrap());
    let c = s.get_operation(&extra.id).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.completed_at),
        (OperationStatus::Cancelled, Some(t))
    );
    assert!(!s.cancel_operation(&extra.id, t).await.unwrap());
    assert!(!s.cancel_operation("op-missing", t).await.unwrap());
}

async fn queue_stats_count_unfinished(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let empty = s.queue_stats(now()).await.unwrap();
    assert_eq!(
        (
            empty.queued,
            empty.processing,
            empty.by_type.len(),
            empty.oldest_queued_age_seconds
        ),
        (0, 0, 0, None)
    );
    let a = add_db(s, "acme", "web", "alpha").await;
    add_db(s, "acme", "web", "bravo").await;
    let backup = operation(&a, OperationType::Backup);
    s.enqueue_operation(&backup).await.unwrap();
    let t = t0() + chrono::Duration::seconds(1);
    s.claim_operation("w1", Duration::from_secs(30), t)
        .await
        .unwrap()
        .unwrap();
    let later = t + chrono::Duration::seconds(10);
    let st = s.queue_stats(later).await.unwrap();
    assert_eq!((st.queued, st.processing), (2, 1));
    assert_eq!(
        st.by_type,
        vec![(OperationType::Create, 2), (OperationType::Backup, 1)]
    );
    let age = st.oldest_queued_age_seconds.unwrap();
    assert!((10.0..12.0).contains(&age), "{age}");
}

async fn concurrent_claimers_never_double_claim(env: Env) {
    let s = env.store.clone();
    tenancy(&*s, "acme", "web", big_quota()).await;
    // 24 databases, each with a create op and a follow-up: 48 ops, at most 24 runnable at once.
    let mut dbs = Vec::new();
    for i in 0..24 {
        let db = add_db(&*s, "acme", "web", &format!("q-{i:02}")).await;
        s.enqueue_operation(&operation(&db, OperationType::Restart))
            .await
            .unwrap();
        dbs.push(db);
    }
    let t = t0() + chrono::Duration::seconds(1);
    let round = |s: Arc<dyn Store>| async move {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(op) = s
                        .claim_operation(&format!("w{w}"), Duration::from_secs(300), t)
                        .await
                        .unwrap()
                    {
                        got.push(op);
                    }
                    got
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all
    };
    let first = round(s.clone()).await;
    let ids: HashSet<_> = first.iter().map(|o| o.id.clone()).collect();
    let per_db: HashSet<_> = first.iter().map(|o| o.database_id.clone()).collect();
    assert_eq!(
        (first.len(), ids.len(), per_db.len()),
        (24, 24, 24),
        "each database's first op, once"
    );
    assert!(first.iter().all(|o| o.op_type == OperationType::Create));
    let done = OperationOutcome {
        status: OperationStatus::Completed,
        message: None,
        error_message: None,
    };
    for o in &first {
        assert!(s
            .complete_operation(&o.id, o.lease_owner.as_deref().unwrap(), &done, t)
            .await
            .unwrap());
    }
    let second = round(s.clone()).await;
    let ids2: HashSet<_> = second.iter().map(|o| o.id.clone()).collect();
    assert_eq!((second.len(), ids2.len()), (24, 24));
    assert!(second.iter().all(|o| o.op_type == OperationType::Restart));
}

async fn operations_listing_and_visibility(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    s.create_project(&project("acme", "api", big_quota()))
        .await
        .unwrap();
    tenancy(s, "globex", "web", big_quota()).await;
    let a = add_db(s, "acme", "web", "a").await;
    add_db(s, "acme", "api", "b").await;
    add_db(s, "globex", "web", "c").await;
    s.enqueue_operation(&operation(&a, OperationType::Pause))
        .await
        .unwrap();

    let all = s
        .list_operations(&OperationFilter::default(), page(1, 10))
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    assert_eq!(all.items[0].op_type, OperationType::Pause, "newest first");
    let vis = |scopes: Vec<(&str, Option<&str>)>| OperationFilter {
        visibility: Visibility {
            scopes: Some(
                scopes
                    .into_iter()
                    .map(|(d, p)| (d.to_string(), p.map(str::to_string)))
                    .collect(),
            ),
        },
        ..Default::default()
    };
    assert_eq!(
        s.list_operations(&vis(vec![("acme", None)]), page(1, 10))
            .await
            .unwrap()
            .total,
        3
    );
    assert_eq!(
        s.list_operations(&vis(vec![("acme", Some("web"))]), page(1, 10))
            .await
            .unwrap()
            .total,
        2
    );
    assert_eq!(
        s.list_operations(
            &vis(vec![("acme", Some("api")), ("globex", None)]),
            page(1, 10)
        )
        .await
        .unwrap()
        .total,
        2
    );
    assert_eq!(
        s.list_operations(&vis(vec![]), page(1, 10))
            .await
            .unwrap()
            .total,
        0
    );
    let typed = OperationFilter {
        op_type: Some(OperationType::Create),
        status: Some(OperationStatus::Queued),
        ..vis(vec![("acme", None)])
    };
    assert_eq!(
        s.list_operations(&typed, page(1, 1)).await.unwrap().total,
        2
    );
    assert_eq!(
        s.list_operations(&typed, page(2, 1))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// A placement on `provider_id` running catalog entry `16.4-bookworm`.
fn placement_on(provider_id: &str) -> Placement {
    Placement {
        provider_id: provider_id.to_string(),
        version: serde_json::from_value(
            serde_json::json!({"engine": "postgres", "name": "16.4-bookworm", "version": "16.4"}),
        )
        .unwrap(),
    }
}

fn audit(
    action: &str,
    domain: Option<&str>,
    project: Option<&str>,
    at: DateTime<Utc>,
    ok: bool,
) -> AuditEntry {
    AuditEntry {
        id: new_id(IdKind::Audit),
        action: action.into(),
        resource_type: action.split('.').next().unwrap_or("x").into(),
        resource_id: Some("db-1".into()),
        domain: domain.map(str::to_string),
        project: project.map(str::to_string),
        user_id: Some("user-1".into()),
        user_email: Some("a@b.c".into()),
        ip_address: Some("10.0.0.9".into()),
        user_agent: Some("curl/8".into()),
        request_method: Some("POST".into()),
        request_path: Some("/api/v1/x".into()),
        status: if ok {
            AuditOutcome::Success
        } else {
            AuditOutcome::Failure
        },
        status_code: Some(if ok { 202 } else { 403 }),
        details: serde_json::json!({"why": "test"}),
        timestamp: at,
    }
}

async fn audit_filters_scopes_and_purge(env: Env) {
    let s = &*env.store;
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap();
    let mut entries = Vec::new();
    for i in 0..30 {
        let at = base + chrono::Duration::minutes(i);
        let (d, p) = match i % 3 {
            0 => (Some("acme"), Some("web")),
            1 => (Some("acme"), None),
            _ => (Some("globex"), Some("web")),
        };
        let action = if i % 2 == 0 {
            "database.create"
        } else {
            "auth.login_failed"
        };
        let e = audit(action, d, p, at, i % 5 != 0);
        s.insert_audit(&e).await.unwrap();
        entries.push(e);
    }
    let all = s
        .list_audit(&AuditFilter::default(), page(1, 100))
        .await
        .unwrap();
    assert_eq!(all.total, 30);
    assert_eq!(all.items[0], entries[29], "newest first, every field kept");
    let p2 = s
        .list_audit(&AuditFilter::default(), page(2, 10))
        .await
        .unwrap();
    assert_eq!(p2.items[0].id, entries[19].id);

    let f = |mut f: AuditFilter, g: &dyn Fn(&mut AuditFilter)| {
        g(&mut f);
        f
    };
    let count =
        |flt: AuditFilter| async move { s.list_audit(&flt, page(1, 100)).await.unwrap().total };
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.action =
            Some("database.create".into())))
        .await,
        15
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.resource_type =
            Some("auth".into())))
        .await,
        15
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.domain = Some("acme".into()))).await,
        20
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.project = Some("web".into()))).await,
        20
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.status =
            Some(AuditOutcome::Failure)))
        .await,
        6
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.user_id =
            Some("user-2".into())))
        .await,
        0
    );
    assert_eq!(
        count(f(AuditFilter::default(), &|f| f.resource_id =
            Some("db-1".into())))
        .await,
        30
    );
    let window = f(AuditFilter::default(), &|f| {
        f.since = Some(base + chrono::Duration::minutes(10));
        f.until = Some(base + chrono::Duration::minutes(19));
    });
    assert_eq!(count(window).await, 10);

    // Scopes: a domain admin sees the domain; a project admin only the project.
    let scoped = |sc: Vec<AuditScope>| AuditFilter {
        scopes: Some(sc),
        ..Default::default()
    };
    let acme = AuditScope {
        domain: "acme".into(),
        project: None,
    };
    let acme_web = AuditScope {
        domain: "acme".into(),
        project: Some("web".into()),
    };
    let globex_web = AuditScope {
        domain: "globex".into(),
        project: Some("web".into()),
    };
    assert_eq!(count(scoped(vec![acme])).await, 20);
    assert_eq!(count(scoped(vec![acme_web.clone()])).await, 10);
    assert_eq!(count(scoped(vec![acme_web.clone(), globex_web])).await, 20);
    assert_eq!(count(scoped(vec![])).await, 0);
    let both = AuditFilter {
        action: Some("database.create".into()),
        ..scoped(vec![acme_web])
    };
    assert_eq!(count(both).await, 5);

    assert_eq!(
        s.purge_audit_before(base + chrono::Duration::minutes(10), None)
            .await
            .unwrap(),
        10
    );
    assert_eq!(
        s.purge_audit_before(base + chrono::Duration::minutes(10), None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(count(AuditFilter::default()).await, 20);
}

// ---------------------------------------------------------------- backend-specific

#[tokio::test]
async fn sqlite_in_memory_and_nested_paths() {
    let mem = store::connect("sqlite::memory:", cipher()).await.unwrap();
    mem.create_tenant(&tenant("acme", big_quota()))
        .await
        .unwrap();
    assert!(
        mem.get_tenant("acme").await.unwrap().is_some(),
        "readers see the writer's in-memory database"
    );

    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/dbaas.db");
    let url = format!("sqlite://{}", nested.display());
    store::run_migrations(&url).await.unwrap();
    let s = store::connect(&url, cipher()).await.unwrap();
    s.ping().await.unwrap();
    assert!(nested.exists());
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_errors() {
    let e = store::connect("mysql://localhost/x", cipher())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    // Nothing listens on port 1.
    let e = store::connect("postgres://postgres@127.0.0.1:1/none", cipher())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

// ---------------------------------------------------------------- accounts: invitations,
// suspensions, revocation, tenant deletion

mod accounts {
    macro_rules! both {
        ($($name:ident),* $(,)?) => {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn sqlite() {
                        super::super::$name(super::super::sqlite_env().await).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn postgres() {
                        super::super::$name(super::super::postgres_env().await).await;
                    }
                }
            )*
        };
    }
    both!(
        invitations_lifecycle,
        suspensions_and_credential_revocation,
        tenant_deletion_guards
    );
}

fn invitation(email: &str, binding: Binding, code: &str, at: DateTime<Utc>) -> Invitation {
    Invitation {
        id: new_id(IdKind::Invitation),
        email: email.into(),
        binding,
        code_hash: format!("hash-{code}"),
        invited_by: None,
        invited_by_email: Some("da@acme.io".into()),
        status: InvitationStatus::Pending,
        created_at: at,
        expires_at: at + domain::invitation::INVITATION_TTL,
        decided_at: None,
        accepted_by: None,
    }
}

async fn invitations_lifecycle(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let bob = user("bob@corp.io");
    s.create_user(&bob, &[]).await.unwrap();
    let t = now();
    let da = Binding::domain(Role::DomainAdmin, "acme");
    let inv = invitation("bob@corp.io", da.clone(), "a", t);
    s.create_invitation(&inv).await.unwrap();
    assert_eq!(s.get_invitation(&inv.id).await.unwrap(), Some(inv.clone()));
    // One open invitation per e-mail and scope.
    let e = s
        .create_invitation(&invitation("bob@corp.io", da.clone(), "b", t))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // A missing project is NotFound.
    let e = s
        .create_invitation(&invitation(
            "bob@corp.io",
            Binding::project(Role::Developer, "acme", "nope"),
            "c",
            t,
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    let dev = invitation(
        "bob@corp.io",
        Binding::project(Role::Developer, "acme", "web"),
        "d",
        t,
    );
    s.create_invitation(&dev).await.unwrap();
    let open = s.open_invitations_for("BOB@corp.io", t).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        s.list_invitations("acme", Some("web")).await.unwrap().len(),
        1
    );
    assert_eq!(s.list_invitations("acme", None).await.unwrap().len(), 2);

    // Nothing granted until accepted.
    assert!(s
        .get_user(&bob.id)
        .await
        .unwrap()
        .unwrap()
        .bindings
        .is_empty());
    let accepted = s.accept_invitation(&inv.id, &bob.id, t).await.unwrap();
    assert_eq!(accepted.status, InvitationStatus::Accepted);
    assert_eq!(accepted.accepted_by.as_deref(), Some(bob.id.as_str()));
    assert_eq!(
        s.get_user(&bob.id).await.unwrap().unwrap().bindings,
        vec![da]
    );
    let e = s.accept_invitation(&inv.id, &bob.id, t).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("accepted")),
        "{e:?}"
    );
    assert!(!s
        .close_invitation(&inv.id, InvitationStatus::Revoked, t)
        .await
        .unwrap());

    // Declined: closed, nothing granted.
    assert!(s
        .close_invitation(&dev.id, InvitationStatus::Declined, t)
        .await
        .unwrap());
    let e = s.accept_invitation(&dev.id, &bob.id, t).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("declined")),
        "{e:?}"
    );
    assert_eq!(
        s.get_user(&bob.id).await.unwrap().unwrap().bindings.len(),
        1
    );

    // Expired: refused, not listed, and it does not block a new invitation.
    let old = t - chrono::Duration::days(8);
    let stale = invitation(
        "carol@corp.io",
        Binding::project(Role::ProjectAdmin, "acme", "web"),
        "e",
        old,
    );
    s.create_invitation(&stale).await.unwrap();
    assert!(s
        .open_invitations_for("carol@corp.io", t)
        .await
        .unwrap()
        .is_empty());
    let carol = user("carol@corp.io");
    s.create_user(&carol, &[]).await.unwrap();
    let e = s
        .accept_invitation(&stale.id, &carol.id, t)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("expired")),
        "{e:?}"
    );
    let fresh = invitation(
        "carol@corp.io",
        Binding::project(Role::ProjectAdmin, "acme", "web"),
        "f",
        t,
    );
    s.create_invitation(&fresh).await.unwrap();
    assert!(s.accept_invitation(&fresh.id, &carol.id, t).await.is_ok());
    assert!(matches!(
        s.accept_invitation("inv-missing", &carol.id, t).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn suspensions_and_credential_revocation(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    tenancy(s, "globex", "api", big_quota()).await;
    let domains = vec!["acme".to_string(), "globex".to_string()];
    assert_eq!(
        s.suspensions(&domains).await.unwrap(),
        Suspensions::default()
    );
    let mut t = s.get_tenant("acme").await.unwrap().unwrap();
    t.is_active = false;
    s.update_tenant(&t).await.unwrap();
    let mut p = s.get_project("globex", "api").await.unwrap().unwrap();
    p.is_active = false;
    s.update_project(&p).await.unwrap();
    assert!(
        !s.get_project("globex", "api")
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    let found = s.suspensions(&domains).await.unwrap();
    assert_eq!(found.domains, vec!["acme".to_string()]);
    assert_eq!(
        found.projects,
        vec![("globex".to_string(), "api".to_string())]
    );
    assert_eq!(
        s.suspensions(&["globex".to_string()])
            .await
            .unwrap()
            .domains,
        Vec::<String>::new()
    );

    let u = user("eve@acme.io");
    s.create_user(&u, &[]).await.unwrap();
    let at = now();
    let key = ApiKey {
        id: new_id(IdKind::ApiKey),
        user_id: u.id.clone(),
        name: "ci".into(),
        description: None,
        prefix: "revokeme01".into(),
        key_hash: "f".repeat(64),
        scopes: vec![KeyScope::Read],
        created_at: at,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    s.create_api_key(&key).await.unwrap();
    let rt = RefreshToken {
        id: new_id(IdKind::RefreshToken),
        user_id: u.id.clone(),
        family_id: "fam".into(),
        token_hash: "rt-hash".into(),
        created_at: at,
        expires_at: at + chrono::Duration::days(7),
        revoked_at: None,
        replaced_by: None,
    };
    s.create_refresh_token(&rt).await.unwrap();
    let prefixes = s.revoke_user_credentials(&u.id, at).await.unwrap();
    assert_eq!(prefixes, vec!["revokeme01".to_string()]);
    assert!(s
        .find_api_key("revokeme01")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert!(s
        .find_refresh_token("rt-hash")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    assert!(s
        .revoke_user_credentials(&u.id, at)
        .await
        .unwrap()
        .is_empty());
}

async fn tenant_deletion_guards(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let u = user("da@acme.io");
    s.create_user(&u, &[Binding::domain(Role::DomainAdmin, "acme")])
        .await
        .unwrap();
    let mut p = provider("acme-own", 100.0, 1);
    p.domain = Some("acme".into());
    s.create_provider(&p, "kubeconfig", &[]).await.unwrap();
    let e = s.delete_tenant("acme").await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("acme-own")),
        "{e:?}"
    );
    p.domain = None;
    s.update_provider(&p, None, &[]).await.unwrap();
    let db = add_db(s, "acme", "web", "orders").await;
    let e = s.delete_tenant("acme").await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.contains("database")),
        "{e:?}"
    );
    let mut gone = db.clone();
    gone.status = DatabaseStatus::Deleted;
    s.update_database(&gone).await.unwrap();
    assert!(s.delete_tenant("acme").await.unwrap());
    assert!(s.get_tenant("acme").await.unwrap().is_none());
    assert!(s.get_project("acme", "web").await.unwrap().is_none());
    assert!(s
        .get_user(&u.id)
        .await
        .unwrap()
        .unwrap()
        .bindings
        .is_empty());
    assert!(!s.delete_tenant("acme").await.unwrap());
    // The name is retired.
    let e = s
        .create_tenant(&tenant("acme", big_quota()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
}

// ---------------------------------------------------------------- parked operations, fairness

async fn claim_create(s: &dyn Store, db: &Database) -> Operation {
    s.list_operations(
        &OperationFilter {
            database_id: Some(db.id.clone()),
            op_type: Some(OperationType::Create),
            ..Default::default()
        },
        page(1, 1),
    )
    .await
    .unwrap()
    .items
    .remove(0)
}

async fn parked_operations_hold_no_worker_and_wake(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let a = add_db(s, "acme", "web", "alpha").await;
    let create = claim_create(s, &a).await;
    let t = t0() + chrono::Duration::seconds(1);
    let secs = chrono::Duration::seconds;
    let lease = Duration::from_secs(60);
    let mut claimed = s.claim_operation("w1", lease, t).await.unwrap().unwrap();
    assert_eq!(claimed.id, create.id);
    claimed.progress = 50;
    claimed.message = Some("waiting for KubeDB to report the database Ready".into());
    assert!(s.save_progress(&claimed, "w1").await.unwrap());

    let note = "KubeDB resource ns/alpha to report Ready";
    assert!(
        !s.park_operation(&create.id, "w2", t + secs(60), note, t)
            .await
            .unwrap(),
        "only the lease holder parks"
    );
    assert!(s
        .park_operation(&create.id, "w1", t + secs(60), note, t)
        .await
        .unwrap());
    let parked = s.get_operation(&create.id).await.unwrap().unwrap();
    assert_eq!(
        parked.status,
        OperationStatus::InProgress,
        "still in progress"
    );
    assert_eq!(parked.lease_owner, None, "no worker holds it");
    assert_eq!(parked.lease_expires_at, None);
    assert_eq!(parked.progress, 50, "progress kept");
    assert_eq!(parked.message, claimed.message, "message kept");
    assert_eq!(parked.retry_count, 0, "parking is no retry");
    assert_eq!(parked.run_after, t + secs(60));
    assert_eq!(
        s.parked_waiting_for(&create.id).await.unwrap().as_deref(),
        Some(note)
    );
    assert!(
        !s.renew_lease(&create.id, "w1", lease, t).await.unwrap(),
        "the lease was given up"
    );
    assert!(
        s.claim_operation("w2", lease, t + secs(1))
            .await
            .unwrap()
            .is_none(),
        "not due yet"
    );

    // The watch event it waits for wakes it; any worker resumes it.
    assert!(!s.wake_parked("db-unknown", t + secs(2)).await.unwrap());
    assert!(s.wake_parked(&a.id, t + secs(2)).await.unwrap());
    let resumed = s
        .claim_operation("w2", lease, t + secs(2))
        .await
        .unwrap()
        .expect("woken operation is claimable");
    assert_eq!(resumed.id, create.id);
    assert_eq!(resumed.lease_owner.as_deref(), Some("w2"));
    assert_eq!(
        resumed.started_at,
        Some(t),
        "first start kept: the deadline counts from it"
    );
    assert_eq!(resumed.retry_count, 0);
    assert_eq!(s.parked_waiting_for(&create.id).await.unwrap(), None);

    // Without an event, the re-check time makes it due.
    assert!(s
        .park_operation(&create.id, "w2", t + secs(60), note, t + secs(3))
        .await
        .unwrap());
    assert!(s
        .claim_operation("w1", lease, t + secs(59))
        .await
        .unwrap()
        .is_none());
    let rechecked = s
        .claim_operation("w1", lease, t + secs(60))
        .await
        .unwrap()
        .expect("due at its re-check time");
    assert_eq!(rechecked.id, create.id);

    // An event while a worker still holds it is not lost: its next park ends at once.
    assert!(
        !s.wake_parked(&a.id, t + secs(61)).await.unwrap(),
        "held, not parked: nothing to claim yet"
    );
    assert!(s
        .park_operation(&create.id, "w1", t + secs(200), note, t + secs(62))
        .await
        .unwrap());
    let again = s
        .claim_operation("w2", lease, t + secs(62))
        .await
        .unwrap()
        .expect("the wake-up during the run made the park end at once");
    assert_eq!(again.id, create.id);
    // ... and it does not linger: the next park waits again.
    assert!(s
        .park_operation(&create.id, "w2", t + secs(200), note, t + secs(63))
        .await
        .unwrap());
    assert!(s
        .claim_operation("w1", lease, t + secs(64))
        .await
        .unwrap()
        .is_none());

    // A later operation of the database waits behind the parked one (one at a time, in order),
    // but queuing it wakes the parked one so that it can see it.
    let scale = operation(&a, OperationType::ScaleVertical);
    s.enqueue_operation(&scale).await.unwrap();
    let woken = s
        .claim_operation("w1", lease, t + secs(65))
        .await
        .unwrap()
        .expect("queuing behind it woke the parked operation");
    assert_eq!(woken.id, create.id, "the create first, not the scale");
    assert!(s
        .claim_operation("w2", lease, t + secs(65))
        .await
        .unwrap()
        .is_none());
    let done = OperationOutcome {
        status: OperationStatus::Completed,
        message: Some("created".into()),
        error_message: None,
    };
    assert!(s
        .complete_operation(&create.id, "w1", &done, t + secs(66))
        .await
        .unwrap());
    let next = s
        .claim_operation("w2", lease, t + secs(66))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, scale.id);
}

async fn claims_prefer_the_least_busy_domain(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    tenancy(s, "globex", "web", big_quota()).await;
    let a1 = add_db(s, "acme", "web", "a1").await;
    let a2 = add_db(s, "acme", "web", "a2").await;
    let a3 = add_db(s, "acme", "web", "a3").await;
    let g1 = add_db(s, "globex", "web", "g1").await;
    // Late enough for every operation this test queues to be due.
    let t = t0() + chrono::Duration::seconds(600);
    let lease = Duration::from_secs(60);
    let claim = |w: &'static str| async move {
        s.claim_operation(w, lease, t)
            .await
            .unwrap()
            .map(|o| o.database_id)
    };
    assert_eq!(claim("w1").await, Some(a1.id.clone()), "oldest first");
    assert_eq!(
        claim("w2").await,
        Some(g1.id.clone()),
        "globex holds no worker: it goes before acme's older operations"
    );
    assert_eq!(
        claim("w3").await,
        Some(a2.id.clone()),
        "a tie goes to the oldest"
    );
    // A parked operation holds no worker: acme now holds one (a2), globex one (g1).
    let a1_op = claim_create(s, &a1).await;
    assert!(s
        .park_operation(&a1_op.id, "w1", t + chrono::Duration::seconds(30), "x", t)
        .await
        .unwrap());
    let g2 = add_db(s, "globex", "web", "g2").await;
    // acme holds 1 (a2), globex 1 (g1): the oldest, a3, goes first.
    assert_eq!(claim("w4").await, Some(a3.id.clone()));
    // acme holds 2, globex 1: globex's g2.
    assert_eq!(claim("w5").await, Some(g2.id.clone()));
    assert_eq!(claim("w6").await, None);
}

async fn nothing_runs_without_a_reservation(env: Env) {
    let s = &*env.store;
    tenancy(s, "acme", "web", big_quota()).await;
    let a = add_db(s, "acme", "web", "alpha").await;
    let to = |status: DatabaseStatus, from: DatabaseStatus| store::DatabasePatch {
        status: Some(status),
        expect_status: vec![from],
        ..Default::default()
    };
    let t = now();
    assert!(s
        .patch_database(
            &a.id,
            &to(DatabaseStatus::Failed, DatabaseStatus::Pending),
            t
        )
        .await
        .unwrap());
    s.release_reservation(&a.id, None).await.unwrap();
    assert!(
        !s.patch_database(
            &a.id,
            &to(DatabaseStatus::Running, DatabaseStatus::Failed),
            t
        )
        .await
        .unwrap(),
        "failed → running refused without a reservation"
    );
    let d = s.get_database(&a.id).await.unwrap().unwrap();
    assert_eq!(d.status, DatabaseStatus::Failed);
    assert!(s
        .patch_database(
            &a.id,
            &to(DatabaseStatus::Deleting, DatabaseStatus::Failed),
            t
        )
        .await
        .unwrap());
    let b = add_db(s, "acme", "web", "bravo").await;
    assert!(s
        .patch_database(
            &b.id,
            &to(DatabaseStatus::Running, DatabaseStatus::Pending),
            t
        )
        .await
        .unwrap());
}

/// One holder at a time; renewal keeps the term; a takeover after expiry (or a release) moves it.
async fn one_lease_holder_and_its_term_fences(env: Env) {
    let s = &env.store;
    let ttl = Duration::from_secs(10);
    let t0 = now();
    let a = s.acquire_lease("leader", "a", ttl, t0).await.unwrap();
    assert_eq!((a.holder.as_str(), a.term), ("a", 1));
    let b = s.acquire_lease("leader", "b", ttl, t0).await.unwrap();
    assert_eq!(
        (b.holder.as_str(), b.term),
        ("a", 1),
        "b waits while a's lease runs"
    );
    let renewed = s
        .acquire_lease("leader", "a", ttl, t0 + chrono::Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!((renewed.holder.as_str(), renewed.term), ("a", 1));
    assert!(renewed.expires_at > a.expires_at);
    // a stops renewing: after its lease ran out b takes over in a new term
    let later = t0 + chrono::Duration::seconds(16);
    let b = s.acquire_lease("leader", "b", ttl, later).await.unwrap();
    assert_eq!((b.holder.as_str(), b.term), ("b", 2));
    // a wakes up late: it is not the leader any more
    let a = s.acquire_lease("leader", "a", ttl, later).await.unwrap();
    assert_eq!((a.holder.as_str(), a.term), ("b", 2));
    // b hands over on shutdown; a takes it at once
    s.release_lease("leader", "a", later).await.unwrap();
    assert_eq!(
        s.acquire_lease("leader", "a", ttl, later)
            .await
            .unwrap()
            .holder,
        "b",
        "only the holder releases"
    );
    s.release_lease("leader", "b", later).await.unwrap();
    let a = s.acquire_lease("leader", "a", ttl, later).await.unwrap();
    assert_eq!((a.holder.as_str(), a.term), ("a", 3));
    // concurrent candidates: exactly one wins
    let t = later + chrono::Duration::seconds(60);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.acquire_lease("race", &format!("r{i}"), ttl, t)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut holders = HashSet::new();
    for t in tasks {
        holders.insert(t.await.unwrap().holder);
    }
    assert_eq!(holders.len(), 1, "{holders:?}");
}

/// A leader's writes carry its term: once another replica took the lease over (or the lease ran
/// out), every fenced write – database patch, day-2 change, provider health, reservation release,
/// audit purge – changes nothing.
async fn fenced_writes_apply_only_in_their_term(env: Env) {
    let s = env.store.as_ref();
    tenancy(s, "fence", "p", big_quota()).await;
    let db = add_db(s, "fence", "p", "one").await;
    let p = provider("fenced", 8.0, 1);
    s.create_provider(&p, "kubeconfig", &[]).await.unwrap();
    let ttl = Duration::from_secs(60);
    let a = s.acquire_lease("fence", "a", ttl, now()).await.unwrap();
    let fence_a = store::Fence {
        lease: "fence".into(),
        holder: "a".into(),
        term: a.term,
    };
    let patch = |ready: i64, fence: &store::Fence| store::DatabasePatch {
        ready_replicas: Some(ready),
        fence: Some(fence.clone()),
        ..Default::default()
    };
    assert!(s
        .patch_database(&db.id, &patch(1, &fence_a), now())
        .await
        .unwrap());
    assert!(s
        .set_provider_health(
            &p.id,
            &serde_json::json!({"v": 1}),
            &serde_json::json!({"status": "connected"}),
            Some(&fence_a)
        )
        .await
        .unwrap());
    // a's lease runs out unrenewed (a was paused) and b takes over
    let late = now() + chrono::Duration::seconds(61);
    let b = s.acquire_lease("fence", "b", ttl, late).await.unwrap();
    assert_eq!((b.holder.as_str(), b.term), ("b", a.term + 1));
    // a wakes up and writes as if it still led: nothing applies
    assert!(!s
        .patch_database(&db.id, &patch(2, &fence_a), now())
        .await
        .unwrap());
    let change = store::DatabaseChange {
        patch: patch(3, &fence_a),
        settings: store::DatabaseSettings {
            replicas: Some(5),
            ..Default::default()
        },
        enqueue: vec![operation(&db, OperationType::ScaleHorizontal)],
        ..Default::default()
    };
    assert!(!s.apply_change(&db.id, &change, now()).await.unwrap());
    assert!(!s
        .set_provider_health(
            &p.id,
            &serde_json::json!({"v": 2}),
            &serde_json::json!({"status": "unreachable"}),
            Some(&fence_a)
        )
        .await
        .unwrap());
    s.release_reservation(&db.id, Some(&fence_a)).await.unwrap();
    s.insert_audit(&audit(
        "database.get",
        Some("fence"),
        Some("p"),
        now() - chrono::Duration::days(400),
        true,
    ))
    .await
    .unwrap();
    assert_eq!(
        s.purge_audit_before(now(), Some(&fence_a)).await.unwrap(),
        0
    );
    let stored = s.get_database(&db.id).await.unwrap().unwrap();
    assert_eq!(stored.ready_replicas, 1, "the stale leader's patch applied");
    assert_eq!(
        stored.replicas, db.replicas,
        "the stale leader's change applied"
    );
    assert_ne!(
        stored.reserved,
        Usage::default(),
        "the stale leader released"
    );
    let ops = s
        .list_operations(&OperationFilter::default(), page(1, 50))
        .await
        .unwrap();
    assert!(
        ops.items
            .iter()
            .all(|o| o.op_type != OperationType::ScaleHorizontal),
        "the stale leader queued an operation"
    );
    let health = s.get_provider(&p.id).await.unwrap().unwrap();
    assert_eq!(health.connection["status"], "connected");
    // the same writes under the current term apply
    let fence_b = store::Fence {
        lease: "fence".into(),
        holder: "b".into(),
        term: b.term,
    };
    // b's lease was taken at `late`: its writes are checked at that instant
    assert!(s
        .patch_database(&db.id, &patch(2, &fence_b), late)
        .await
        .unwrap());
    assert_eq!(
        s.get_database(&db.id)
            .await
            .unwrap()
            .unwrap()
            .ready_replicas,
        2
    );
}

/// Backup storage keeps its secret sealed and apart; backup records are upserted by id, listed
/// newest first, counted per project when succeeded, and a relist replaces a provider's set.
async fn backup_storage_and_records(env: Env) {
    use domain::backup::{backup_id, Backup, BackupKind, BackupScope, BackupStatus, BackupStorage};
    let s = env.store.as_ref();
    tenancy(s, "bk", "p", big_quota()).await;
    let db = add_db(s, "bk", "p", "one").await;
    let t = now();
    let scope = BackupScope::Provider("prov-1".into());
    assert!(s.get_backup_storage(&scope).await.unwrap().is_none());
    let storage = BackupStorage {
        scope: scope.clone(),
        endpoint: "http://127.0.0.1:9000".into(),
        bucket: "dbaas-backups".into(),
        prefix: "prod".into(),
        region: "us-east-1".into(),
        access_key_id: "AKIA".into(),
        insecure_tls: false,
        created_at: t,
        updated_at: t,
        updated_by: Some("admin".into()),
    };
    s.put_backup_storage(&storage, "very-secret").await.unwrap();
    assert_eq!(
        s.get_backup_storage(&scope).await.unwrap(),
        Some(storage.clone())
    );
    assert_eq!(
        s.backup_storage_secret(&scope).await.unwrap().as_deref(),
        Some("very-secret")
    );
    // the tenant scope of the same name is another storage
    assert!(s
        .get_backup_storage(&BackupScope::Tenant("prov-1".into()))
        .await
        .unwrap()
        .is_none());

    let record = |name: &str, status: BackupStatus, minutes: i64| Backup {
        id: backup_id(&db.id, name),
        database_id: db.id.clone(),
        domain: "bk".into(),
        project: "p".into(),
        provider_id: "prov-1".into(),
        snapshot_name: name.into(),
        kind: BackupKind::Scheduled,
        status,
        snapshot_time: Some(t),
        size_bytes: Some(1024),
        duration_seconds: Some(1.5),
        integrity: Some(true),
        repository: "one-repo".into(),
        expires_at: None,
        error: None,
        created_at: t + chrono::Duration::minutes(minutes),
        updated_at: t,
    };
    let a = record("snap-a", BackupStatus::Running, 0);
    assert!(s.upsert_backup(&a, None).await.unwrap());
    let a_done = Backup {
        status: BackupStatus::Succeeded,
        ..a.clone()
    };
    assert!(s.upsert_backup(&a_done, None).await.unwrap());
    let b = record("snap-b", BackupStatus::Failed, 1);
    s.upsert_backup(&b, None).await.unwrap();
    let listed = s.list_backups(&db.id, page(1, 10)).await.unwrap();
    assert_eq!(listed.total, 2);
    assert_eq!(listed.items[0].id, b.id, "newest first");
    assert_eq!(listed.items[1].status, BackupStatus::Succeeded);
    assert_eq!(
        s.count_backups("bk", "p").await.unwrap(),
        1,
        "only succeeded count"
    );
    assert_eq!(s.latest_backup(&db.id).await.unwrap().unwrap().id, a.id);
    assert_eq!(
        s.get_backup(&db.id, &a.id).await.unwrap(),
        Some(a_done.clone())
    );
    assert!(s.get_backup("db-other", &a.id).await.unwrap().is_none());
    // a relist that no longer has snap-a removes it
    let c = record("snap-c", BackupStatus::Succeeded, 2);
    s.sync_backups("prov-1", &[b.clone(), c.clone()], None)
        .await
        .unwrap();
    let ids: Vec<String> = s
        .list_backups(&db.id, page(1, 10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(ids, vec![c.id.clone(), b.id.clone()]);
    s.remove_backup(&c.id, None).await.unwrap();
    assert_eq!(s.count_backups("bk", "p").await.unwrap(), 0);
}
