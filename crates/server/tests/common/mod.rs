//! A real server on a random port with a fresh store, and a small HTTP client around it.
#![allow(dead_code)]

pub mod cluster;

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::{Config, Running};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub running: Running,
    pub base: String,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub fn base_config(dir: PathBuf) -> Config {
    let mut c = Config::for_data_dir(dir);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.admin_email = ADMIN_EMAIL.into();
    c.admin_password = Some(ADMIN_PASSWORD.into());
    c.database_url = None;
    c.redis_url = None;
    c.secret_key = None;
    c.secret_key_file = None;
    c.rate_limit_per_minute = 100_000;
    // Every test client is 127.0.0.1: per-IP limits are raised here, and tested where they apply.
    c.unauthenticated_per_minute_per_ip = 100_000;
    c.registrations_per_hour_per_ip = 100_000;
    c.cors_origins = vec![];
    c
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(dir.path().to_path_buf());
        if backend == Backend::Postgres {
            config.database_url = Some(store::testing::fresh_postgres_url().await);
        }
        tweak(&mut config);
        let running = server::start(config).await.expect("server starts");
        let base = running.url();
        TestServer {
            running,
            base,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer credential and JSON body; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.as_u16() != 500, "500 on {path}: {text}");
        if status.is_client_error() || status.is_server_error() {
            assert_envelope(status, &json);
        }
        (status, json)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (s, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {email}: {body}");
        body
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a user (as the admin) and returns their access token and id.
    pub async fn user(&self, admin: &str, email: &str) -> (String, String) {
        self.user_bound(admin, email, json!([])).await
    }

    /// Creates a user holding `bindings` (roles) and returns their access token and id.
    pub async fn user_bound(&self, admin: &str, email: &str, bindings: Value) -> (String, String) {
        let (s, u) = self
            .post(
                "/api/v1/users",
                admin,
                json!({"email": email, "password": "user-password-123", "full_name": "Test User",
                       "bindings": bindings}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
        let token = self.login(email, "user-password-123").await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        (token, u["id"].as_str().unwrap().to_string())
    }
}

/// Every error answer is the contract's envelope, with a matching status code.
pub fn assert_envelope(status: StatusCode, body: &Value) {
    let e = &body["error"];
    assert!(
        e.is_object(),
        "error envelope expected for {status}, got {body}"
    );
    assert!(e["code"].is_string() && e["message"].is_string(), "{body}");
    assert_eq!(
        e["status_code"].as_u64(),
        Some(status.as_u16() as u64),
        "{body}"
    );
}

/// Runs a test body once per store.
#[macro_export]
macro_rules! both_stores {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(Backend::Postgres).await
            }
        }
    };
}
