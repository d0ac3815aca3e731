//! What a user asks of the platform about a database, and the rules every request must keep
//! before anything is planned or stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::{Engine, Size};
use crate::validate;
use crate::DomainError;

/// The backup schedules a database may have.
pub const BACKUP_SCHEDULES: [&str; 3] = ["hourly", "daily", "weekly"];

/// Label and annotation prefixes the platform keeps for its own (ownership, KubeDB, app labels).
const RESERVED_PREFIXES: [&str; 3] = ["dbaas.io", "kubedb.com", "app.kubernetes.io"];

/// A request for a new database.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCreate {
    /// DNS label, 3–40 characters, unique in the project.
    #[schema(
        min_length = 3,
        max_length = 40,
        pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub name: String,
    pub engine: Engine,
    /// A version (or catalog name) offered by the chosen provider; see `GET /api/v1/versions`.
    #[schema(
        pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]{0,98}[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub version: String,
    #[serde(default)]
    pub size: Size,
    #[schema(minimum = 10, maximum = 10000, default = 20)]
    #[serde(default = "default_storage")]
    pub storage_gb: i64,
    /// 1–9; the engine and `high_availability` further constrain it (400 with the rule).
    #[schema(minimum = 1, maximum = 9, default = 1)]
    #[serde(default = "one")]
    pub replicas: i64,
    #[serde(default)]
    pub high_availability: bool,
    #[serde(default = "yes")]
    pub backup_enabled: bool,
    /// `hourly`, `daily`, `weekly` or a five-field cron line such as `30 2 * * *`.
    #[schema(
        max_length = 100,
        pattern = r"^(hourly|daily|weekly|(\*(/([1-9]|[1-5][0-9]))?|[0-9]|[1-5][0-9])(,(\*(/([1-9]|[1-5][0-9]))?|[0-9]|[1-5][0-9]))* (\*(/([1-9]|1[0-9]|2[0-3]))?|[0-9]|1[0-9]|2[0-3])(,(\*(/([1-9]|1[0-9]|2[0-3]))?|[0-9]|1[0-9]|2[0-3]))* (\*(/([1-9]|[12][0-9]|3[01]))?|[1-9]|[12][0-9]|3[01])(,(\*(/([1-9]|[12][0-9]|3[01]))?|[1-9]|[12][0-9]|3[01]))* (\*(/([1-9]|1[0-2]))?|[1-9]|1[0-2])(,(\*(/([1-9]|1[0-2]))?|[1-9]|1[0-2]))* (\*(/([1-7]))?|[0-7])(,(\*(/([1-7]))?|[0-7]))*)$",
        default = "daily"
    )]
    #[serde(default = "daily")]
    pub backup_schedule: String,
    #[schema(minimum = 1, maximum = 365, default = 7)]
    #[serde(default = "seven")]
    pub backup_retention_days: i64,
    #[serde(default = "yes")]
    pub monitoring_enabled: bool,
    /// 1–63 letters, digits, `_` or `-`, starting with a letter; needs `password`.
    #[schema(pattern = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]
    pub username: Option<String>,
    /// 12–256 characters; when absent KubeDB generates one.
    #[schema(min_length = 12, max_length = 256)]
    pub password: Option<String>,
    /// Manual placement (platform admins only).
    pub provider_id: Option<String>,
    #[serde(default)]
    pub deletion_protection: bool,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

fn default_storage() -> i64 {
    20
}
fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}
fn daily() -> String {
    "daily".into()
}
fn seven() -> i64 {
    7
}

impl DatabaseCreate {
    /// Every field on its own and together (replicas against engine and topology).
    pub fn validate(&self) -> Result<(), DomainError> {
        validate::dns_label("name", &self.name, 3, 40)?;
        validate::text("version", &self.version, 1, 100)?;
        if !(10..=10_000).contains(&self.storage_gb) {
            return Err(DomainError::validation(
                "storage_gb",
                "must be between 10 and 10000",
            ));
        }
        if !(1..=9).contains(&self.replicas) {
            return Err(DomainError::validation(
                "replicas",
                "must be between 1 and 9",
            ));
        }
        backup_schedule(&self.backup_schedule)?;
        backup_retention_days(self.backup_retention_days)?;
        if let Some(u) = &self.username {
            let ok = (1..=63).contains(&u.len())
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                && u.as_bytes()[0].is_ascii_alphabetic();
            if !ok {
                return Err(DomainError::validation(
                    "username",
                    "must be 1-63 letters, digits, '_' or '-', starting with a letter",
                ));
            }
        }
        match (&self.username, &self.password) {
            (_, Some(p)) => validate::password("password", p)?,
            (Some(_), None) => {
                return Err(DomainError::validation(
                    "password",
                    "is required when a username is given",
                ))
            }
            (None, None) => {}
        }
        object_metadata(self.labels.as_ref(), self.annotations.as_ref())?;
        self.engine
            .check_replicas(self.replicas as u32, self.high_availability)
    }
}

