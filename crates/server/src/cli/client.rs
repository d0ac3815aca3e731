//! The HTTP side of the client: requests with the context's credentials, the error envelope
//! turned into [`CliError::Api`], and a refresh of an expired access token (saved back to the
//! context) before one retry.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::config::{ClientConfig, Context};
use crate::routes::auth::TokenResponse;

/// Why a command failed. Every kind ends the process with exit code 1.
#[derive(Debug)]
pub enum CliError {
    /// The server refused: its envelope `{"error": {code, message, details, status_code}}`.
    Api {
        status: u16,
        code: String,
        message: String,
        details: Value,
    },
    /// An operation followed with `--wait` ended in failure.
    OperationFailed(String),
    Other(anyhow::Error),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api {
                status,
                code,
                message,
                details,
            } => {
                write!(f, "{message} ({code}, HTTP {status})")?;
                for line in detail_lines(details) {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            CliError::OperationFailed(m) => f.write_str(m),
            CliError::Other(e) => write!(f, "{e:#}"),
        }
    }
}

/// The envelope's `details`: a list of `{field, message}` (validation) or an object.
fn detail_lines(details: &Value) -> Vec<String> {
    match details {
        Value::Array(items) => items
            .iter()
            .map(|i| match (i.get("field"), i.get("message")) {
                (Some(Value::String(f)), Some(Value::String(m))) => format!("{f}: {m}"),
                _ => i.to_string(),
            })
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                v => format!("{k}: {v}"),
            })
            .collect(),
        Value::Null => Vec::new(),
        v => vec![v.to_string()],
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Other(e)
    }
}

impl From<reqwest::Error> for CliError {
    fn from(e: reqwest::Error) -> Self {
        CliError::Other(anyhow::Error::new(e).context("calling the server"))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Other(anyhow::Error::new(e).context("reading the server's answer"))
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// A client of one context's server.
pub struct Client {
    http: reqwest::Client,
    /// The context's name, to save refreshed tokens under.
    name: Option<String>,
    pub ctx: Context,
}

fn base(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

impl Client {
    pub fn new(name: Option<String>, ctx: Context) -> CliResult<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("dbaas-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(120))
            .build()?;
        Ok(Client { http, name, ctx })
    }

    /// The full URL of an API path (`/api/v1/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", base(&self.ctx.server))
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        if let Some(key) = &self.ctx.api_key {
            rb.header("x-api-key", key)
        } else if let Some(t) = &self.ctx.access_token {
            rb.bearer_auth(t)
        } else {
            rb
        }
    }

    /// Sends a request and answers the status and the body (JSON, or null when empty); error
    /// statuses become [`CliError::Api`].
    pub async fn send_raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> CliResult<(StatusCode, Value)> {
        self.send_raw_with(method, path, body, &[]).await
    }

    /// [`Client::send_raw`] with extra headers (`X-Region`, …).
    pub async fn send_raw_with(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> CliResult<(StatusCode, Value)> {
        let mut refreshed = false;
        loop {
            let mut rb = self.request(method.clone(), path);
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let resp = rb.send().await?;
            let status = resp.status();
            let bytes = resp.bytes().await?;
            let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(_) if !status.is_success() => Value::Null,
                    Err(e) => return Err(e.into()),
                }
            };
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.can_refresh() {
                refreshed = true;
                if self.refresh().await.is_ok() {
                    continue;
                }
            }
            if status.is_success() {
                return Ok((status, value));
            }
            return Err(api_error(status, &value));
        }
    }

    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> CliResult<T> {
        let body = body.map(serde_json::to_value).transpose()?;
        let (_, v) = self.send_raw(method, path, body.as_ref()).await?;
        Ok(serde_json::from_value(v)?)
    }

    pub async fn get<T: DeserializeOwned>(&mut self, path: &str) -> CliResult<T> {
        self.send::<(), T>(Method::GET, path, None).await
    }

    fn can_refresh(&self) -> bool {
        self.ctx.api_key.is_none() && self.ctx.refresh_token.is_some()
    }

    /// Trades the refresh token for a new pair and saves it to the context.
    async fn refresh(&mut self) -> CliResult<()> {
        let token = self.ctx.refresh_token.clone().unwrap_or_default();
        let resp = self
            .http
            .post(self.url("/api/v1/auth/refresh"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(api_error(status, &v));
        }
        let pair: TokenResponse = serde_json::from_value(v)?;
        self.ctx.access_token = Some(pair.access_token);
        self.ctx.refresh_token = Some(pair.refresh_token);
        if let Some(name) = &self.name {
            let mut cfg = ClientConfig::load()?;
            if let Some(c) = cfg.contexts.get_mut(name) {
                c.access_token = self.ctx.access_token.clone();
                c.refresh_token = self.ctx.refresh_token.clone();
                cfg.save()?;
            }
        }
        Ok(())
    }
}

pub fn api_error(status: StatusCode, body: &Value) -> CliError {
    let e = &body["error"];
    let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    CliError::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| "http_error".into()),
        message: text("message").unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_string()
        }),
        details: e.get("details").cloned().unwrap_or(Value::Null),
    }
}
