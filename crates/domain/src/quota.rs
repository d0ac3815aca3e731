//! Quotas per project and per domain, and the arithmetic of reserving against them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::engine::Size;
use crate::DomainError;

/// Limits of a project or a domain. A domain's quota caps the sum over its projects.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaLimits {
    pub max_cpu_cores: f64,
    pub max_memory_gb: f64,
    pub max_storage_gb: f64,
    pub max_databases: i64,
    pub max_backups: i64,
}

impl Default for QuotaLimits {
    /// The contract's per-project defaults.
    fn default() -> Self {
        QuotaLimits {
            max_cpu_cores: 10.0,
            max_memory_gb: 20.0,
            max_storage_gb: 100.0,
            max_databases: 10,
            max_backups: 50,
        }
    }
}

impl QuotaLimits {
    pub fn validate(&self) -> Result<(), DomainError> {
        let checks = [
            ("max_cpu_cores", self.max_cpu_cores),
            ("max_memory_gb", self.max_memory_gb),
            ("max_storage_gb", self.max_storage_gb),
            ("max_databases", self.max_databases as f64),
            ("max_backups", self.max_backups as f64),
        ];
        for (field, v) in checks {
            if !v.is_finite() || !(0.0..=1_000_000.0).contains(&v) {
                return Err(DomainError::validation(
                    format!("quota.{field}"),
                    "must be between 0 and 1000000",
                ));
            }
        }
        Ok(())
    }
}

impl QuotaLimits {
    /// A project's quota never exceeds its domain's: names the first field that does (as
    /// `quota.<field>`).
    pub fn within(&self, domain: &QuotaLimits) -> Result<(), DomainError> {
        let pairs = [
            ("max_cpu_cores", self.max_cpu_cores, domain.max_cpu_cores),
            ("max_memory_gb", self.max_memory_gb, domain.max_memory_gb),
            ("max_storage_gb", self.max_storage_gb, domain.max_storage_gb),
            (
                "max_databases",
                self.max_databases as f64,
                domain.max_databases as f64,
            ),
            (
                "max_backups",
                self.max_backups as f64,
                domain.max_backups as f64,
            ),
        ];
        for (field, mine, cap) in pairs {
            if mine > cap {
                return Err(DomainError::validation(
                    format!("quota.{field}"),
                    format!("{mine} exceeds the domain's quota of {cap}"),
                ));
            }
        }
        Ok(())
    }

    /// Each field the smaller of the two: a default project quota clipped to its domain's.
    pub fn capped_by(&self, domain: &QuotaLimits) -> QuotaLimits {
        QuotaLimits {
            max_cpu_cores: self.max_cpu_cores.min(domain.max_cpu_cores),
            max_memory_gb: self.max_memory_gb.min(domain.max_memory_gb),
            max_storage_gb: self.max_storage_gb.min(domain.max_storage_gb),
            max_databases: self.max_databases.min(domain.max_databases),
            max_backups: self.max_backups.min(domain.max_backups),
        }
    }
}

/// Resources held (or asked for): what one database costs, counted over all replicas.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub cpu_cores: f64,
    pub memory_gb: f64,
    pub storage_gb: f64,
    pub databases: i64,
    pub backups: i64,
}

impl Usage {
    /// The cost of one database: cpu = size.cpu × replicas, memory = size.memory × replicas,
    /// storage = storage_gb × replicas.
    pub fn of_database(size: Size, storage_gb: i64, replicas: i64) -> Usage {
        let r = replicas as f64;
        Usage {
            cpu_cores: size.cpu_cores() * r,
            memory_gb: size.memory_gb() * r,
            storage_gb: storage_gb as f64 * r,
            databases: 1,
            backups: 0,
        }
    }

    pub fn plus(self, o: Usage) -> Usage {
        Usage {
            cpu_cores: self.cpu_cores + o.cpu_cores,
            memory_gb: self.memory_gb + o.memory_gb,
            storage_gb: self.storage_gb + o.storage_gb,
            databases: self.databases + o.databases,
            backups: self.backups + o.backups,
        }
    }

    /// The difference `self - o`, used when a database is resized (may be negative).
    pub fn minus(self, o: Usage) -> Usage {
        Usage {
            cpu_cores: self.cpu_cores - o.cpu_cores,
            memory_gb: self.memory_gb - o.memory_gb,
            storage_gb: self.storage_gb - o.storage_gb,
            databases: self.databases - o.databases,
            backups: self.backups - o.backups,
        }
    }
}

