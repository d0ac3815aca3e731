//! Small pieces shared by the KubeStash controllers: KubeStash's duration and size strings,
//! status writes, and the S3 location of a BackupStorage.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use provider::s3::S3Location;
use serde_json::{json, Value};

use super::Ctx;
use crate::operator::children as ch;
use crate::operator::OperatorError;

/// Parses a KubeStash retention period (`30d`, `6mo`, `1y2mo3w4d5h6m`, also `s`): y = 365 days,
/// mo = 30 days, w = 7 days.
pub fn parse_retention_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty retention period".into());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid retention period {s:?}: expected a number"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid retention period {s:?}"))?;
        rest = &rest[digits..];
        let (unit_secs, len) = if rest.starts_with("mo") {
            (30 * 86_400, 2)
        } else {
            let unit = match rest.chars().next() {
                Some('y') => 365 * 86_400,
                Some('w') => 7 * 86_400,
                Some('d') => 86_400,
                Some('h') => 3_600,
                Some('m') => 60,
                Some('s') => 1,
                _ => {
                    return Err(format!(
                        "invalid retention period {s:?}: units are y, mo, w, d, h, m, s"
                    ))
                }
            };
            (unit, 1)
        };
        rest = &rest[len..];
        total = total
            .checked_add(n.saturating_mul(unit_secs))
            .ok_or_else(|| format!("retention period {s:?} is too long"))?;
    }
    Ok(Duration::from_secs(total))
}

/// A size as KubeStash shows it: `512 B`, `1.234 KiB`, `2.000 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.3} {unit}")
}

/// A duration the way Go prints one (`350ms`, `1.5s`, `2m3s`), as KubeStash's status does.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let s_part = |s: u64| {
        if frac == 0 {
            format!("{s}s")
        } else {
            format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
        }
    };
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => s_part(s),
        (0, m) => format!("{m}m{}", s_part(s)),
        (h, m) => format!("{h}h{m}m{}", s_part(s)),
    }
}

/// RFC 3339 with seconds, as Kubernetes writes times.
pub fn time_str(t: DateTime<Utc>) -> String {
    crate::operator::conditions::now_str(t)
}

pub fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(crate::operator::conditions::parse_time)
}

/// Writes `status` unless it is unchanged (a write wakes the object's own watch).
pub async fn write_status(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    status: Value,
) -> Result<(), OperatorError> {
    if obj.data.get("status") == Some(&status) {
        return Ok(());
    }
    let name = obj.metadata.name.clone().unwrap_or_default();
    ch::patch_status(api, &name, status).await.map(|_| ())
}

/// Merge-patches an object (spec or metadata); gone objects are fine.
pub async fn merge(
    api: &Api<DynamicObject>,
    name: &str,
    patch: Value,
) -> Result<(), OperatorError> {
    ch::merge_patch(api, name, patch).await
}

