//! Backups: where they are kept (S3-compatible storage per provider, or a tenant's own), when
//! they run (a database's schedule as a cron line), how long they are kept, and what one backup
//! is (a KubeStash Snapshot as the platform records it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub use crate::status::{BackupKind, BackupStatus};
use crate::DomainError;

/// Whose backup storage: one per provider (set by a platform admin), optionally one per tenant
/// that overrides the provider's for that tenant's databases.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BackupScope {
    Provider(String),
    Tenant(String),
}

impl BackupScope {
    /// The stored key: injective (the kind is a fixed prefix, the id or domain follows whole).
    pub fn key(&self) -> String {
        match self {
            BackupScope::Provider(id) => format!("provider:{id}"),
            BackupScope::Tenant(domain) => format!("tenant:{domain}"),
        }
    }
}

/// `PUT …/backup-storage`: an S3-compatible bucket.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupStorageRequest {
    /// `https://…` (or `http://…` for a server on a private network).
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{1,2000}[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub endpoint: String,
    /// S3 bucket rules: 3–63 lowercase letters, digits, `.` or `-`, alphanumeric at both ends.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z0-9]([a-z0-9-]|\.(?!\.))*[a-z0-9]$"
    )]
    pub bucket: String,
    /// Folder inside the bucket every backup of this scope goes under; may be empty.
    #[schema(
        max_length = 512,
        pattern = r"^(?!/)(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9._/-]*$"
    )]
    #[serde(default)]
    pub prefix: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_-]+$",
        default = "us-east-1"
    )]
    #[serde(default = "default_region")]
    pub region: String,
    /// 1–1024 printable characters.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub access_key_id: String,
    /// 1–1024 printable characters. Stored encrypted, never returned.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub secret_access_key: String,
    /// Accept a self-signed certificate.
    #[serde(default)]
    pub insecure_tls: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl BackupStorageRequest {
    pub fn validate(&self) -> Result<(), DomainError> {
        let endpoint = self.endpoint.trim();
        let rest = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"))
            .ok_or_else(|| {
                DomainError::validation("endpoint", "must start with https:// or http://")
            })?;
        // What a URI may hold (RFC 3986), so any HTTP client takes it.
        let uri_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c);
        if rest.is_empty() || rest.len() > 2000 || !rest.chars().all(uri_char) {
            return Err(DomainError::validation("endpoint", "must name a host"));
        }
        bucket_name(&self.bucket)?;
        if self.prefix.len() > 512
            || self.prefix.starts_with('/')
            || self.prefix.split('/').any(|p| p == ".." || p == ".")
            || !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(DomainError::validation(
                "prefix",
                "must be a relative path of letters, digits, '-', '_', '.' and '/'",
            ));
        }
        if self.region.is_empty()
            || self.region.len() > 64
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(DomainError::validation(
                "region",
                "must be a region name like us-east-1",
            ));
        }
        for (field, v) in [
            ("access_key_id", &self.access_key_id),
            ("secret_access_key", &self.secret_access_key),
        ] {
            if v.is_empty() || v.len() > 1024 || v.chars().any(|c| c.is_control()) {
                return Err(DomainError::validation(
                    field,
                    "must be 1 to 1024 printable characters",
                ));
            }
        }
        Ok(())
    }

    /// The prefix without trailing slashes (`a/b/` and `a/b` are the same folder).
    pub fn normalized_prefix(&self) -> String {
        self.prefix.trim_end_matches('/').to_string()
    }
}

/// S3 bucket naming rules (3–63 lowercase letters, digits, '.', '-'; alphanumeric at both ends).
fn bucket_name(b: &str) -> Result<(), DomainError> {
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..");
    if ok {
        Ok(())
    } else {
        Err(DomainError::validation(
            "bucket",
            "must be 3-63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit",
        ))
    }
}

/// A configured backup storage (the store keeps its secret apart, sealed with the platform key).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupStorage {
    pub scope: BackupScope,
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub access_key_id: String,
    pub insecure_tls: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