/// Checks that `used + request` stays within `limits`; names the first resource that would not.
/// `scope` is "project" or "domain", for the message.
pub fn check(
    limits: &QuotaLimits,
    used: Usage,
    request: Usage,
    scope: &str,
) -> Result<(), DomainError> {
    // A small epsilon so that 0.5-core sizes summing to exactly the limit are admitted.
    const EPS: f64 = 1e-9;
    let after = used.plus(request);
    let over = |resource: &str, want: f64, max: f64, unit: &str| DomainError::QuotaExceeded {
        message: format!(
            "{scope} quota exceeded for {resource}: {want} {unit} requested, {max} {unit} allowed"
        ),
        resource: resource.to_string(),
    };
    if request.databases > 0 && after.databases > limits.max_databases {
        return Err(over(
            "databases",
            after.databases as f64,
            limits.max_databases as f64,
            "databases",
        ));
    }
    if request.cpu_cores > 0.0 && after.cpu_cores > limits.max_cpu_cores + EPS {
        return Err(over("cpu", after.cpu_cores, limits.max_cpu_cores, "cores"));
    }
    if request.memory_gb > 0.0 && after.memory_gb > limits.max_memory_gb + EPS {
        return Err(over("memory", after.memory_gb, limits.max_memory_gb, "GB"));
    }
    if request.storage_gb > 0.0 && after.storage_gb > limits.max_storage_gb + EPS {
        return Err(over(
            "storage",
            after.storage_gb,
            limits.max_storage_gb,
            "GB",
        ));
    }
    if request.backups > 0 && after.backups > limits.max_backups {
        return Err(over(
            "backups",
            after.backups as f64,
            limits.max_backups as f64,
            "backups",
        ));
    }
    Ok(())
}

/// The quota routes' answer: limits, usage and what is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    pub max_cpu_cores: f64,
    pub max_memory_gb: f64,
    pub max_storage_gb: f64,
    pub max_databases: i64,
    pub max_backups: i64,
    pub used_cpu_cores: f64,
    pub used_memory_gb: f64,
    pub used_storage_gb: f64,
    pub used_databases: i64,
    pub used_backups: i64,
    pub cpu_cores_available: f64,
    pub memory_gb_available: f64,
    pub storage_gb_available: f64,
    pub databases_available: i64,
    pub backups_available: i64,
}

impl QuotaView {
    pub fn new(l: QuotaLimits, u: Usage) -> Self {
        QuotaView {
            max_cpu_cores: l.max_cpu_cores,
            max_memory_gb: l.max_memory_gb,
            max_storage_gb: l.max_storage_gb,
            max_databases: l.max_databases,
            max_backups: l.max_backups,
            used_cpu_cores: u.cpu_cores,
            used_memory_gb: u.memory_gb,
            used_storage_gb: u.storage_gb,
            used_databases: u.databases,
            used_backups: u.backups,
            cpu_cores_available: (l.max_cpu_cores - u.cpu_cores).max(0.0),
            memory_gb_available: (l.max_memory_gb - u.memory_gb).max(0.0),
            storage_gb_available: (l.max_storage_gb - u.storage_gb).max(0.0),
            databases_available: (l.max_databases - u.databases).max(0),
            backups_available: (l.max_backups - u.backups).max(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_all_replicas() {
        let u = Usage::of_database(Size::Medium, 20, 3);
        assert_eq!(
            (u.cpu_cores, u.memory_gb, u.storage_gb, u.databases),
            (6.0, 12.0, 60.0, 1)
        );
    }

    #[test]
    fn check_names_the_resource() {
        let l = QuotaLimits::default();
        let one = Usage::of_database(Size::Micro, 10, 1);
        let mut used = Usage::default();
        for _ in 0..10 {
            check(&l, used, one, "project").unwrap();
            used = used.plus(one);
        }
        let e = check(&l, used, one, "project").unwrap_err();
        assert!(
            matches!(e, DomainError::QuotaExceeded { ref resource, .. } if resource == "databases")
        );
        let big = Usage::of_database(Size::Xlarge2, 10, 1);
        assert!(
            matches!(check(&l, Usage::default(), big, "domain"), Err(DomainError::QuotaExceeded { ref resource, .. }) if resource == "memory")
        );
    }

    #[test]
    fn project_quota_within_domain() {
        let domain = QuotaLimits::default();
        assert!(domain.within(&domain).is_ok());
        let mut p = domain;
        p.max_storage_gb += 1.0;
        match p.within(&domain) {
            Err(DomainError::Validation { field, .. }) => assert_eq!(field, "quota.max_storage_gb"),
            other => panic!("{other:?}"),
        }
        assert!(p.capped_by(&domain).within(&domain).is_ok());
    }

    #[test]
    fn view_never_goes_negative() {
        let v = QuotaView::new(
            QuotaLimits::default(),
            Usage {
                databases: 12,
                ..Default::default()
            },
        );
        assert_eq!(v.databases_available, 0);
    }
}