pub fn backup_schedule(s: &str) -> Result<(), DomainError> {
    if BACKUP_SCHEDULES.contains(&s) {
        return Ok(());
    }
    crate::backup::cron_line(s)
}

pub fn backup_retention_days(days: i64) -> Result<(), DomainError> {
    if !(1..=365).contains(&days) {
        return Err(DomainError::validation(
            "backup_retention_days",
            "must be between 1 and 365",
        ));
    }
    Ok(())
}

/// A key the user may put on a database's Kubernetes objects: a valid qualified name outside
/// the platform's own prefixes.
fn user_key(field: &str, key: &str) -> Result<(), DomainError> {
    validate::label_key(field, key)?;
    if let Some((prefix, _)) = key.split_once('/') {
        if RESERVED_PREFIXES
            .iter()
            .any(|r| prefix == *r || prefix.ends_with(&format!(".{r}")))
        {
            return Err(DomainError::validation(
                field,
                format!("'{key}' uses a prefix the platform reserves"),
            ));
        }
    }
    Ok(())
}

/// Labels and annotations a user gives a database: Kubernetes key and value rules, none of the
/// platform's own prefixes, bounded sizes.
pub fn object_metadata(
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
) -> Result<(), DomainError> {
    if let Some(labels) = labels {
        if labels.len() > 64 {
            return Err(DomainError::validation("labels", "at most 64 labels"));
        }
        for (k, v) in labels {
            user_key("labels", k)?;
            validate::label_value("labels", v)?;
        }
    }
    if let Some(annotations) = annotations {
        let mut size = 0;
        for (k, v) in annotations {
            user_key("annotations", k)?;
            size += k.len() + v.len();
        }
        if size > 64 * 1024 {
            return Err(DomainError::validation(
                "annotations",
                "must total at most 64 KiB",
            ));
        }
    }
    Ok(())
}

// ---- providers

/// The largest capacity figure a provider may declare (cores, GB).
const MAX_CAPACITY: f64 = 1e7;

fn default_percent() -> f64 {
    80.0
}
fn default_priority() -> i32 {
    100
}

/// `Some(None)` when the field is present and null (clear it), `None` when absent (keep it).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A request to onboard a Kubernetes cluster as a provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderCreate {
    /// 1–100 characters, unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub name: String,
    /// 1–50 characters.
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub region: String,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub availability_zone: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub cloud_provider: Option<String>,
    /// Dedicates the provider to one tenant; absent or null = shared.
    #[schema(
        min_length = 3,
        max_length = 63,
        pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"
    )]
    pub domain: Option<String>,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub cpu_total_cores: f64,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub memory_total_gb: f64,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub storage_total_gb: f64,
    /// Share of the total that databases may use (0–100, default 80).
    #[schema(minimum = 0, maximum = 100, default = 80)]
    #[serde(default = "default_percent")]
    pub cpu_reservation_percent: f64,
    #[schema(minimum = 0, maximum = 100, default = 80)]
    #[serde(default = "default_percent")]
    pub memory_reservation_percent: f64,
    #[schema(minimum = 0, maximum = 100, default = 80)]
    #[serde(default = "default_percent")]
    pub storage_reservation_percent: f64,
    /// The kubeconfig, as YAML or base64 of YAML. Stored encrypted, never returned.
    #[schema(
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub kubeconfig_content: String,
    #[serde(default = "yes")]
    pub verify_ssl: bool,
    #[serde(default)]
    pub enable_loadbalancer: bool,
    #[serde(default = "yes")]
    pub is_active: bool,
    /// 0–1000, default 100; breaks placement ties.
    #[schema(minimum = 0, maximum = 1000, default = 100)]
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// At most 50 tags of 1–64 characters.
    #[schema(max_items = 50)]
    #[serde(default)]
    pub tags: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Every field optional; `null` clears `availability_zone`, `cloud_provider` and `domain`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderUpdate {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 50,
        pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$"
    )]
    pub region: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50, pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$")]
    pub availability_zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50, pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]([\s\S]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?$")]
    pub cloud_provider: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 3, max_length = 63, pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")]
    pub domain: Option<Option<String>>,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub cpu_total_cores: Option<f64>,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub memory_total_gb: Option<f64>,
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    pub storage_total_gb: Option<f64>,
    #[schema(minimum = 0, maximum = 100)]
    pub cpu_reservation_percent: Option<f64>,
    #[schema(minimum = 0, maximum = 100)]
    pub memory_reservation_percent: Option<f64>,
    #[schema(minimum = 0, maximum = 100)]
    pub storage_reservation_percent: Option<f64>,
    /// A new kubeconfig: probed like on create before it replaces the stored one.
    #[schema(
        pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    pub kubeconfig_content: Option<String>,
    pub verify_ssl: Option<bool>,
    pub enable_loadbalancer: Option<bool>,
    pub is_active: Option<bool>,
    /// Stops new placements; databases already there keep running.
    pub is_maintenance: Option<bool>,
    #[schema(minimum = 0, maximum = 1000)]
    pub priority: Option<i32>,
    /// At most 50 tags of 1–64 characters.
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

fn text_field(field: &str, v: &str, min: usize, max: usize) -> Result<(), DomainError> {
    validate::text(field, v, min, max)?;
    if v.trim() != v {
        return Err(DomainError::validation(
            field,
            "must not start or end with spaces",
        ));
    }
    Ok(())
}

fn optional_text(field: &str, v: &Option<String>, max: usize) -> Result<(), DomainError> {
    match v {
        Some(s) => text_field(field, s, 1, max),
        None => Ok(()),
    }
}

/// A capacity figure (cores, GB): positive, finite, at most 10 million.
pub fn capacity(field: &str, v: f64) -> Result<(), DomainError> {
    if !(v.is_finite() && v > 0.0 && v <= MAX_CAPACITY) {
        return Err(DomainError::validation(
            field,
            format!("must be greater than 0 and at most {MAX_CAPACITY}"),
        ));
    }
    Ok(())
}

fn percent(field: &str, v: f64) -> Result<(), DomainError> {
    if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
        return Err(DomainError::validation(field, "must be between 0 and 100"));
    }
    Ok(())
}

