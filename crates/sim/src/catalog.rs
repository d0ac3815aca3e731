//! The KubeDB version catalog installed at start, modelled on the KubeDB v2026.7.10 catalog
//! (kubedb-api §6): object names vs versions, distributions, deprecated flags and the
//! `updateConstraints` lists, plus the Masterminds-style constraint matching admission uses.

use provider::kubedb::names::CATALOG_API_VERSION;
use serde_json::{json, Value};

/// One catalog entry; `allow`/`deny` are the constraint lists (MySQL: used for both topology keys).
struct Entry {
    name: &'static str,
    version: &'static str,
    distribution: Option<&'static str>,
    deprecated: bool,
    allow: &'static [&'static str],
    deny: &'static [&'static str],
}

const fn e(
    name: &'static str,
    version: &'static str,
    distribution: Option<&'static str>,
    deprecated: bool,
    allow: &'static [&'static str],
    deny: &'static [&'static str],
) -> Entry {
    Entry {
        name,
        version,
        distribution,
        deprecated,
        allow,
        deny,
    }
}

const MONGODB: &[Entry] = &[
    e(
        "4.4.26",
        "4.4.26",
        Some("Official"),
        true,
        &[">= 4.4.26, < 6.0.0"],
        &[],
    ),
    e(
        "5.0.26",
        "5.0.26",
        Some("Official"),
        true,
        &[">= 5.0.26, < 7.0.0"],
        &[],
    ),
    e(
        "6.0.24",
        "6.0.24",
        Some("Official"),
        false,
        &[">= 6.0.24, < 8.0.0"],
        &[],
    ),
    e(
        "7.0.21",
        "7.0.21",
        Some("Official"),
        false,
        &[">= 7.0.21, < 9.0.0"],
        &[],
    ),
    e(
        "8.0.10",
        "8.0.10",
        Some("Official"),
        false,
        &[">= 8.0.10, < 10.0.0"],
        &[],
    ),
    e(
        "8.0.17",
        "8.0.17",
        Some("Official"),
        false,
        &[">= 8.0.17, < 10.0.0"],
        &[],
    ),
    e(
        "percona-7.0.18",
        "7.0.18",
        Some("Percona"),
        false,
        &[">= 7.0.18, < 9.0.0"],
        &[],
    ),
    e(
        "percona-8.0.17",
        "8.0.17",
        Some("Percona"),
        false,
        &[">= 8.0.17, < 10.0.0"],
        &[],
    ),
];

const POSTGRES: &[Entry] = &[
    e("13.22", "13.22", Some("Official"), true, &[">= 13.22"], &[]),
    e(
        "14.19",
        "14.19",
        Some("Official"),
        false,
        &[">= 14.19"],
        &[],
    ),
    e(
        "15.14",
        "15.14",
        Some("Official"),
        false,
        &[">= 15.14"],
        &[],
    ),
    e(
        "16.10",
        "16.10",
        Some("Official"),
        false,
        &[">= 16.10"],
        &[],
    ),
    e("17.6", "17.6", Some("Official"), false, &[">= 17.6"], &[]),
    e("17.9", "17.9", Some("Official"), false, &[">= 17.9"], &[]),
    e(
        "17.9-bookworm",
        "17.9",
        Some("Official"),
        false,
        &[">= 17.9"],
        &[],
    ),
    e("18.3", "18.3", Some("Official"), false, &[">= 18.3"], &[]),
    e(
        "timescaledb-2.14.2-pg16",
        "16.2",
        Some("TimescaleDB"),
        false,
        &[">= 16.2"],
        &[],
    ),
];

