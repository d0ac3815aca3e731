//! State file: every stored object plus the resourceVersion counter, written (debounced) after
//! changes and loaded at start, so the demo keeps its databases across restarts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use super::server::ApiServer;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("reading state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing state file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    #[serde(rename = "resourceVersion")]
    resource_version: u64,
    resources: Vec<ResourceDump>,
}

#[derive(Serialize, Deserialize)]
struct ResourceDump {
    group: String,
    plural: String,
    objects: Vec<Value>,
}

/// Loads a state file into the server (CRDs first, so their resources are served). A missing
/// file is an empty cluster.
pub fn load(srv: &ApiServer, path: &Path) -> Result<usize, PersistError> {
    restrict(path).map_err(|source| PersistError::Read {
        path: path.into(),
        source,
    })?;
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(PersistError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let snap: Snapshot = serde_json::from_slice(&raw).map_err(|source| PersistError::Parse {
        path: path.into(),
        source,
    })?;
    let mut count = 0;
    let mut dumps = snap.resources;
    dumps.sort_by_key(|d| d.plural != "customresourcedefinitions");
    for dump in dumps {
        let res = srv.store.ensure(&dump.group, &dump.plural);
        for obj in dump.objects {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if dump.plural == "customresourcedefinitions" && dump.group == "apiextensions.k8s.io" {
                srv.serve_crd(&obj);
            }
            res.restore(&ns, &name, obj);
            count += 1;
        }
    }
    srv.store.bump_rv(snap.resource_version);
    Ok(count)
}

pub fn save(srv: &ApiServer, path: &Path) -> Result<(), PersistError> {
    let resources = srv
        .store
        .all()
        .iter()
        .map(|r| ResourceDump {
            group: r.group.clone(),
            plural: r.plural.clone(),
            objects: r.list(None).0.iter().map(|o| (**o).clone()).collect(),
        })
        .filter(|d| !d.objects.is_empty())
        .collect();
    let snap = Snapshot {
        resource_version: srv.store.current_rv(),
        resources,
    };
    let bytes = serde_json::to_vec(&snap).map_err(|e| PersistError::Write {
        path: path.into(),
        source: std::io::Error::other(e),
    })?;
    let tmp = path.with_extension("tmp");
    // The state holds Secrets (database passwords): the owner's alone, like the file it replaces.
    write_private(&tmp, &bytes).map_err(|source| PersistError::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| PersistError::Write {
        path: path.into(),
        source,
    })
}

/// Writes `bytes` to `path` (replacing it) readable and writable by the owner only (0600).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        // `mode` only applies to a new file: an existing one is restricted too.
        restrict(path)?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    std::fs::write(path, bytes)
}

/// Restricts an existing file others can read to 0600 (a missing one is fine).
pub fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            tracing::warn!(path = %path.display(), was = format!("{mode:o}"), "restricted a file others could read to 0600");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes the state file at most every `debounce` after changes, and once more at shutdown.
pub fn spawn_saver(
    srv: Arc<ApiServer>,
    path: PathBuf,
    debounce: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = srv.store.shared().changed.notified() => {}
                _ = shutdown.changed() => {
                    if let Err(e) = save(&srv, &path) {
                        tracing::warn!(error = %e, "saving state at shutdown failed");
                    }
                    return;
                }
            }
            tokio::time::sleep(debounce).await;
            let srv2 = srv.clone();
            let path2 = path.clone();
            match tokio::task::spawn_blocking(move || save(&srv2, &path2)).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "saving state failed"),
                Err(e) => tracing::warn!(error = %e, "state saver task failed"),
                Ok(Ok(())) => {}
            }
        }
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_0600_even_when_they_existed_open() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.json");
        write_private(&fresh, b"{}").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        let open = dir.path().join("open.json");
        std::fs::write(&open, b"old").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&open, b"new").unwrap();
        assert_eq!(mode(&open), 0o600);
        assert_eq!(std::fs::read(&open).unwrap(), b"new");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o666)).unwrap();
        restrict(&open).unwrap();
        assert_eq!(mode(&open), 0o600);
        restrict(&dir.path().join("missing")).unwrap();
    }
}
