//! The client's contexts (kubectl-style): one per server and account, with the credentials and
//! the default domain and project. Stored as YAML in the user's config directory
//! (`$DBAAS_CONFIG` overrides the path), readable by its owner only (mode 0600): it holds tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The context commands use unless `--context` names another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Context {
    /// Base URL of the control plane, e.g. `http://localhost:8000`.
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Context {
    /// How the context authenticates, for listings (never the secret).
    pub fn auth_kind(&self) -> &'static str {
        if self.api_key.is_some() {
            "api-key"
        } else if self.access_token.is_some() {
            "password"
        } else {
            "none"
        }
    }
}

/// `$DBAAS_CONFIG`, else `<config dir>/dbaas/config.yaml`.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("DBAAS_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = dirs::config_dir()
        .context("no configuration directory for this user; set DBAAS_CONFIG to a file path")?;
    Ok(dir.join("dbaas").join("config.yaml"))
}

impl ClientConfig {
    pub fn load() -> anyhow::Result<ClientConfig> {
        Self::load_from(&path()?)
    }

    pub fn load_from(p: &Path) -> anyhow::Result<ClientConfig> {
        match std::fs::read_to_string(p) {
            Ok(text) => serde_yaml::from_str(&text)
                .with_context(|| format!("reading the client configuration {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn save(&self) -> anyhow::Result<()> {
        self.save_to(&path()?)
    }

    /// Written to a private temporary file beside the target, then renamed over it: the file is
    /// never readable by others, not even for a moment, and never half-written.
    pub fn save_to(&self, p: &Path) -> anyhow::Result<()> {
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let text = serde_yaml::to_string(self).expect("the configuration serialises");
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            p.file_name().and_then(|n| n.to_str()).unwrap_or("config"),
            std::process::id()
        ));
        write_private(&tmp, text.as_bytes())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, p).with_context(|| format!("replacing {}", p.display()))?;
        Ok(())
    }

    /// The context a command uses: `--context`, else the current one.
    pub fn resolve(&self, name: Option<&str>) -> anyhow::Result<(String, Context)> {
        let name = match name.or(self.current_context.as_deref()) {
            Some(n) => n.to_string(),
            None => bail!("not logged in: run `dbaas login --server URL` first"),
        };
        match self.contexts.get(&name) {
            Some(c) => Ok((name, c.clone())),
            None => bail!(
                "no context '{name}' (known: {}); see `dbaas context list`",
                self.names()
            ),
        }
    }

    pub fn names(&self) -> String {
        if self.contexts.is_empty() {
            "none".into()
        } else {
            self.contexts.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}

#[cfg(unix)]
fn write_private(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)?;
    // A file left by an earlier run keeps its mode on open: set it again.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(p: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(p, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config.yaml");
        let mut c = ClientConfig::default();
        c.contexts.insert(
            "local".into(),
            Context {
                server: "http://localhost:8000".into(),
                api_key: Some("dbaas_x".into()),
                ..Default::default()
            },
        );
        c.current_context = Some("local".into());
        c.save_to(&p).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = ClientConfig::load_from(&p).unwrap();
        let (name, ctx) = back.resolve(None).unwrap();
        assert_eq!(name, "local");
        assert_eq!(ctx.auth_kind(), "api-key");
        assert!(back.resolve(Some("other")).is_err());
    }
}