fn priority(v: i32) -> Result<(), DomainError> {
    if !(0..=1000).contains(&v) {
        return Err(DomainError::validation(
            "priority",
            "must be between 0 and 1000",
        ));
    }
    Ok(())
}

fn tags(v: &[String]) -> Result<(), DomainError> {
    if v.len() > 50 {
        return Err(DomainError::validation("tags", "at most 50 tags"));
    }
    v.iter().try_for_each(|t| text_field("tags", t, 1, 64))
}

fn kubeconfig(v: &str) -> Result<(), DomainError> {
    if v.trim().is_empty() {
        return Err(DomainError::validation(
            "kubeconfig_content",
            "must not be empty",
        ));
    }
    Ok(())
}

fn dedicated_to(v: &Option<String>) -> Result<(), DomainError> {
    match v {
        Some(d) => validate::dns_label("domain", d, 3, 63),
        None => Ok(()),
    }
}

impl ProviderCreate {
    /// Every field on its own (whether the name is free and the tenant exists is the store's to
    /// say; whether the cluster works, the probe's).
    pub fn validate(&self) -> Result<(), DomainError> {
        text_field("name", &self.name, 1, 100)?;
        text_field("region", &self.region, 1, 50)?;
        optional_text("availability_zone", &self.availability_zone, 50)?;
        optional_text("cloud_provider", &self.cloud_provider, 50)?;
        capacity("cpu_total_cores", self.cpu_total_cores)?;
        capacity("memory_total_gb", self.memory_total_gb)?;
        capacity("storage_total_gb", self.storage_total_gb)?;
        percent("cpu_reservation_percent", self.cpu_reservation_percent)?;
        percent(
            "memory_reservation_percent",
            self.memory_reservation_percent,
        )?;
        percent(
            "storage_reservation_percent",
            self.storage_reservation_percent,
        )?;
        priority(self.priority)?;
        tags(&self.tags)?;
        kubeconfig(&self.kubeconfig_content)?;
        dedicated_to(&self.domain)?;
        validate::json_object("metadata", self.metadata.clone()).map(|_| ())
    }
}

