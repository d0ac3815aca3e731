//! Engines and instance sizes offered by the platform.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DomainError;

/// Shards of a highly available Redis (KubeDB's cluster mode needs at least three masters).
pub const REDIS_CLUSTER_SHARDS: i64 = 3;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
    Mariadb,
    Mongodb,
    Redis,
    Elasticsearch,
}

impl Engine {
    pub const ALL: [Engine; 6] = [
        Engine::Postgres,
        Engine::Mysql,
        Engine::Mariadb,
        Engine::Mongodb,
        Engine::Redis,
        Engine::Elasticsearch,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
            Engine::Mariadb => "mariadb",
            Engine::Mongodb => "mongodb",
            Engine::Redis => "redis",
            Engine::Elasticsearch => "elasticsearch",
        }
    }

    pub fn parse(s: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub const fn default_port(self) -> u16 {
        match self {
            Engine::Postgres => 5432,
            Engine::Mysql | Engine::Mariadb => 3306,
            Engine::Mongodb => 27017,
            Engine::Redis => 6379,
            Engine::Elasticsearch => 9200,
        }
    }

    /// Pods a database of this engine runs: Redis in high availability is a cluster of
    /// [`REDIS_CLUSTER_SHARDS`] shards of `replicas` pods each; every other engine runs `replicas`.
    /// Quotas and provider capacity count these.
    pub const fn pods(self, replicas: i64, high_availability: bool) -> i64 {
        match (self, high_availability) {
            (Engine::Redis, true) => replicas * REDIS_CLUSTER_SHARDS,
            _ => replicas,
        }
    }

    /// Replica rules per engine, checked before anything is reserved.
    pub fn check_replicas(self, replicas: u32, high_availability: bool) -> Result<(), DomainError> {
        let bad = |m: &str| Err(DomainError::BadRequest(m.to_string()));
        if !(1..=9).contains(&replicas) {
            return bad("replicas must be between 1 and 9");
        }
        if high_availability && (replicas < 3 || replicas.is_multiple_of(2)) {
            return bad("high availability needs an odd number of replicas, at least 3");
        }
        if !high_availability && replicas > 1 {
            return bad("more than one replica needs high_availability: true");
        }
        if self == Engine::Mongodb && replicas.is_multiple_of(2) {
            return bad("MongoDB replica sets need an odd number of members");
        }
        Ok(())
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Instance sizes; requests equal limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
pub enum Size {
    #[default]
    #[serde(rename = "db.t3.micro")]
    Micro,
    #[serde(rename = "db.t3.small")]
    Small,
    #[serde(rename = "db.t3.medium")]
    Medium,
    #[serde(rename = "db.t3.large")]
    Large,
    #[serde(rename = "db.t3.xlarge")]
    Xlarge,
    #[serde(rename = "db.t3.2xlarge")]
    Xlarge2,
}

impl Size {
    pub const ALL: [Size; 6] = [
        Size::Micro,
        Size::Small,
        Size::Medium,
        Size::Large,
        Size::Xlarge,
        Size::Xlarge2,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Size::Micro => "db.t3.micro",
            Size::Small => "db.t3.small",
            Size::Medium => "db.t3.medium",
            Size::Large => "db.t3.large",
            Size::Xlarge => "db.t3.xlarge",
            Size::Xlarge2 => "db.t3.2xlarge",
        }
    }

    pub fn parse(s: &str) -> Option<Size> {
        Size::ALL.into_iter().find(|z| z.as_str() == s)
    }

    pub const fn cpu_cores(self) -> f64 {
        match self {
            Size::Micro => 0.5,
            Size::Small => 1.0,
            Size::Medium | Size::Large => 2.0,
            Size::Xlarge => 4.0,
            Size::Xlarge2 => 8.0,
        }
    }

    pub const fn memory_gb(self) -> f64 {
        match self {
            Size::Micro => 1.0,
            Size::Small => 2.0,
            Size::Medium => 4.0,
            Size::Large => 8.0,
            Size::Xlarge => 16.0,
            Size::Xlarge2 => 32.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_round_trip_and_have_ports() {
        for e in Engine::ALL {
            assert_eq!(Engine::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        assert_eq!(Engine::Mariadb.default_port(), 3306);
        assert_eq!(Engine::parse("oracle"), None);
    }

    #[test]
    fn sizes_match_the_contract() {
        assert_eq!(
            serde_json::to_value(Size::Xlarge2).unwrap(),
            "db.t3.2xlarge"
        );
        assert_eq!(
            Size::parse("db.t3.large").map(|s| (s.cpu_cores(), s.memory_gb())),
            Some((2.0, 8.0))
        );
    }

    #[test]
    fn replica_rules() {
        assert!(Engine::Postgres.check_replicas(1, false).is_ok());
        assert!(Engine::Postgres.check_replicas(3, true).is_ok());
        assert!(Engine::Postgres.check_replicas(2, true).is_err());
        assert!(Engine::Postgres.check_replicas(3, false).is_err());
        assert!(Engine::Postgres.check_replicas(0, false).is_err());
        assert!(Engine::Mongodb.check_replicas(10, true).is_err());
    }

    #[test]
    fn redis_ha_counts_every_shard() {
        assert_eq!(Engine::Redis.pods(3, true), 9);
        assert_eq!(Engine::Redis.pods(1, false), 1);
        assert_eq!(Engine::Postgres.pods(3, true), 3);
    }
}