const MYSQL: &[Entry] = &[
    e(
        "5.7.44",
        "5.7.44",
        Some("Official"),
        true,
        &[">= 5.7.44, < 8.0.0"],
        &["< 5.7.44"],
    ),
    e(
        "8.0.43",
        "8.0.43",
        Some("Official"),
        false,
        &[">= 8.0.43, <= 8.4.8"],
        &["< 8.0.43"],
    ),
    e(
        "8.4.3",
        "8.4.3",
        Some("Official"),
        false,
        &[">= 8.4.3, <= 9.1.0"],
        &["< 8.4.3"],
    ),
    e(
        "8.4.8",
        "8.4.8",
        Some("Official"),
        false,
        &[">= 8.4.8, <= 9.1.0"],
        &["< 8.4.8"],
    ),
    e(
        "9.1.0",
        "9.1.0",
        Some("Official"),
        false,
        &[">= 9.1.0"],
        &["< 9.1.0"],
    ),
    e(
        "percona-8.0.42",
        "8.0.42",
        Some("Percona"),
        false,
        &[">= 8.0.42, <= 8.4.8"],
        &["< 8.0.42"],
    ),
];

const MARIADB: &[Entry] = &[
    e(
        "10.5.29",
        "10.5.29",
        None,
        true,
        &[">= 10.5.29, <= 10.11.14"],
        &[],
    ),
    e(
        "10.6.23",
        "10.6.23",
        None,
        false,
        &[">= 10.6.23, <= 11.4.8"],
        &[],
    ),
    e(
        "10.11.14",
        "10.11.14",
        None,
        false,
        &[">= 10.11.14, <= 11.8.5"],
        &[],
    ),
    e(
        "11.4.8",
        "11.4.8",
        None,
        false,
        &[">= 11.4.8, <= 12.1.2"],
        &[],
    ),
    e(
        "11.8.5",
        "11.8.5",
        None,
        false,
        &[">= 11.8.5, <= 12.1.2"],
        &[],
    ),
    e("12.1.2", "12.1.2", None, false, &[">= 12.1.2"], &[]),
];

const REDIS: &[Entry] = &[
    e(
        "6.0.20",
        "6.0.20",
        Some("Official"),
        true,
        &[">= 6.0.20, < 7.0.0"],
        &[],
    ),
    e(
        "6.2.20",
        "6.2.20",
        Some("Official"),
        false,
        &[">= 6.2.20, < 7.4.6"],
        &[],
    ),
    e(
        "7.2.10",
        "7.2.10",
        Some("Official"),
        false,
        &[">= 7.2.10, < 8.2.2"],
        &[],
    ),
    e(
        "7.4.6",
        "7.4.6",
        Some("Official"),
        false,
        &[">= 7.4.6, < 8.2.2"],
        &[],
    ),
    e("8.2.2", "8.2.2", Some("Official"), false, &["8.2.2"], &[]),
    e(
        "valkey-8.1.1",
        "8.1.1",
        Some("Valkey"),
        false,
        &[">= 8.1.1, < 9.0.0"],
        &[],
    ),
];

const ELASTICSEARCH: &[Entry] = &[
    e(
        "xpack-7.17.27",
        "7.17.27",
        Some("ElasticStack"),
        true,
        &[">= 7.17.27, < 8.19.9"],
        &[],
    ),
    e(
        "xpack-8.17.6",
        "8.17.6",
        Some("ElasticStack"),
        false,
        &[">= 8.17.6, < 9.2.4"],
        &[],
    ),
    e(
        "xpack-8.19.9",
        "8.19.9",
        Some("ElasticStack"),
        false,
        &[">= 8.19.9, < 9.2.4"],
        &[],
    ),
    e(
        "xpack-9.2.3",
        "9.2.3",
        Some("ElasticStack"),
        false,
        &[">= 9.2.3, < 9.3.0"],
        &[],
    ),
    e(
        "opensearch-2.19.2",
        "2.19.2",
        Some("OpenSearch"),
        false,
        &[">= 2.19.2, < 3.5.0"],
        &[],
    ),
    e(
        "opensearch-3.4.0",
        "3.4.0",
        Some("OpenSearch"),
        false,
        &[">= 3.4.0, < 3.5.0"],
        &[],
    ),
];

fn image(name: &str, tag: &str) -> Value {
    json!({ "image": format!("ghcr.io/kubedb-sim/{name}:{tag}") })
}