impl ProviderUpdate {
    /// Checks each field given and writes it into `p`; the names of the fields it changed.
    pub fn apply(&self, p: &mut crate::model::Provider) -> Result<Vec<&'static str>, DomainError> {
        let mut changed = Vec::new();
        if let Some(v) = &self.name {
            text_field("name", v, 1, 100)?;
            p.name = v.clone();
            changed.push("name");
        }
        if let Some(v) = &self.region {
            text_field("region", v, 1, 50)?;
            p.region = v.clone();
            changed.push("region");
        }
        if let Some(v) = &self.availability_zone {
            optional_text("availability_zone", v, 50)?;
            p.availability_zone = v.clone();
            changed.push("availability_zone");
        }
        if let Some(v) = &self.cloud_provider {
            optional_text("cloud_provider", v, 50)?;
            p.cloud_provider = v.clone();
            changed.push("cloud_provider");
        }
        if let Some(v) = &self.domain {
            dedicated_to(v)?;
            p.domain = v.clone();
            changed.push("domain");
        }
        let c = &mut p.capacity;
        for (field, new, slot) in [
            (
                "cpu_total_cores",
                self.cpu_total_cores,
                &mut c.cpu_total_cores,
            ),
            (
                "memory_total_gb",
                self.memory_total_gb,
                &mut c.memory_total_gb,
            ),
            (
                "storage_total_gb",
                self.storage_total_gb,
                &mut c.storage_total_gb,
            ),
        ] {
            if let Some(v) = new {
                capacity(field, v)?;
                *slot = v;
                changed.push(field);
            }
        }
        for (field, new, slot) in [
            (
                "cpu_reservation_percent",
                self.cpu_reservation_percent,
                &mut c.cpu_reservation_percent,
            ),
            (
                "memory_reservation_percent",
                self.memory_reservation_percent,
                &mut c.memory_reservation_percent,
            ),
            (
                "storage_reservation_percent",
                self.storage_reservation_percent,
                &mut c.storage_reservation_percent,
            ),
        ] {
            if let Some(v) = new {
                percent(field, v)?;
                *slot = v;
                changed.push(field);
            }
        }
        for (field, new, slot) in [
            (
                "enable_loadbalancer",
                self.enable_loadbalancer,
                &mut p.enable_loadbalancer,
            ),
            ("is_active", self.is_active, &mut p.is_active),
            ("is_maintenance", self.is_maintenance, &mut p.is_maintenance),
            ("verify_ssl", self.verify_ssl, &mut p.verify_ssl),
        ] {
            if let Some(v) = new {
                *slot = v;
                changed.push(field);
            }
        }
        if let Some(v) = self.priority {
            priority(v)?;
            p.priority = v;
            changed.push("priority");
        }
        if let Some(v) = &self.tags {
            tags(v)?;
            p.tags = v.clone();
            changed.push("tags");
        }
        if self.metadata.is_some() {
            p.metadata = validate::json_object("metadata", self.metadata.clone())?;
            changed.push("metadata");
        }
        if let Some(k) = &self.kubeconfig_content {
            kubeconfig(k)?;
            changed.push("kubeconfig_content");
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create() -> DatabaseCreate {
        serde_json::from_value(
            serde_json::json!({"name": "orders", "engine": "postgres", "version": "16"}),
        )
        .unwrap()
    }

    fn field(r: Result<(), DomainError>) -> String {
        match r {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_each_rule_names_its_field() {
        create().validate().unwrap();
        let mut c = create();
        c.storage_gb = 5;
        assert_eq!(field(c.validate()), "storage_gb");
        let mut c = create();
        c.username = Some("app".into());
        assert_eq!(field(c.validate()), "password");
        let mut c = create();
        c.backup_schedule = "monthly".into();
        assert_eq!(field(c.validate()), "backup_schedule");
        let mut c = create();
        c.name = "Bad_Name".into();
        assert_eq!(field(c.validate()), "name");
    }

    #[test]
    fn platform_prefixes_and_bad_keys_are_refused() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        for key in [
            "dbaas.io/domain",
            "x.dbaas.io/owner",
            "kubedb.com/name",
            "app.kubernetes.io/name",
            "-bad",
            "Upper.Case/x",
        ] {
            assert_eq!(
                field(object_metadata(Some(&one(key, "v")), None)),
                "labels",
                "{key}"
            );
            assert_eq!(
                field(object_metadata(None, Some(&one(key, "v")))),
                "annotations",
                "{key}"
            );
        }
        object_metadata(
            Some(&one("team", "payments")),
            Some(&one("example.com/x", "any text")),
        )
        .unwrap();
        assert_eq!(
            field(object_metadata(Some(&one("team", "has space")), None)),
            "labels"
        );
    }

    #[test]
    fn provider_update_tells_null_from_absent_and_lists_what_it_changed() {
        let u: ProviderUpdate = serde_json::from_value(
            serde_json::json!({"domain": null, "cloud_provider": "aws", "priority": 5}),
        )
        .unwrap();
        assert_eq!(u.domain, Some(None));
        assert_eq!(u.cloud_provider, Some(Some("aws".into())));
        assert_eq!(u.availability_zone, None);
    }

    #[test]
    fn provider_field_rules() {
        assert!(capacity("cpu_total_cores", 0.0).is_err());
        assert!(capacity("cpu_total_cores", f64::NAN).is_err());
        assert!(capacity("cpu_total_cores", 0.5).is_ok());
        assert!(percent("p", 100.0).is_ok() && percent("p", 100.1).is_err());
        assert!(priority(1000).is_ok() && priority(-1).is_err());
        assert!(text_field("name", " padded", 1, 100).is_err());
        assert_eq!(
            field(text_field("region", &"x".repeat(51), 1, 50)),
            "region"
        );
        assert!(tags(&["a".repeat(65)]).is_err());
    }
}
