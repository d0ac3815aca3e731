//! The master secret and the keys derived from it (token signing, encryption at rest).

use std::path::Path;

use anyhow::{bail, Context};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::config::Config;

/// Keys derived from the master secret; Debug never prints them.
#[derive(Clone)]
pub struct Keys {
    pub signing: [u8; 32],
    pub encryption: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(**redacted**)")
    }
}

impl Keys {
    pub fn derive(master: &[u8]) -> Keys {
        Keys {
            signing: derive(master, b"dbaas/token-signing/v1"),
            encryption: derive(master, b"dbaas/encryption-at-rest/v1"),
        }
    }

    /// `DBAAS_SECRET_KEY`, else the file named by `DBAAS_SECRET_KEY_FILE`, else `<data_dir>/secret.key`
    /// (generated with 256 random bits and mode 0600 on first start).
    pub fn load(config: &Config) -> anyhow::Result<Keys> {
        if let Some(secret) = &config.secret_key {
            return Keys::from_secret(secret.trim());
        }
        if let Some(path) = &config.secret_key_file {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("reading secret key file {}", path.display()))?;
            return Keys::from_secret(s.trim());
        }
        let path = config.data_dir.join("secret.key");
        if path.exists() {
            tighten(&path, 0o600)?;
            let s = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return Keys::from_secret(s.trim());
        }
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = hex::encode(raw);
        write_private(&path, &secret)?;
        tracing::info!(path = %path.display(), "generated a new secret key");
        Keys::from_secret(&secret)
    }

    fn from_secret(secret: &str) -> anyhow::Result<Keys> {
        if secret.len() < 32 {
            bail!("the secret key must be at least 32 characters");
        }
        Ok(Keys::derive(secret.as_bytes()))
    }
}

fn derive(master: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            private_dir(dir)?;
        }
    }
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(content.as_bytes())?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, content)?;
    Ok(())
}

/// Creates `dir` (and its parents) readable by the owner only, or tightens an existing one
/// that others can read: the data directory holds the store, the secret key and demo passwords.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        tighten(dir, 0o700)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
        Ok(())
    }
}

/// Removes group and other permissions from an existing `path` (to `mode`), saying so.
pub fn tighten(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        let current = meta.permissions().mode() & 0o777;
        if current & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("restricting the permissions of {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                was = format!("{current:o}"),
                now = format!("{mode:o}"),
                "restricted the permissions of a data file others could read"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_and_are_stable() {
        let a = Keys::derive(b"0123456789abcdef0123456789abcdef");
        let b = Keys::derive(b"0123456789abcdef0123456789abcdef");
        assert_eq!(a.signing, b.signing);
        assert_ne!(a.signing, a.encryption);
        assert!(Keys::from_secret("short").is_err());
        assert_eq!(format!("{a:?}"), "Keys(**redacted**)");
    }

    #[cfg(unix)]
    #[test]
    fn private_dir_is_created_owner_only_and_open_ones_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let file = open.join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        tighten(&file, 0o600).unwrap();
        assert_eq!(mode(&file), 0o600);
    }
}