fn list(items: &[&str]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|s| Value::String((*s).to_string()))
            .collect(),
    )
}

fn object(kind: &str, engine: &str, en: &Entry) -> Value {
    let mut spec = json!({
        "version": en.version,
        "deprecated": en.deprecated,
        "db": image(engine, en.name),
        "exporter": image(&format!("{engine}-exporter"), "v0.1.0"),
        "podSecurityPolicies": { "databasePolicyName": "" },
    });
    let s = spec.as_object_mut().expect("spec literal is an object");
    if let Some(d) = en.distribution {
        s.insert("distribution".into(), d.into());
    }
    let constraints = if kind == "MySQLVersion" {
        json!({
            "allowlist": { "groupReplication": list(en.allow), "standalone": list(en.allow) },
            "denylist": { "groupReplication": list(en.deny), "standalone": list(en.deny) },
        })
    } else {
        let mut c = json!({ "allowlist": list(en.allow) });
        if !en.deny.is_empty() {
            c["denylist"] = list(en.deny);
        }
        c
    };
    s.insert("updateConstraints".into(), constraints);
    match kind {
        "MongoDBVersion" => {
            s.insert("initContainer".into(), image("mongodb-init", "v0.1.0"));
            s.insert(
                "replicationModeDetector".into(),
                image("replication-mode-detector", "v0.1.0"),
            );
        }
        "PostgresVersion" => {
            s.insert("coordinator".into(), image("pg-coordinator", "v0.1.0"));
            let base = if en.name.ends_with("-bookworm") {
                "bookworm"
            } else {
                "alpine"
            };
            s.insert("db".into(), json!({ "image": format!("ghcr.io/kubedb-sim/postgres:{}", en.name), "baseOS": base }));
        }
        "MySQLVersion" | "MariaDBVersion" => {
            s.insert(
                "coordinator".into(),
                image(&format!("{engine}-coordinator"), "v0.1.0"),
            );
            s.insert(
                "initContainer".into(),
                image(&format!("{engine}-init"), "v0.1.0"),
            );
        }
        "RedisVersion" => {
            s.insert("coordinator".into(), image("redis-coordinator", "v0.1.0"));
        }
        "ElasticsearchVersion" => {
            s.insert(
                "initContainer".into(),
                json!({ "image": "ghcr.io/kubedb-sim/elasticsearch-init:v0.1.0", "yqImage": "ghcr.io/kubedb-sim/yq:v0.1.0" }),
            );
            let plugin = if en.name.starts_with("opensearch") {
                "OpenSearch"
            } else {
                "X-Pack"
            };
            s.insert("authPlugin".into(), plugin.into());
        }
        _ => {}
    }
    json!({
        "apiVersion": CATALOG_API_VERSION,
        "kind": kind,
        "metadata": {
            "name": en.name,
            "labels": { "app.kubernetes.io/instance": "kubedb-catalog", "app.kubernetes.io/managed-by": "Helm" },
        },
        "spec": spec,
    })
}

/// Every catalog object, for all six engines.
pub fn catalog_objects() -> Vec<Value> {
    let sets: [(&str, &str, &[Entry]); 6] = [
        ("MongoDBVersion", "mongo", MONGODB),
        ("PostgresVersion", "postgres", POSTGRES),
        ("MySQLVersion", "mysql", MYSQL),
        ("MariaDBVersion", "mariadb", MARIADB),
        ("RedisVersion", "redis", REDIS),
        ("ElasticsearchVersion", "elasticsearch", ELASTICSEARCH),
    ];
    sets.iter()
        .flat_map(|(kind, engine, entries)| entries.iter().map(|en| object(kind, engine, en)))
        .collect()
}

pub use domain::constraints::{constraint_matches, SemVer};

