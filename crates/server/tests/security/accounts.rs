//! Security regressions: accounts, tenancy and authorization (findings 2, 5 and 6 of the review,
//! and the tightenings around them), written the way an outsider would try them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::serve::{create_admin, AdminError, AdminOutcome};

use crate::both_stores;
use crate::common::cluster::{onboard, start_sim};
use crate::common::*;

const SQUATTER_PASSWORD: &str = "squatter-password-1";
const USER_PASSWORD: &str = "user-password-123";

/// Signs up through the open registration route; returns the access and refresh tokens.
async fn register(s: &TestServer, email: &str, organization: &str) -> (String, String) {
    let (st, b) = s
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(
                json!({"email": email, "password": SQUATTER_PASSWORD, "full_name": "Some One",
                        "organization": organization}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "register {email}: {b}");
    (
        b["access_token"].as_str().unwrap().to_string(),
        b["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// A user created by the platform admin holding `bindings`; returns (access token, user id).
async fn user_with(s: &TestServer, admin: &str, email: &str, bindings: Value) -> (String, String) {
    let (st, u) = s
        .post(
            "/api/v1/users",
            admin,
            json!({"email": email, "password": USER_PASSWORD, "full_name": "Test User", "bindings": bindings}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let token = s.login(email, USER_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (token, u["id"].as_str().unwrap().to_string())
}

async fn api_key(s: &TestServer, token: &str, scopes: Value) -> String {
    let (st, k) = s
        .post(
            "/api/v1/auth/api-keys",
            token,
            json!({"name": "ci key", "scopes": scopes}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{k}");
    k["key"].as_str().unwrap().to_string()
}

async fn refresh(s: &TestServer, token: &str) -> StatusCode {
    s.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({"refresh_token": token})),
    )
    .await
    .0
}

/// Tenant `acme` with projects `web` and `api`.
async fn acme(s: &TestServer, admin: &str) {
    let (st, b) = s
        .post("/api/v1/tenants", admin, json!({"name": "acme"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    for p in ["web", "api"] {
        let (st, b) = s
            .post("/api/v1/tenants/acme/projects", admin, json!({"name": p}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
}

fn is_admin(me: &Value) -> bool {
    me["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["role"] == "platform_admin")
}

fn assert_suspended(st: StatusCode, b: &Value, what: &str) {
    assert_eq!(st, StatusCode::FORBIDDEN, "{what}: {b}");
    assert_eq!(b["error"]["code"], "forbidden", "{what}: {b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("suspended"),
        "{what}: {b}"
    );
}

both_stores!(
    create_admin_never_promotes_a_preregistered_account,
    |b| async move {
        let s = TestServer::start(b).await;
        let state = &s.running.state;
        // The attacker signs up with the address the operator will make admin.
        let (squatter, _) = register(&s, "boss@corp.io", "Boss Corp").await;

        match create_admin(
            state,
            "boss@corp.io",
            Some("operator-password-1".into()),
            false,
        )
        .await
        {
            Err(
                e @ AdminError::Exists {
                    is_admin: false, ..
                },
            ) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("already exists") && msg.contains("--promote-existing"),
                    "{msg}"
                );
            }
            other => panic!("must refuse, got {other:?}"),
        }
        let (_, me) = s.get("/api/v1/auth/me", &squatter).await;
        assert!(!is_admin(&me), "the squatter was promoted: {me}");
        let (st, _) = s.get("/api/v1/users", &squatter).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        // The operator's password was not set on the squatter's account either.
        let (st, _) = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": "boss@corp.io", "password": "operator-password-1"})),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);

        // Explicitly asked for: promoted, and the password stays the account's own.
        let out = create_admin(
            state,
            "Boss@Corp.io",
            Some("operator-password-1".into()),
            true,
        )
        .await
        .unwrap();
        assert_eq!(out, AdminOutcome::Promoted);
        let token = s.login("boss@corp.io", SQUATTER_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, me) = s.get("/api/v1/auth/me", &token).await;
        assert!(is_admin(&me), "{me}");
        let admin = s.admin_token().await;
        let (_, logs) = s
            .get("/api/v1/audit-logs?action=user.promote_admin", &admin)
            .await;
        assert_eq!(logs["total"], 1, "{logs}");
        assert_eq!(logs["audit_logs"][0]["details"]["password_changed"], false);

        // A fresh address is created with the operator's password.
        match create_admin(
            state,
            "ops@corp.io",
            Some("operator-password-2".into()),
            false,
        )
        .await
        {
            Ok(AdminOutcome::Created {
                generated_password: None,
            }) => {}
            other => panic!("{other:?}"),
        }
        let t = s.login("ops@corp.io", "operator-password-2").await;
        let (_, me) = s
            .get("/api/v1/auth/me", t["access_token"].as_str().unwrap())
            .await;
        assert!(is_admin(&me));
        s.running.shutdown().await;
    }
);

/// The release binary, as an operator runs it: refused with a non-zero exit, then promoted only
/// with `--promote-existing`, which says the password was left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_subcommand_exits_non_zero_on_an_existing_email() {
    let s = TestServer::start(Backend::Sqlite).await;
    register(&s, "boss@corp.io", "Boss Corp").await;
    let data_dir = s.running.state.config.data_dir.clone();
    let run = move |promote: bool| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_dbaas"));
        c.args(["admin", "create-admin", "--email", "boss@corp.io"]);
        if promote {
            c.arg("--promote-existing");
        }
        c.env("DBAAS_DATA_DIR", &data_dir)
            .env("DBAAS_NEW_ADMIN_PASSWORD", "operator-password-1")
            .env_remove("DBAAS_DATABASE_URL")
            .env_remove("DBAAS_REDIS_URL")
            .env_remove("DBAAS_SECRET_KEY")
            .env_remove("DBAAS_SECRET_KEY_FILE");
        c
    };
    let out = tokio::task::spawn_blocking(move || {
        let refused = run(false).output().unwrap();
        let promoted = run(true).output().unwrap();
        (refused, promoted)
    })
    .await
    .unwrap();
    let (refused, promoted) = out;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "must fail: {stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    let stdout = String::from_utf8_lossy(&promoted.stdout);
    assert!(
        promoted.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    assert!(stdout.contains("NOT changed"), "{stdout}");
    // The account keeps its own password.
    s.login("boss@corp.io", SQUATTER_PASSWORD).await;
    s.running.shutdown().await;
}

both_stores!(
    bootstrap_refuses_a_preregistered_admin_email,
    |b| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path().to_path_buf());
        if b == Backend::Postgres {
            config.database_url = Some(store::testing::fresh_postgres_url().await);
        }
        config.admin_email = "root@corp.io".into();
        let state = server::serve::build_state(config).await.unwrap();
        // Registered before the platform's first start with an admin.
        let now = chrono::Utc::now();
        let squatter = domain::model::User {
            id: domain::ids::new_id(domain::ids::IdKind::User),
            email: "root@corp.io".into(),
            full_name: "Not The Operator".into(),
            password_hash: "x".into(),
            is_active: true,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        state.store.create_user(&squatter, &[]).await.unwrap();
        let err = server::serve::bootstrap_admin(&state).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("refusing to start") && msg.contains("root@corp.io"),
            "{msg}"
        );
        assert_eq!(state.store.count_platform_admins().await.unwrap(), 0);
        let u = state.store.get_user(&squatter.id).await.unwrap().unwrap();
        assert!(u.bindings.is_empty(), "{:?}", u.bindings);
    }
);

both_stores!(
    members_added_by_email_must_accept_with_the_code,
    |b| async move {
        let s = TestServer::start(b).await;
        let admin = s.admin_token().await;
        acme(&s, &admin).await;
        let (da, _) = user_with(
            &s,
            &admin,
            "da@acme.io",
            json!([{"role": "domain_admin", "domain": "acme"}]),
        )
        .await;
        // The squatter registers the address the tenant will invite.
        let (squatter, _) = register(&s, "boss@corp.io", "Squat").await;
        let (st, inv) = s
            .post(
                "/api/v1/tenants/acme/members",
                &da,
                json!({"email": "Boss@Corp.io", "role": "domain_admin"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{inv}");
        assert_eq!(inv["status"], "pending");
        let id = inv["id"].as_str().unwrap().to_string();
        let code = inv["code"].as_str().unwrap().to_string();
        assert!(code.starts_with("inv_"), "{inv}");

        // Pending grants nothing.
        let (st, _) = s.get("/api/v1/tenants/acme", &squatter).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        let (_, members) = s.get("/api/v1/tenants/acme/members", &da).await;
        assert!(!members.to_string().contains("boss@corp.io"), "{members}");
        // The squatter sees the invitation (without its code) but cannot accept it without the code.
        let (st, mine) = s.get("/api/v1/auth/invitations", &squatter).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(mine["total"], 1, "{mine}");
        assert!(mine["invitations"][0].get("code").is_none(), "{mine}");
        let accept = format!("/api/v1/auth/invitations/{id}/accept");
        for guess in ["", "inv_guess", &format!("{code}x")] {
            let (st, b) = s.post(&accept, &squatter, json!({"code": guess})).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{guess}: {b}");
        }
        let (st, _) = s.get("/api/v1/tenants/acme", &squatter).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "still no access");
        // A stranger cannot even see someone else's invitation.
        let (stranger, _) = user_with(&s, &admin, "stranger@x.io", json!([])).await;
        let (st, _) = s.post(&accept, &stranger, json!({"code": code})).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // The inviter revokes it; even the right code no longer works.
        let (st, _) = s
            .delete(&format!("/api/v1/tenants/acme/invitations/{id}"), &da)
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, b) = s.post(&accept, &squatter, json!({"code": code})).await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("revoked"));
        let (_, mine) = s.get("/api/v1/auth/invitations", &squatter).await;
        assert_eq!(mine["total"], 0);

        // The real person, holding the code the inviter sent them, accepts: now they have the role.
        let (carol, _) = user_with(&s, &admin, "carol@corp.io", json!([])).await;
        let (_, inv) = s
            .post(
                "/api/v1/tenants/acme/projects/web/members",
                &da,
                json!({"email": "carol@corp.io", "role": "project_admin"}),
            )
            .await;
        let (cid, ccode) = (inv["id"].as_str().unwrap(), inv["code"].as_str().unwrap());
        let (st, _) = s.get("/api/v1/tenants/acme/projects/web", &carol).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // Not with an API key: accepting is an account matter.
        let carol_key = api_key(&s, &carol, json!(["read", "write"])).await;
        let (st, _) = s
            .post(
                &format!("/api/v1/auth/invitations/{cid}/accept"),
                &carol_key,
                json!({"code": ccode}),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        let (st, b) = s
            .post(
                &format!("/api/v1/auth/invitations/{cid}/accept"),
                &carol,
                json!({"code": ccode}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "accepted");
        let (st, _) = s.get("/api/v1/tenants/acme/projects/web", &carol).await;
        assert_eq!(st, StatusCode::OK);
        let (st, _) = s
            .post(
                &format!("/api/v1/auth/invitations/{cid}/accept"),
                &carol,
                json!({"code": ccode}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "accepted once");
        let (_, logs) = s
            .get(
                "/api/v1/audit-logs?action=member.accept&status=success",
                &admin,
            )
            .await;
        assert_eq!(logs["total"], 1, "{logs}");
        assert_eq!(logs["audit_logs"][0]["user_email"], "carol@corp.io");

        // Declined: nothing granted, the inviter sees it declined.
        let (dave, _) = user_with(&s, &admin, "dave@corp.io", json!([])).await;
        let (_, inv) = s
            .post(
                "/api/v1/tenants/acme/members",
                &da,
                json!({"email": "dave@corp.io", "role": "domain_admin"}),
            )
            .await;
        let (did, dcode) = (inv["id"].as_str().unwrap(), inv["code"].as_str().unwrap());
        let (st, _) = s
            .post(
                &format!("/api/v1/auth/invitations/{did}/decline"),
                &dave,
                json!({}),
            )
            .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = s
            .post(
                &format!("/api/v1/auth/invitations/{did}/accept"),
                &dave,
                json!({"code": dcode}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT);
        let (_, all) = s.get("/api/v1/tenants/acme/invitations", &da).await;
        let status_of = |id: &str| {
            all["invitations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == id)
                .map(|i| i["status"].clone())
        };
        assert_eq!(status_of(did), Some(json!("declined")), "{all}");
        assert_eq!(status_of(&id), Some(json!("revoked")), "{all}");
        assert_eq!(status_of(cid), Some(json!("accepted")), "{all}");
        let (st, _) = s.get("/api/v1/tenants/acme", &dave).await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // Expired: an invitation a week old cannot be accepted and is no longer listed.
        let (erin, _) = user_with(&s, &admin, "erin@corp.io", json!([])).await;
        let past = chrono::Utc::now() - chrono::Duration::days(8);
        let stale = domain::invitation::Invitation {
            id: domain::ids::new_id(domain::ids::IdKind::Invitation),
            email: "erin@corp.io".into(),
            binding: domain::access::Binding::domain(domain::access::Role::DomainAdmin, "acme"),
            code_hash: server::auth::tokens::sha256_hex("inv_old-code"),
            invited_by: None,
            invited_by_email: Some("da@acme.io".into()),
            status: domain::invitation::InvitationStatus::Pending,
            created_at: past,
            expires_at: past + domain::invitation::INVITATION_TTL,
            decided_at: None,
            accepted_by: None,
        };
        s.running
            .state
            .store
            .create_invitation(&stale)
            .await
            .unwrap();
        let (_, mine) = s.get("/api/v1/auth/invitations", &erin).await;
        assert_eq!(mine["total"], 0, "{mine}");
        let (st, b) = s
            .post(
                &format!("/api/v1/auth/invitations/{}/accept", stale.id),
                &erin,
                json!({"code": "inv_old-code"}),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains("expired"));
        let (st, _) = s.get("/api/v1/tenants/acme", &erin).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
        // A lapsed invitation does not block a new one.
        let (st, b) = s
            .post(
                "/api/v1/tenants/acme/members",
                &da,
                json!({"email": "erin@corp.io", "role": "domain_admin"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        s.running.shutdown().await;
    }
);

both_stores!(
    a_suspended_tenant_refuses_changes_and_its_keys,
    |b| async move {
        let s = TestServer::start(b).await;
        let admin = s.admin_token().await;
        acme(&s, &admin).await;
        let (da, _) = user_with(
            &s,
            &admin,
            "da@acme.io",
            json!([{"role": "domain_admin", "domain": "acme"}]),
        )
        .await;
        let (dev, _) = user_with(
            &s,
            &admin,
            "dev@acme.io",
            json!([{"role": "developer", "domain": "acme", "project": "web"}]),
        )
        .await;
        let key = api_key(&s, &da, json!(["read", "write"])).await;
        let dbs = "/api/v1/domain/acme/project/web/databases";
        let create = json!({"name": "orders", "engine": "postgres", "version": "16.10"});
        // Both work before (the key reads the tenant; a create gets past authorization).
        let (st, _) = s.get("/api/v1/tenants/acme", &key).await;
        assert_eq!(st, StatusCode::OK);

        let (st, t) = s
            .patch("/api/v1/tenants/acme", &admin, json!({"is_active": false}))
            .await;
        assert_eq!(st, StatusCode::OK, "{t}");
        assert_eq!(t["is_active"], false);

        // Every change by its members is refused at once, with the reason.
        let missing_db = format!("{dbs}/db-0123456789abcdef0123456789abcdef");
        let attempts: Vec<(Method, String, Option<Value>)> = vec![
            (Method::POST, dbs.into(), Some(create.clone())),
            (Method::DELETE, missing_db.clone(), None),
            (Method::GET, format!("{missing_db}/credentials"), None),
            (
                Method::POST,
                "/api/v1/tenants/acme/projects".into(),
                Some(json!({"name": "new-one"})),
            ),
            (
                Method::PATCH,
                "/api/v1/tenants/acme".into(),
                Some(json!({"display_name": "Still here"})),
            ),
            (
                Method::POST,
                "/api/v1/tenants/acme/members".into(),
                Some(json!({"email": "x@acme.io", "role": "domain_admin"})),
            ),
            (
                Method::DELETE,
                "/api/v1/tenants/acme/projects/api".into(),
                None,
            ),
        ];
        for (m, path, body) in &attempts {
            let (st, b) = s.call(m.clone(), path, Some(&da), body.clone()).await;
            assert_suspended(st, &b, &format!("domain admin {m} {path}"));
            let (st, b) = s.call(m.clone(), path, Some(&key), body.clone()).await;
            assert_suspended(st, &b, &format!("API key {m} {path}"));
        }
        // Its keys cannot even read in it; a developer (no admin) neither.
        for (who, t) in [("key", &key), ("developer", &dev)] {
            let (st, b) = s.get("/api/v1/tenants/acme/projects/web", t).await;
            assert_suspended(st, &b, who);
            let (st, b) = s.get(dbs, t).await;
            assert_suspended(st, &b, who);
        }
        // Admins still read: the tenant's own admin (signed in) and the platform admin.
        for t in [&da, &admin] {
            let (st, b) = s.get("/api/v1/tenants/acme", t).await;
            assert_eq!(st, StatusCode::OK, "{b}");
            let (st, b) = s.get(dbs, t).await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
        // Platform admins are never suspended (they inspect, clean up, reactivate).
        let (st, b) = s
            .post(
                "/api/v1/tenants/acme/projects",
                &admin,
                json!({"name": "by-admin"}),
            )
            .await;
        assert_eq!(
            st,
            StatusCode::CREATED,
            "platform admins are not suspended: {b}"
        );

        // Reactivated: the same member and key work again at once.
        let (st, _) = s
            .patch("/api/v1/tenants/acme", &admin, json!({"is_active": true}))
            .await;
        assert_eq!(st, StatusCode::OK);
        let (st, b) = s
            .post(
                "/api/v1/tenants/acme/projects",
                &da,
                json!({"name": "new-one"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let (st, _) = s.get("/api/v1/tenants/acme/projects/web", &key).await;
        assert_eq!(st, StatusCode::OK);
        s.running.shutdown().await;
    }
);

both_stores!(a_suspended_project_and_a_suspended_user, |b| async move {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    acme(&s, &admin).await;
    let (da, _) = user_with(
        &s,
        &admin,
        "da@acme.io",
        json!([{"role": "domain_admin", "domain": "acme"}]),
    )
    .await;
    let (pa, _) = user_with(
        &s,
        &admin,
        "pa@acme.io",
        json!([{"role": "project_admin", "domain": "acme", "project": "web"},
               {"role": "project_admin", "domain": "acme", "project": "api"}]),
    )
    .await;
    // A project admin may not suspend; the domain admin may.
    let (st, _) = s
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &pa,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, p) = s
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &da,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    assert_eq!(p["is_active"], false);
    let create = json!({"name": "orders", "engine": "postgres", "version": "16.10"});
    let (st, b) = s
        .post(
            "/api/v1/domain/acme/project/web/databases",
            &pa,
            create.clone(),
        )
        .await;
    assert_suspended(st, &b, "create in the suspended project");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Project 'web'"),
        "{b}"
    );
    let (st, b) = s
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &da,
            json!({"description": "edit"}),
        )
        .await;
    assert_suspended(st, &b, "edit the suspended project");
    // The project admin still reads it; the sibling project is untouched.
    let (st, _) = s.get("/api/v1/tenants/acme/projects/web", &pa).await;
    assert_eq!(st, StatusCode::OK);
    let (st, b) = s
        .post("/api/v1/domain/acme/project/api/databases", &pa, create)
        .await;
    assert_ne!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, _) = s
        .patch(
            "/api/v1/tenants/acme/projects/web",
            &da,
            json!({"is_active": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "reactivated by its domain admin");

    // A suspended user: tokens, refresh tokens and keys all stop, and stay revoked.
    let (st, u) = s
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "eve@acme.io", "password": USER_PASSWORD, "full_name": "Eve"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let uid = u["id"].as_str().unwrap().to_string();
    let pair = s.login("eve@acme.io", USER_PASSWORD).await;
    let access = pair["access_token"].as_str().unwrap().to_string();
    let rt = pair["refresh_token"].as_str().unwrap().to_string();
    let key = api_key(&s, &access, json!(["read"])).await;
    let (st, _) = s
        .patch(
            &format!("/api/v1/users/{uid}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for (what, t) in [("access token", &access), ("API key", &key)] {
        let (st, b) = s.get("/api/v1/auth/me", t).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{what}: {b}");
    }
    assert_eq!(refresh(&s, &rt).await, StatusCode::UNAUTHORIZED);
    let (st, _) = s
        .patch(
            &format!("/api/v1/users/{uid}"),
            &admin,
            json!({"is_active": true}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.get("/api/v1/auth/me", &key).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the key was revoked, not paused"
    );
    assert_eq!(refresh(&s, &rt).await, StatusCode::UNAUTHORIZED);
    s.login("eve@acme.io", USER_PASSWORD).await;
    s.running.shutdown().await;
});

both_stores!(password_resets_revoke_sessions_and_keys, |b| async move {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let (st, u) = s
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "eve@acme.io", "password": USER_PASSWORD, "full_name": "Eve"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let uid = u["id"].as_str().unwrap().to_string();
    let session = |password: &'static str| {
        let s = &s;
        async move {
            let pair = s.login("eve@acme.io", password).await;
            let access = pair["access_token"].as_str().unwrap().to_string();
            let key = api_key(s, &access, json!(["read"])).await;
            (
                access,
                pair["refresh_token"].as_str().unwrap().to_string(),
                key,
            )
        }
    };
    let dead = |rt: String, key: String| {
        let s = &s;
        async move {
            assert_eq!(refresh(s, &rt).await, StatusCode::UNAUTHORIZED);
            let (st, _) = s.get("/api/v1/auth/me", &key).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
    };

    // 1. The admin route.
    let (_, rt, key) = session(USER_PASSWORD).await;
    let (st, _) = s
        .patch(
            &format!("/api/v1/users/{uid}"),
            &admin,
            json!({"password": "second-password-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    dead(rt, key).await;

    // 2. The user's own change (wrong current password first).
    let (access, rt, key) = session("second-password-1").await;
    let (st, _) = s
        .post(
            "/api/v1/auth/password",
            &access,
            json!({"current_password": "not-my-password", "new_password": "third-password-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, b) = s
        .post(
            "/api/v1/auth/password",
            &access,
            json!({"current_password": "second-password-1", "new_password": "third-password-1"}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    dead(rt, key).await;

    // 3. The operator chore.
    let (_, rt, key) = session("third-password-1").await;
    server::serve::reset_password(&s.running.state, "eve@acme.io", "fourth-password-1".into())
        .await
        .unwrap();
    dead(rt, key).await;
    s.login("eve@acme.io", "fourth-password-1").await;

    // 4. Deactivation (DELETE).
    let (_, rt, key) = session("fourth-password-1").await;
    let (st, _) = s.delete(&format!("/api/v1/users/{uid}"), &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    dead(rt, key).await;
    s.running.shutdown().await;
});

both_stores!(read_only_keys_cannot_read_credentials, |b| async move {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    acme(&s, &admin).await;
    let (pa, _) = user_with(
        &s,
        &admin,
        "pa@acme.io",
        json!([{"role": "project_admin", "domain": "acme", "project": "web"}]),
    )
    .await;
    let dbs = "/api/v1/domain/acme/project/web/databases";
    let creds = format!("{dbs}/db-0123456789abcdef0123456789abcdef/credentials");
    for t in [&pa, &admin] {
        let read = api_key(&s, t, json!(["read"])).await;
        let (st, _) = s.get(dbs, &read).await;
        assert_eq!(st, StatusCode::OK, "a read key reads the databases");
        let (st, b) = s.get(&creds, &read).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{b}"
        );
        // A write key gets past authorization (the database does not exist).
        let write = api_key(&s, t, json!(["read", "write"])).await;
        let (st, b) = s.get(&creds, &write).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
    }
    s.running.shutdown().await;
});

both_stores!(namespace_labels_must_be_kubernetes_labels, |b| async move {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let long = "v".repeat(64);
    for (labels, key) in [
        (json!({"bad key": "x"}), "bad key"),
        (json!({"-team": "x"}), "-team"),
        (json!({"Example.COM/team": "x"}), "Example.COM/team"),
        (json!({"team": long}), "team"),
        (json!({"team": "a b"}), "team"),
        (json!({"team": "x-"}), "team"),
        (json!({"team": 7}), "team"),
    ] {
        let body = json!({"name": "acme", "metadata": {"allowed_namespace_labels": labels}});
        let (st, b) = s.post("/api/v1/tenants", &admin, body).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{labels}: {b}");
        let field = b["error"]["details"][0]["field"].as_str().unwrap();
        assert_eq!(
            field,
            format!("metadata.allowed_namespace_labels.{key}"),
            "{b}"
        );
    }
    let (st, b) = s
        .post(
            "/api/v1/tenants",
            &admin,
            json!({"name": "acme", "metadata": {"allowed_namespace_labels": "team=x"}}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let good = json!({"kubernetes.io/metadata.name": "ingress", "team": "web_1.a"});
    let (st, b) = s
        .post(
            "/api/v1/tenants",
            &admin,
            json!({"name": "acme", "metadata": {"allowed_namespace_labels": good}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, b) = s
        .patch(
            "/api/v1/tenants/acme",
            &admin,
            json!({"metadata": {"allowed_namespace_labels": {"a/b/c": "x"}}}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("a/b/c"),
        "{b}"
    );
    s.running.shutdown().await;
});

both_stores!(a_project_quota_never_exceeds_its_domains, |b| async move {
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    let (st, _) = s
        .post(
            "/api/v1/tenants",
            &admin,
            json!({"name": "acme", "quota": {"max_cpu_cores": 8, "max_memory_gb": 16,
                   "max_storage_gb": 50, "max_databases": 4, "max_backups": 10}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (da, _) = user_with(
        &s,
        &admin,
        "da@acme.io",
        json!([{"role": "domain_admin", "domain": "acme"}]),
    )
    .await;
    let projects = "/api/v1/tenants/acme/projects";
    for (quota, field) in [
        (json!({"max_cpu_cores": 9}), "quota.max_cpu_cores"),
        (json!({"max_memory_gb": 17}), "quota.max_memory_gb"),
        (json!({"max_storage_gb": 51}), "quota.max_storage_gb"),
        (json!({"max_databases": 5}), "quota.max_databases"),
        (json!({"max_backups": 11}), "quota.max_backups"),
    ] {
        let (st, b) = s
            .post(projects, &da, json!({"name": "web", "quota": quota}))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{quota}: {b}");
        assert_eq!(b["error"]["details"][0]["field"], field, "{b}");
    }
    // Without a quota the defaults are clipped to the domain's.
    let (st, p) = s.post(projects, &da, json!({"name": "web"})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["quota"]["max_storage_gb"], 50.0, "{p}");
    // On update as on create.
    let (st, b) = s
        .patch(
            &format!("{projects}/web"),
            &da,
            json!({"quota": {"max_cpu_cores": 100}}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "quota.max_cpu_cores");
    let (st, _) = s
        .patch(
            &format!("{projects}/web"),
            &da,
            json!({"quota": {"max_cpu_cores": 8}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // Nor may the domain's quota drop below a project's.
    let (st, b) = s
        .patch(
            "/api/v1/tenants/acme",
            &admin,
            json!({"quota": {"max_cpu_cores": 4}}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["details"][0]["field"], "quota.max_cpu_cores");
    s.running.shutdown().await;
});

both_stores!(dedication_needs_a_tenant_that_exists, |b| async move {
    let sim = start_sim(Duration::ZERO).await;
    let s = TestServer::start(b).await;
    let admin = s.admin_token().await;
    // Dedicating a cluster to a name nobody holds yet is refused, naming the field...
    let (st, e) = s
        .post(
            "/api/v1/providers",
            &admin,
            json!({"name": "reserved", "region": "eu-west", "cpu_total_cores": 100,
                   "memory_total_gb": 400, "storage_total_gb": 1000,
                   "kubeconfig_content": sim.kubeconfig_yaml, "domain": "future-corp"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["details"][0]["field"], "domain");
    // ...so whoever registers that name later gets no provider.
    let (squatter, _) = register(&s, "first@future.io", "Future Corp").await;
    let (_, me) = s.get("/api/v1/auth/me", &squatter).await;
    assert_eq!(me["bindings"][0]["domain"], "future-corp", "{me}");
    let (_, ps) = s.get("/api/v1/providers?domain=future-corp", &admin).await;
    assert_eq!(ps["total"].as_i64().unwrap_or(0), 0, "{ps}");
    assert_eq!(ps["providers"].as_array().map_or(0, Vec::len), 0, "{ps}");

    // A provider dedicated to an existing tenant pins it: no deletion until re-dedicated.
    let (st, _) = s
        .post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let pid = onboard(&s, &admin, &sim, "acme-own", json!({"domain": "acme"})).await;
    let (st, e) = s
        .patch(
            &format!("/api/v1/providers/{pid}"),
            &admin,
            json!({"domain": "nobody-yet"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, e) = s.delete("/api/v1/tenants/acme", &admin).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("acme-own"),
        "{e}"
    );
    let (st, _) = s
        .patch(
            &format!("/api/v1/providers/{pid}"),
            &admin,
            json!({"domain": null}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = s.delete("/api/v1/tenants/acme", &admin).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    // The deleted name is never handed out again (its audit trail stays its own).
    let (st, _) = s
        .post("/api/v1/tenants", &admin, json!({"name": "acme"}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (t, _) = register(&s, "new@acme.io", "acme").await;
    let (_, me) = s.get("/api/v1/auth/me", &t).await;
    assert_ne!(me["bindings"][0]["domain"], "acme", "{me}");
    s.running.shutdown().await;
    sim.shutdown().await;
});