/// What `GET …/backup-storage` shows: everything but the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupStorageView {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
    pub region: String,
    pub access_key_id: String,
    pub insecure_tls: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&BackupStorage> for BackupStorageView {
    fn from(s: &BackupStorage) -> Self {
        BackupStorageView {
            endpoint: s.endpoint.clone(),
            bucket: s.bucket.clone(),
            prefix: s.prefix.clone(),
            region: s.region.clone(),
            access_key_id: s.access_key_id.clone(),
            insecure_tls: s.insecure_tls,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A database's schedule as a five-field cron line. The minute (and for daily and weekly runs the
/// hour, between 00:00 and 05:59 UTC) comes from the database id, so a fleet's backups spread out
/// instead of all starting on the hour.
pub fn schedule_cron(schedule: &str, database_id: &str) -> String {
    let h = Sha256::digest(database_id.as_bytes());
    let minute = h[0] % 60;
    let hour = h[1] % 6;
    match schedule {
        "hourly" => format!("{minute} * * * *"),
        "weekly" => format!("{minute} {hour} * * 0"),
        "daily" => format!("{minute} {hour} * * *"),
        cron => cron.to_string(),
    }
}

/// Checks a cron line a user gave as `backup_schedule`: five fields of numbers, `*`, ranges,
/// lists and steps within each field's bounds (what Kubernetes CronJobs accept, without names).
pub fn cron_line(s: &str) -> Result<(), DomainError> {
    const BOUNDS: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    let bad = || {
        DomainError::validation(
            "backup_schedule",
            "must be hourly, daily, weekly or a five-field cron line such as '30 2 * * *'",
        )
    };
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 || s.len() > 100 {
        return Err(bad());
    }
    for (field, (lo, hi)) in fields.iter().zip(BOUNDS) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            if let Some(st) = step {
                let st: u32 = st.parse().map_err(|_| bad())?;
                if st == 0 || st > hi {
                    return Err(bad());
                }
            }
            if range == "*" {
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let a: u32 = a.parse().map_err(|_| bad())?;
            let b: u32 = b.parse().map_err(|_| bad())?;
            if a < lo || b > hi || a > b {
                return Err(bad());
            }
        }
    }
    Ok(())
}

impl BackupStatus {
    /// From a KubeStash Snapshot's `status.phase`.
    pub fn from_phase(phase: &str) -> BackupStatus {
        match phase {
            "Succeeded" => BackupStatus::Succeeded,
            "Failed" => BackupStatus::Failed,
            "Running" => BackupStatus::Running,
            _ => BackupStatus::Pending,
        }
    }
}

/// One backup of a database: a KubeStash Snapshot, as the platform recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Backup {
    pub id: String,
    #[serde(skip)]
    pub database_id: String,
    #[serde(skip)]
    pub domain: String,
    #[serde(skip)]
    pub project: String,
    #[serde(skip)]
    pub provider_id: String,
    /// The Snapshot's name in the database's namespace.
    #[serde(skip)]
    pub snapshot_name: String,
    pub kind: BackupKind,
    pub status: BackupStatus,
    pub snapshot_time: Option<DateTime<Utc>>,
    pub size_bytes: Option<i64>,
    pub duration_seconds: Option<f64>,
    pub integrity: Option<bool>,
    pub repository: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// Why a failed backup failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A backup's id: the same for the same Snapshot of the same database however often it is seen,
/// so recording a Snapshot is idempotent (`bk-` and 32 hex digits, like every other id).
pub fn backup_id(database_id: &str, snapshot_name: &str) -> String {
    let h = Sha256::digest(format!("{database_id}\u{0}{snapshot_name}").as_bytes());
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", crate::ids::IdKind::Backup.prefix())
}

/// When a snapshot taken at `at` under a retention of `days` is removed.
pub fn expires_at(at: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    at + Duration::days(days)
}

/// `POST /{id}/restore`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// A backup id from `GET /{id}/backups`, or `latest` (the newest succeeded one).
    pub backup_id: String,
    pub target: RestoreTarget,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum RestoreTarget {
    /// Overwrite this database with the backup.
    InPlace,
    /// Create a new database (same engine and version) from the backup: a clone.
    NewDatabase(NewDatabaseTarget),
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NewDatabaseTarget {
    /// DNS label, 3–40 characters, unique in the project.
    #[schema(
        min_length = 3,
        max_length = 40,
        pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    /// Defaults to the source's project (the caller must be allowed to create there).
    #[serde(default)]
    pub project: Option<String>,
    /// Defaults to the source's size.
    #[serde(default)]
    #[schema(value_type = Option<crate::engine::Size>)]
    pub size: Option<String>,
    /// Defaults to the source's; never less than it (400); at most 10000.
    #[serde(default)]
    #[schema(maximum = 10000)]
    pub storage_gb: Option<i64>,
}

/// `latest` names the newest succeeded backup.
pub const LATEST: &str = "latest";

/// Parses KubeStash's human sizes (`"1.234 KiB"`, `"5 MiB"`, `"12 B"`) into bytes.
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "B" | "bytes" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0_f64.powi(4),
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((n * mult).round() as i64)
}

/// Parses Go durations as KubeStash reports them (`"1m2.5s"`, `"350ms"`, `"1h0m0s"`) into seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() || n == 'µ' {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> BackupStorageRequest {
        BackupStorageRequest {
            endpoint: "https://s3.example.com".into(),
            bucket: "dbaas-backups".into(),
            prefix: "prod/eu".into(),
            region: "us-east-1".into(),
            access_key_id: "AKIA".into(),
            secret_access_key: "s3cr3t".into(),
            insecure_tls: false,
        }
    }

    #[test]
    fn storage_requests_are_checked_field_by_field() {
        assert!(req().validate().is_ok());
        for (mutate, field) in [
            (
                Box::new(|r: &mut BackupStorageRequest| r.endpoint = "s3.example.com".into())
                    as Box<dyn Fn(&mut BackupStorageRequest)>,
                "endpoint",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.bucket = "Bad_Bucket".into()),
                "bucket",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.bucket = "ab".into()),
                "bucket",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.prefix = "../etc".into()),
                "prefix",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.prefix = "/abs".into()),
                "prefix",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.region = "".into()),
                "region",
            ),
            (
                Box::new(|r: &mut BackupStorageRequest| r.secret_access_key = "".into()),
                "secret_access_key",
            ),
        ] {
            let mut r = req();
            mutate(&mut r);
            match r.validate() {
                Err(DomainError::Validation { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn scopes_never_share_a_key() {
        assert_ne!(
            BackupScope::Provider("acme".into()).key(),
            BackupScope::Tenant("acme".into()).key()
        );
    }

    #[test]
    fn schedules_become_spread_cron_lines() {
        let a = schedule_cron("daily", "db-1");
        assert!(cron_line(&a).is_ok(), "{a}");
        assert!(a.ends_with("* * *"));
        assert!(schedule_cron("hourly", "db-1").ends_with("* * * *"));
        assert!(schedule_cron("weekly", "db-1").ends_with("* * 0"));
        assert_eq!(schedule_cron("15 3 * * 1-5", "db-1"), "15 3 * * 1-5");
        let minutes: std::collections::HashSet<String> = (0..50)
            .map(|i| schedule_cron("hourly", &format!("db-{i}")))
            .collect();
        assert!(minutes.len() > 10, "spread: {minutes:?}");
    }

    #[test]
    fn cron_lines_are_checked() {
        for ok in [
            "* * * * *",
            "*/15 0-5 * * 1,3,5",
            "0 2 1 1 0",
            "59 23 31 12 7",
        ] {
            assert!(cron_line(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a b c d e",
            "5-1 * * * *",
            "* * 0 * *",
        ] {
            assert!(cron_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kubestash_sizes_and_durations_parse() {
        assert_eq!(parse_size("1.5 KiB"), Some(1536));
        assert_eq!(parse_size("12 B"), Some(12));
        assert_eq!(parse_size("2MiB"), Some(2 * 1024 * 1024));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_go_duration("1m2.5s"), Some(62.5));
        assert!((parse_go_duration("350ms").unwrap() - 0.35).abs() < 1e-9);
        assert_eq!(parse_go_duration("1h0m0s"), Some(3600.0));
        assert_eq!(parse_go_duration("12"), None);
    }

    #[test]
    fn restore_bodies_read_as_the_contract_writes_them() {
        let r: RestoreRequest =
            serde_json::from_str(r#"{"backup_id":"latest","target":"in_place"}"#).unwrap();
        assert_eq!(r.target, RestoreTarget::InPlace);
        let r: RestoreRequest = serde_json::from_str(
            r#"{"backup_id":"bk-1","target":{"new_database":{"name":"copy"}}}"#,
        )
        .unwrap();
        assert!(matches!(r.target, RestoreTarget::NewDatabase(t) if t.name == "copy"));
    }
}