/// Optimistic-concurrency status patch: fails with 409 when the object changed since `obj`.
pub async fn patch_status_at(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
    status: Value,
) -> Result<(), kube::Error> {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let patch = json!({ "metadata": { "resourceVersion": obj.metadata.resource_version }, "status": status });
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// `{name, namespace}` of a reference, the namespace defaulting to `ns`.
pub fn obj_ref(v: &Value, ns: &str) -> Option<(String, String)> {
    let name = v["name"].as_str().filter(|s| !s.is_empty())?;
    let rns = v["namespace"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(ns);
    Some((rns.to_string(), name.to_string()))
}

/// The S3 location of a BackupStorage, from its spec and backend secret; `Err` says why not.
pub async fn storage_location(ctx: &Ctx, bs: &DynamicObject) -> Result<S3Location, StorageProblem> {
    let ns = bs.metadata.namespace.clone().unwrap_or_default();
    let storage = &bs.data["spec"]["storage"];
    let provider = storage["provider"].as_str().unwrap_or_default();
    if provider != "s3" {
        return Err(StorageProblem::Backend(format!(
            "provider {provider:?} is not supported by the simulated KubeStash (only s3)"
        )));
    }
    let s3 = &storage["s3"];
    let secret_name = s3["secretName"].as_str().unwrap_or_default();
    if secret_name.is_empty() {
        return Err(StorageProblem::Secret(
            "spec.storage.s3.secretName is not set".into(),
        ));
    }
    let secrets = ctx.api(&ns, &ch::secrets_ar());
    let secret = ch::get_opt(&secrets, secret_name)
        .await
        .map_err(|e| StorageProblem::Secret(format!("reading secret {ns}/{secret_name}: {e}")))?
        .ok_or_else(|| StorageProblem::Secret(format!("secret {ns}/{secret_name} not found")))?;
    let key = |k: &str| -> Option<String> {
        if let Some(v) = secret.data["data"][k].as_str() {
            return base64::engine::general_purpose::STANDARD
                .decode(v)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
        }
        secret.data["stringData"][k].as_str().map(str::to_string)
    };
    let (Some(id), Some(secret_key)) = (key("AWS_ACCESS_KEY_ID"), key("AWS_SECRET_ACCESS_KEY"))
    else {
        return Err(StorageProblem::Secret(format!(
            "secret {ns}/{secret_name} lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY"
        )));
    };
    Ok(S3Location {
        endpoint: s3["endpoint"].as_str().unwrap_or_default().to_string(),
        bucket: s3["bucket"].as_str().unwrap_or_default().to_string(),
        prefix: s3["prefix"].as_str().unwrap_or_default().to_string(),
        region: s3["region"].as_str().unwrap_or_default().to_string(),
        access_key_id: id,
        secret_access_key: secret_key,
        insecure_tls: s3["insecureTLS"] == true,
    })
}

#[derive(Debug)]
pub enum StorageProblem {
    /// The backend secret is missing or incomplete.
    Secret(String),
    /// The storage's backend cannot be used.
    Backend(String),
}

impl std::fmt::Display for StorageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageProblem::Secret(m) | StorageProblem::Backend(m) => f.write_str(m),
        }
    }
}

/// The S3 location of the BackupStorage a Repository points at.
pub async fn repository_location(ctx: &Ctx, repo: &DynamicObject) -> Result<S3Location, String> {
    let ns = repo.metadata.namespace.clone().unwrap_or_default();
    let (sns, sname) = obj_ref(&repo.data["spec"]["storageRef"], &ns)
        .ok_or_else(|| "the repository has no storageRef".to_string())?;
    let bs = ch::get_opt(&ctx.api(&sns, &super::backupstorages()), &sname)
        .await
        .map_err(|e| format!("reading BackupStorage {sns}/{sname}: {e}"))?
        .ok_or_else(|| format!("BackupStorage {sns}/{sname} not found"))?;
    storage_location(ctx, &bs).await.map_err(|e| e.to_string())
}

/// The key of a snapshot's dump, relative to the storage prefix:
/// `<repository path>/snapshots/<hash of the snapshot name>.json`. Short whatever the names: the
/// filesystem-backed S3 server keeps each key's metadata in a file named after the key, which
/// caps keys at about 160 bytes.
pub fn dump_key(repo_path: &str, snapshot: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(&sha2::Sha256::digest(snapshot.as_bytes())[..8]);
    let dir = repo_path.trim_matches('/');
    if dir.is_empty() {
        format!("snapshots/{h}.json")
    } else {
        format!("{dir}/snapshots/{h}.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubestash_retention_periods() {
        let day = 86_400;
        assert_eq!(parse_retention_period("30d").unwrap().as_secs(), 30 * day);
        assert_eq!(parse_retention_period("6mo").unwrap().as_secs(), 180 * day);
        assert_eq!(
            parse_retention_period("1y2mo3w4d5h6m").unwrap().as_secs(),
            365 * day + 60 * day + 21 * day + 4 * day + 5 * 3600 + 6 * 60
        );
        assert_eq!(parse_retention_period("90s").unwrap().as_secs(), 90);
        assert!(parse_retention_period("").is_err());
        assert!(parse_retention_period("d").is_err());
        assert!(parse_retention_period("5x").is_err());
        assert!(parse_retention_period("5").is_err());
    }

    #[test]
    fn formats_sizes_and_durations_like_kubestash() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1264), "1.234 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.000 MiB");
        assert_eq!(format_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(123)), "2m3s");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn keys_join_repository_path_and_snapshot() {
        let k = dump_key("/tenant-a/orders", "repo-bs-1");
        assert!(
            k.starts_with("tenant-a/orders/snapshots/") && k.ends_with(".json"),
            "{k}"
        );
        assert_ne!(k, dump_key("/tenant-a/orders", "repo-bs-2"));
        assert!(dump_key("", "s").starts_with("snapshots/"));
        assert!(dump_key("/a", &"x".repeat(200)).len() < 60);
    }
}