/// Catalog object names `current` may be updated to: the candidates whose `spec.version`
/// satisfies the allowlist (empty = any) and none of the denylist (kubedb-api §6).
/// `topology_key` picks MySQL's per-topology lists (`groupReplication` | `standalone`).
pub fn upgradable_names(
    current: &Value,
    candidates: &[Value],
    topology_key: Option<&str>,
) -> Vec<String> {
    let pick = |which: &str| -> Vec<String> {
        let node = &current["spec"]["updateConstraints"][which];
        let node = match (topology_key, node) {
            (Some(k), Value::Object(m)) => m.get(k).cloned().unwrap_or(Value::Null),
            (None, Value::Object(m)) => m.get("groupReplication").cloned().unwrap_or(Value::Null),
            (_, other) => other.clone(),
        };
        node.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let allow = pick("allowlist");
    let deny = pick("denylist");
    candidates
        .iter()
        .filter_map(|c| {
            let name = c["metadata"]["name"].as_str()?;
            let ver = SemVer::parse(c["spec"]["version"].as_str()?)?;
            let allowed = allow.is_empty()
                || allow
                    .iter()
                    .any(|a| constraint_matches(a, &ver) == Some(true));
            let denied = deny
                .iter()
                .any(|d| constraint_matches(d, &ver) == Some(true));
            (allowed && !denied).then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use provider::kubedb::{
        ElasticsearchVersion, MariaDBVersion, MongoDBVersion, MySQLVersion, PostgresVersion,
        RedisVersion,
    };

    #[test]
    fn catalog_objects_deserialise_into_typed_kinds() {
        let objs = catalog_objects();
        assert!(objs.len() >= 30);
        for o in &objs {
            let kind = o["kind"].as_str().unwrap_or_default();
            let ok = match kind {
                "MongoDBVersion" => serde_json::from_value::<MongoDBVersion>(o.clone()).is_ok(),
                "PostgresVersion" => serde_json::from_value::<PostgresVersion>(o.clone()).is_ok(),
                "MySQLVersion" => serde_json::from_value::<MySQLVersion>(o.clone()).is_ok(),
                "MariaDBVersion" => serde_json::from_value::<MariaDBVersion>(o.clone()).is_ok(),
                "RedisVersion" => serde_json::from_value::<RedisVersion>(o.clone()).is_ok(),
                "ElasticsearchVersion" => {
                    serde_json::from_value::<ElasticsearchVersion>(o.clone()).is_ok()
                }
                _ => false,
            };
            assert!(ok, "{kind} {} does not deserialise", o["metadata"]["name"]);
        }
        let names: Vec<&str> = objs
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        for wanted in [
            "8.0.17",
            "percona-8.0.17",
            "17.9",
            "17.9-bookworm",
            "18.3",
            "8.4.8",
            "11.8.5",
            "7.4.6",
        ] {
            assert!(names.contains(&wanted), "missing {wanted}");
        }
        assert!(names.contains(&"xpack-9.2.3") && names.contains(&"opensearch-3.4.0"));
    }

    #[test]
    fn upgrade_paths_match_the_documented_examples() {
        let objs = catalog_objects();
        let of_kind = |k: &str| {
            objs.iter()
                .filter(|o| o["kind"] == k)
                .cloned()
                .collect::<Vec<_>>()
        };
        let find = |k: &str, n: &str| {
            objs.iter()
                .find(|o| o["kind"] == k && o["metadata"]["name"] == n)
                .cloned()
        };

        let pg = of_kind("PostgresVersion");
        let cur = find("PostgresVersion", "17.9").expect("17.9 present");
        let up = upgradable_names(&cur, &pg, None);
        assert!(up.contains(&"18.3".to_string()));
        assert!(!up.contains(&"16.10".to_string()));

        let my = of_kind("MySQLVersion");
        let cur = find("MySQLVersion", "8.4.8").expect("8.4.8 present");
        let up = upgradable_names(&cur, &my, Some("groupReplication"));
        assert!(up.contains(&"9.1.0".to_string()));
        assert!(!up.contains(&"8.4.3".to_string()));

        let rd = of_kind("RedisVersion");
        let cur = find("RedisVersion", "8.2.2").expect("8.2.2 present");
        assert_eq!(upgradable_names(&cur, &rd, None), vec!["8.2.2".to_string()]);
    }
}
