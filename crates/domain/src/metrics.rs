//! A database's live metrics: what its KubeDB exporter publishes, boiled down to one document per
//! engine. Pure: the adapter parses the exporter's page into [`Sample`]s and hands them here.
//!
//! Rates (queries per second, CPU cores) need two readings of a counter: the document keeps the
//! counters' totals, and the next reading divides the difference by the time between them. With
//! no earlier reading, work counters (queries, operations) give their average since the server
//! started where the exporter says how long that is; CPU time needs two readings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::engine::Engine;

/// One sample of an exporter's page.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn new(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value,
        }
    }
}

/// The per-engine metrics document of `GET /{id}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricsDoc {
    /// CPU in use, in cores (a rate of the CPU-seconds counter).
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
    /// Client connections open now.
    pub connections: Option<f64>,
    /// Queries (or transactions, commands, operations: the engine's unit of work) per second.
    pub qps: Option<f64>,
    pub storage_used_bytes: Option<f64>,
    /// The storage provisioned for the database.
    pub storage_total_bytes: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_lag_seconds: Option<f64>,
    pub ready_replicas: i64,
    /// Engine-specific figures (e.g. `cache_hit_ratio`, `opcounters`, `keyspace_hits`,
    /// `cluster_health`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub engine_specific: BTreeMap<String, Value>,
}

/// Counter totals kept from one reading, so the next can compute rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub at: Option<DateTime<Utc>>,
    pub counters: BTreeMap<String, f64>,
}

/// What one reading yields: the document and the totals the next reading needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub doc: MetricsDoc,
    pub totals: Totals,
}

/// What the record contributes (the exporter does not know it).
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub engine: Engine,
    pub storage_gb: i64,
    pub ready_replicas: i64,
}

/// The samples of one page, looked up by name.
struct Page<'a> {
    by_name: BTreeMap<&'a str, Vec<&'a Sample>>,
}

impl<'a> Page<'a> {
    fn new(samples: &'a [Sample]) -> Self {
        let mut by_name: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.value.is_finite()) {
            by_name.entry(s.name.as_str()).or_default().push(s);
        }
        Page { by_name }
    }

    fn all(&self, name: &str) -> &[&'a Sample] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    fn sum(&self, name: &str) -> Option<f64> {
        let s = self.all(name);
        (!s.is_empty()).then(|| s.iter().map(|s| s.value).sum())
    }

    fn max(&self, name: &str) -> Option<f64> {
        self.all(name).iter().map(|s| s.value).reduce(f64::max)
    }

    /// The sum of the samples whose `label` is `value`.
    fn sum_where(&self, name: &str, label: &str, value: &str) -> Option<f64> {
        let s: Vec<f64> = self
            .all(name)
            .iter()
            .filter(|s| s.labels.get(label).map(String::as_str) == Some(value))
            .map(|s| s.value)
            .collect();
        (!s.is_empty()).then(|| s.iter().sum())
    }

    /// The sum of the samples whose `label` is not one of `except`.
    fn sum_except(&self, name: &str, label: &str, except: &[&str]) -> Option<f64> {
        let s: Vec<f64> = self
            .all(name)
            .iter()
            .filter(|s| {
                !s.labels
                    .get(label)
                    .is_some_and(|v| except.contains(&v.as_str()))
            })
            .map(|s| s.value)
            .collect();
        (!s.is_empty()).then(|| s.iter().sum())
    }
}

/// Builds rates against the previous reading.
struct Rates<'a> {
    previous: Option<&'a Totals>,
    at: DateTime<Utc>,
    /// Seconds the server has run, when the exporter says.
    uptime: Option<f64>,
    totals: Totals,
}

impl Rates<'_> {
    /// Records `total` under `key` and returns its rate per second: since the previous reading,
    /// else the average since the server started (a counter of the server's own work starts
    /// with it).
    fn rate(&mut self, key: &str, total: Option<f64>) -> Option<f64> {
        let uptime = self.uptime;
        self.between(key, total)
            .or_else(|| Some(total? / uptime.filter(|u| *u >= 1.0)?))
    }

    /// Records `total` under `key` and returns its rate per second since the previous reading
    /// only: for counters that did not start with the server (CPU time, host-wide figures).
    fn between(&mut self, key: &str, total: Option<f64>) -> Option<f64> {
        let total = total?;
        self.totals.counters.insert(key.to_string(), total);
        let since_previous = self.previous.and_then(|p| {
            let before = *p.counters.get(key)?;
            let secs = (self.at - p.at?).num_milliseconds() as f64 / 1000.0;
            // A counter that went down was reset (a restart): no rate from that pair.
            (secs >= 1.0 && total >= before).then(|| (total - before) / secs)
        });
        since_previous
    }
}

/// Adds a figure to the engine-specific part when the page had it.
fn put(extra: &mut BTreeMap<String, Value>, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        extra.insert(key.to_string(), Value::from(round(v, 4)));
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn ratio(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => Some(round(p / w, 4)),
        _ => None,
    }
}

/// The document for one exporter page read at `at`, with rates against `previous`.
pub fn summarize(
    known: Known,
    samples: &[Sample],
    previous: Option<&Totals>,
    at: DateTime<Utc>,
) -> Reading {
    let page = Page::new(samples);
    let uptime = page
        .max("mysql_global_status_uptime")
        .or_else(|| page.max("redis_uptime_in_seconds"))
        .or_else(|| page.max("mongodb_ss_uptime"))
        .or_else(|| {
            page.max("pg_postmaster_start_time_seconds")
                .map(|start| at.timestamp() as f64 - start)
        })
        .or_else(|| {
            page.max("process_start_time_seconds")
                .map(|start| at.timestamp() as f64 - start)
        });
    let mut rates = Rates {
        previous,
        at,
        uptime,
        totals: Totals {
            at: Some(at),
            counters: BTreeMap::new(),
        },
    };
    let mut extra: BTreeMap<String, Value> = BTreeMap::new();
    // What every exporter may say about its own process, as a fallback.
    let process_cpu = page.sum("process_cpu_seconds_total");
    let process_memory = page.sum("process_resident_memory_bytes");
    // Volume usage as the kubelet reports it, where the engine says nothing of its size.
    let volume_used = page.sum("kubelet_volume_stats_used_bytes");
    let mut doc = MetricsDoc {
        cpu_cores: None,
        memory_bytes: None,
        connections: None,
        qps: None,
        storage_used_bytes: None,
        storage_total_bytes: (known.storage_gb.max(0) as f64) * 1024.0 * 1024.0 * 1024.0,
        replication_lag_seconds: None,
        ready_replicas: known.ready_replicas,
        engine_specific: BTreeMap::new(),
    };
    match known.engine {
        Engine::Postgres => {
            doc.connections = page.sum("pg_stat_database_numbackends");
            let commits = page.sum("pg_stat_database_xact_commit");
            let rollbacks = page.sum("pg_stat_database_xact_rollback");
            let xacts = commits.map(|c| c + rollbacks.unwrap_or(0.0));
            doc.qps = rates.rate("transactions", xacts);
            doc.storage_used_bytes = page.sum_except(
                "pg_database_size_bytes",
                "datname",
                &["template0", "template1"],
            );
            doc.replication_lag_seconds = page.max("pg_replication_lag");
            put(
                &mut extra,
                "max_connections",
                page.max("pg_settings_max_connections"),
            );
            let hit = page.sum("pg_stat_database_blks_hit");
            let read = page.sum("pg_stat_database_blks_read");
            put(
                &mut extra,
                "cache_hit_ratio",
                ratio(hit, hit.zip(read).map(|(h, r)| h + r)),
            );
            put(
                &mut extra,
                "rows_fetched_per_second",
                rates.rate("tup_fetched", page.sum("pg_stat_database_tup_fetched")),
            );
            put(
                &mut extra,
                "rows_written_per_second",
                rates.rate(
                    "tup_written",
                    [
                        "pg_stat_database_tup_inserted",
                        "pg_stat_database_tup_updated",
                        "pg_stat_database_tup_deleted",
                    ]
                    .iter()
                    .map(|n| page.sum(n))
                    .sum::<Option<f64>>(),
                ),
            );
            put(
                &mut extra,
                "deadlocks",
                page.sum("pg_stat_database_deadlocks"),
            );
            put(
                &mut extra,
                "is_replica",
                page.max("pg_replication_is_replica"),
            );
        }
        Engine::Mysql | Engine::Mariadb => {
            doc.connections = page.max("mysql_global_status_threads_connected");
            doc.qps = rates.rate("queries", page.max("mysql_global_status_queries"));
            doc.replication_lag_seconds = page.max("mysql_slave_status_seconds_behind_master");
            doc.storage_used_bytes = page
                .sum("mysql_info_schema_table_size")
                .or_else(|| page.sum("mysql_info_schema_innodb_tablespace_file_size_bytes"));
            put(
                &mut extra,
                "max_connections",
                page.max("mysql_global_variables_max_connections"),
            );
            put(
                &mut extra,
                "threads_running",
                page.max("mysql_global_status_threads_running"),
            );
            put(
                &mut extra,
                "slow_queries_per_second",
                rates.rate("slow_queries", page.max("mysql_global_status_slow_queries")),
            );
            let total = page.max("mysql_global_status_innodb_buffer_pool_pages_total");
            let free = page.max("mysql_global_status_innodb_buffer_pool_pages_free");
            put(
                &mut extra,
                "buffer_pool_used_ratio",
                ratio(total.zip(free).map(|(t, f)| t - f), total),
            );
            let requests = page.max("mysql_global_status_innodb_buffer_pool_read_requests");
            let reads = page.max("mysql_global_status_innodb_buffer_pool_reads");
            put(
                &mut extra,
                "buffer_pool_hit_ratio",
                ratio(requests.zip(reads).map(|(q, r)| q - r), requests),
            );
        }
        Engine::Mongodb => {
            doc.connections = page.sum_where("mongodb_ss_connections", "conn_type", "current");
            let ops = ["insert", "query", "update", "delete", "getmore", "command"];
            let mut all_ops: Option<f64> = None;
            let mut per_op = serde_json::Map::new();
            for op in ops {
                let n = page
                    .sum_where("mongodb_ss_opcounters", "legacy_op_type", op)
                    .or_else(|| page.sum_where("mongodb_ss_opcounters", "type", op));
                if let Some(n) = n {
                    all_ops = Some(all_ops.unwrap_or(0.0) + n);
                    if let Some(r) = rates.rate(&format!("op_{op}"), Some(n)) {
                        per_op.insert(op.to_string(), Value::from(round(r, 3)));
                    }
                }
            }
            doc.qps = rates.rate("operations", all_ops);
            if !per_op.is_empty() {
                extra.insert("opcounters_per_second".into(), Value::Object(per_op));
            }
            let cpu_ms = page
                .sum("mongodb_sys_cpu_user_ms")
                .zip(page.sum("mongodb_sys_cpu_sys_ms"))
                .map(|(u, s)| (u + s) / 1000.0);
            doc.cpu_cores = rates.between("cpu_seconds", cpu_ms);
            doc.memory_bytes = page
                .max("mongodb_ss_mem_resident")
                .map(|mb| mb * 1024.0 * 1024.0);
            doc.replication_lag_seconds = page.max("mongodb_mongod_replset_member_replication_lag");
            doc.storage_used_bytes = page.sum("mongodb_dbstats_storageSize");
            put(
                &mut extra,
                "connections_available",
                page.sum_where("mongodb_ss_connections", "conn_type", "available"),
            );
            put(
                &mut extra,
                "replset_state",
                page.max("mongodb_mongod_replset_my_state"),
            );
            let members = page.all("mongodb_members_health");
            if !members.is_empty() {
                put(
                    &mut extra,
                    "healthy_members",
                    Some(members.iter().map(|s| s.value).sum()),
                );
                put(&mut extra, "members", Some(members.len() as f64));
            }
        }
        Engine::Redis => {
            doc.connections = page.max("redis_connected_clients");
            doc.qps = page
                .max("redis_instantaneous_ops_per_sec")
                .or_else(|| rates.rate("commands", page.max("redis_commands_processed_total")));
            doc.memory_bytes = page.max("redis_memory_used_bytes");
            let cpu = page
                .sum("redis_cpu_sys_seconds_total")
                .zip(page.sum("redis_cpu_user_seconds_total"))
                .map(|(s, u)| s + u);
            doc.cpu_cores = rates.between("cpu_seconds", cpu);
            let hits = page.max("redis_keyspace_hits_total");
            let misses = page.max("redis_keyspace_misses_total");
            put(&mut extra, "keyspace_hits", hits);
            put(&mut extra, "keyspace_misses", misses);
            put(
                &mut extra,
                "keyspace_hit_ratio",
                ratio(hits, hits.zip(misses).map(|(h, m)| h + m)),
            );
            put(&mut extra, "keys", page.sum("redis_db_keys"));
            put(
                &mut extra,
                "connected_replicas",
                page.max("redis_connected_slaves"),
            );
            put(
                &mut extra,
                "memory_max_bytes",
                page.max("redis_memory_max_bytes"),
            );
        }
        Engine::Elasticsearch => {
            let searches = page.sum("elasticsearch_indices_search_query_total");
            let indexing = page.sum("elasticsearch_indices_indexing_index_total");
            doc.qps = rates.rate(
                "requests",
                searches
                    .zip(indexing)
                    .map(|(s, i)| s + i)
                    .or(searches)
                    .or(indexing),
            );
            doc.memory_bytes = page.sum("elasticsearch_jvm_memory_used_bytes");
            doc.storage_used_bytes = page.sum("elasticsearch_indices_store_size_bytes");
            let health = page
                .all("elasticsearch_cluster_health_status")
                .iter()
                .find(|s| s.value >= 1.0)
                .and_then(|s| s.labels.get("color").cloned());
            if let Some(h) = health {
                extra.insert("cluster_health".into(), Value::from(h));
            }
            put(
                &mut extra,
                "nodes",
                page.max("elasticsearch_cluster_health_number_of_nodes"),
            );
            put(
                &mut extra,
                "active_shards",
                page.max("elasticsearch_cluster_health_active_shards"),
            );
            put(
                &mut extra,
                "documents",
                page.sum("elasticsearch_indices_docs"),
            );
            put(
                &mut extra,
                "search_queries_per_second",
                rates.rate("searches", searches),
            );
            put(
                &mut extra,
                "indexing_per_second",
                rates.rate("indexing", indexing),
            );
        }
    }
    if doc.cpu_cores.is_none() {
        doc.cpu_cores = rates.between("process_cpu_seconds", process_cpu);
    }
    doc.memory_bytes = doc.memory_bytes.or(process_memory);
    doc.storage_used_bytes = doc.storage_used_bytes.or(volume_used);
    for v in [
        &mut doc.cpu_cores,
        &mut doc.qps,
        &mut doc.replication_lag_seconds,
    ] {
        *v = v.map(|x| round(x, 3));
    }
    if let Some(u) = uptime {
        extra.insert("uptime_seconds".into(), Value::from(u.max(0.0).round()));
    }
    doc.engine_specific = extra;
    Reading {
        doc,
        totals: rates.totals,
    }
}

/// The series `GET /{id}/metrics/history` offers: per engine, a fixed PromQL expression over the
/// exporter series of one database (`{S}` stands for its label selector, which only the platform
/// writes). Never built from request text.
pub struct HistoryMetric {
    pub name: &'static str,
    pub unit: &'static str,
    /// PromQL with `{S}` for the selector.
    pub query: &'static str,
}

const fn h(name: &'static str, unit: &'static str, query: &'static str) -> HistoryMetric {
    HistoryMetric { name, unit, query }
}

/// What every engine's exporter publishes about its own process.
const COMMON_HISTORY: &[HistoryMetric] = &[
    h(
        "cpu_cores",
        "cores",
        "sum(rate(process_cpu_seconds_total{S}[5m]))",
    ),
    h(
        "memory_bytes",
        "bytes",
        "sum(process_resident_memory_bytes{S})",
    ),
];

const POSTGRES_HISTORY: &[HistoryMetric] = &[
    h(
        "qps",
        "transactions/s",
        "sum(rate(pg_stat_database_xact_commit{S}[5m])) + sum(rate(pg_stat_database_xact_rollback{S}[5m]))",
    ),
    h("connections", "connections", "sum(pg_stat_database_numbackends{S})"),
    h("storage_used_bytes", "bytes", "sum(pg_database_size_bytes{S})"),
    h("replication_lag_seconds", "seconds", "max(pg_replication_lag{S})"),
    h(
        "cache_hit_ratio",
        "ratio",
        "sum(rate(pg_stat_database_blks_hit{S}[5m])) / (sum(rate(pg_stat_database_blks_hit{S}[5m])) + sum(rate(pg_stat_database_blks_read{S}[5m])))",
    ),
];

const MYSQL_HISTORY: &[HistoryMetric] = &[
    h(
        "qps",
        "queries/s",
        "sum(rate(mysql_global_status_queries{S}[5m]))",
    ),
    h(
        "connections",
        "connections",
        "sum(mysql_global_status_threads_connected{S})",
    ),
    h(
        "replication_lag_seconds",
        "seconds",
        "max(mysql_slave_status_seconds_behind_master{S})",
    ),
    h(
        "slow_queries_per_second",
        "queries/s",
        "sum(rate(mysql_global_status_slow_queries{S}[5m]))",
    ),
    h(
        "buffer_pool_used_ratio",
        "ratio",
        "1 - sum(mysql_global_status_innodb_buffer_pool_pages_free{S}) / sum(mysql_global_status_innodb_buffer_pool_pages_total{S})",
    ),
];

const MONGODB_HISTORY: &[HistoryMetric] = &[
    h(
        "qps",
        "operations/s",
        "sum(rate(mongodb_ss_opcounters{S}[5m]))",
    ),
    h(
        "connections",
        "connections",
        "sum(mongodb_ss_connections{S,conn_type=\"current\"})",
    ),
    h(
        "replication_lag_seconds",
        "seconds",
        "max(mongodb_mongod_replset_member_replication_lag{S})",
    ),
    h(
        "resident_memory_bytes",
        "bytes",
        "sum(mongodb_ss_mem_resident{S}) * 1048576",
    ),
];

const REDIS_HISTORY: &[HistoryMetric] = &[
    h(
        "qps",
        "commands/s",
        "sum(rate(redis_commands_processed_total{S}[5m]))",
    ),
    h("connections", "connections", "sum(redis_connected_clients{S})"),
    h("used_memory_bytes", "bytes", "sum(redis_memory_used_bytes{S})"),
    h(
        "keyspace_hit_ratio",
        "ratio",
        "sum(rate(redis_keyspace_hits_total{S}[5m])) / (sum(rate(redis_keyspace_hits_total{S}[5m])) + sum(rate(redis_keyspace_misses_total{S}[5m])))",
    ),
];

const ELASTICSEARCH_HISTORY: &[HistoryMetric] = &[
    h(
        "qps",
        "requests/s",
        "sum(rate(elasticsearch_indices_search_query_total{S}[5m])) + sum(rate(elasticsearch_indices_indexing_index_total{S}[5m]))",
    ),
    h(
        "storage_used_bytes",
        "bytes",
        "sum(elasticsearch_indices_store_size_bytes{S})",
    ),
    h(
        "jvm_memory_used_bytes",
        "bytes",
        "sum(elasticsearch_jvm_memory_used_bytes{S})",
    ),
    h("documents", "documents", "sum(elasticsearch_indices_docs{S})"),
];

/// The history series an engine offers.
pub fn history_metrics(engine: Engine) -> impl Iterator<Item = &'static HistoryMetric> {
    let own = match engine {
        Engine::Postgres => POSTGRES_HISTORY,
        Engine::Mysql | Engine::Mariadb => MYSQL_HISTORY,
        Engine::Mongodb => MONGODB_HISTORY,
        Engine::Redis => REDIS_HISTORY,
        Engine::Elasticsearch => ELASTICSEARCH_HISTORY,
    };
    own.iter().chain(COMMON_HISTORY)
}

/// One of the history series an engine offers, by name.
pub fn history_metric(engine: Engine, name: &str) -> Option<&'static HistoryMetric> {
    history_metrics(engine).find(|m| m.name == name)
}

impl HistoryMetric {
    /// The PromQL of this series for one database. `database_id` must be a platform-made id (it
    /// goes into the selector as it is).
    pub fn query_for(&self, database_id: &str) -> String {
        let selector = format!("database_id=\"{database_id}\"");
        self.query
            .replace("{S}", &format!("{{{selector}}}"))
            .replace("{S,", &format!("{{{selector},"))
    }
}

/// The PromQL of one history series of one database, or `None` when the engine has no such series.
pub fn history_query(engine: Engine, metric: &str, database_id: &str) -> Option<String> {
    history_metric(engine, metric).map(|m| m.query_for(database_id))
}

/// A duration as Prometheus writes it (`30s`, `5m`, `1h`, `7d`, `2w`), in seconds.
pub fn parse_prom_duration(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(per).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn known(engine: Engine) -> Known {
        Known {
            engine,
            storage_gb: 10,
            ready_replicas: 3,
        }
    }

    #[test]
    fn postgres_reads_connections_transactions_size_and_cache() {
        let t0 = Utc::now();
        let page = |commits: f64| {
            vec![
                Sample::new("pg_stat_database_numbackends", &[("datname", "app")], 7.0),
                Sample::new(
                    "pg_stat_database_numbackends",
                    &[("datname", "postgres")],
                    3.0,
                ),
                Sample::new(
                    "pg_stat_database_xact_commit",
                    &[("datname", "app")],
                    commits,
                ),
                Sample::new("pg_stat_database_blks_hit", &[], 90.0),
                Sample::new("pg_stat_database_blks_read", &[], 10.0),
                Sample::new("pg_database_size_bytes", &[("datname", "app")], 5e6),
                Sample::new("pg_database_size_bytes", &[("datname", "template0")], 8e6),
                Sample::new("pg_replication_lag", &[], 0.25),
            ]
        };
        let first = summarize(known(Engine::Postgres), &page(1000.0), None, t0);
        assert_eq!(first.doc.connections, Some(10.0));
        assert_eq!(first.doc.qps, None, "no earlier reading and no uptime");
        assert_eq!(
            first.doc.storage_used_bytes,
            Some(5e6),
            "templates left out"
        );
        assert_eq!(first.doc.storage_total_bytes, 10.0 * 1024f64.powi(3));
        assert_eq!(first.doc.replication_lag_seconds, Some(0.25));
        assert_eq!(first.doc.ready_replicas, 3);
        assert_eq!(first.doc.engine_specific["cache_hit_ratio"], 0.9);
        let second = summarize(
            known(Engine::Postgres),
            &page(1300.0),
            Some(&first.totals),
            t0 + Duration::seconds(15),
        );
        assert_eq!(second.doc.qps, Some(20.0));
        // A counter that went back (a restart) gives no rate from that pair.
        let third = summarize(
            known(Engine::Postgres),
            &page(5.0),
            Some(&second.totals),
            t0 + Duration::seconds(30),
        );
        assert_eq!(third.doc.qps, None);
    }

    #[test]
    fn uptime_gives_a_first_rate() {
        let s = vec![
            Sample::new("mysql_global_status_uptime", &[], 100.0),
            Sample::new("mysql_global_status_queries", &[], 5000.0),
            Sample::new("mysql_global_status_threads_connected", &[], 4.0),
            Sample::new(
                "mysql_global_status_innodb_buffer_pool_pages_total",
                &[],
                100.0,
            ),
            Sample::new(
                "mysql_global_status_innodb_buffer_pool_pages_free",
                &[],
                25.0,
            ),
        ];
        let r = summarize(known(Engine::Mysql), &s, None, Utc::now());
        assert_eq!(r.doc.qps, Some(50.0));
        assert_eq!(r.doc.connections, Some(4.0));
        assert_eq!(r.doc.engine_specific["buffer_pool_used_ratio"], 0.75);
        assert_eq!(r.doc.engine_specific["uptime_seconds"], 100.0);
    }

    #[test]
    fn mongodb_redis_and_elasticsearch_have_their_own_figures() {
        let m = vec![
            Sample::new("mongodb_ss_connections", &[("conn_type", "current")], 12.0),
            Sample::new(
                "mongodb_ss_connections",
                &[("conn_type", "available")],
                88.0,
            ),
            Sample::new(
                "mongodb_ss_opcounters",
                &[("legacy_op_type", "query")],
                900.0,
            ),
            Sample::new(
                "mongodb_ss_opcounters",
                &[("legacy_op_type", "insert")],
                100.0,
            ),
            Sample::new("mongodb_ss_mem_resident", &[], 2.0),
            Sample::new("mongodb_ss_uptime", &[], 10.0),
            Sample::new("mongodb_sys_cpu_user_ms", &[], 9_000_000.0),
            Sample::new("mongodb_sys_cpu_sys_ms", &[], 1_000_000.0),
            Sample::new("mongodb_mongod_replset_member_replication_lag", &[], 3.0),
        ];
        let r = summarize(known(Engine::Mongodb), &m, None, Utc::now());
        assert_eq!(r.doc.cpu_cores, None, "CPU time needs two readings");
        assert_eq!(r.doc.connections, Some(12.0));
        assert_eq!(r.doc.qps, Some(100.0));
        assert_eq!(r.doc.memory_bytes, Some(2.0 * 1024.0 * 1024.0));
        assert_eq!(r.doc.replication_lag_seconds, Some(3.0));
        assert_eq!(
            r.doc.engine_specific["opcounters_per_second"]["query"],
            90.0
        );

        let rd = vec![
            Sample::new("redis_connected_clients", &[], 5.0),
            Sample::new("redis_instantaneous_ops_per_sec", &[], 321.0),
            Sample::new("redis_keyspace_hits_total", &[], 75.0),
            Sample::new("redis_keyspace_misses_total", &[], 25.0),
            Sample::new("redis_memory_used_bytes", &[], 1e6),
        ];
        let r = summarize(known(Engine::Redis), &rd, None, Utc::now());
        assert_eq!(r.doc.qps, Some(321.0));
        assert_eq!(r.doc.memory_bytes, Some(1e6));
        assert_eq!(r.doc.engine_specific["keyspace_hit_ratio"], 0.75);

        let es = vec![
            Sample::new(
                "elasticsearch_cluster_health_status",
                &[("color", "green")],
                1.0,
            ),
            Sample::new(
                "elasticsearch_cluster_health_status",
                &[("color", "red")],
                0.0,
            ),
            Sample::new("elasticsearch_indices_store_size_bytes", &[], 4e9),
        ];
        let r = summarize(known(Engine::Elasticsearch), &es, None, Utc::now());
        assert_eq!(r.doc.engine_specific["cluster_health"], "green");
        assert_eq!(r.doc.storage_used_bytes, Some(4e9));
        // The document serializes flat: engine-specific keys beside the common ones.
        let v = serde_json::to_value(&r.doc).unwrap();
        assert_eq!(v["cluster_health"], "green");
        assert!(v.get("replication_lag_seconds").is_none());
        assert!(v["connections"].is_null());
    }

    #[test]
    fn history_queries_are_fixed_and_scoped_to_the_database() {
        let q = history_query(Engine::Postgres, "connections", "db-1").unwrap();
        assert_eq!(q, "sum(pg_stat_database_numbackends{database_id=\"db-1\"})");
        let q = history_query(Engine::Mongodb, "connections", "db-2").unwrap();
        assert_eq!(
            q,
            "sum(mongodb_ss_connections{database_id=\"db-2\",conn_type=\"current\"})"
        );
        let q = history_query(Engine::Redis, "cpu_cores", "db-3").unwrap();
        assert!(
            q.contains("process_cpu_seconds_total{database_id=\"db-3\"}[5m]"),
            "{q}"
        );
        assert!(history_query(Engine::Redis, "cache_hit_ratio", "db-3").is_none());
        assert!(history_query(Engine::Postgres, "up{x=\"y\"}", "db-3").is_none());
        for engine in Engine::ALL {
            for m in history_metrics(engine) {
                let q = history_query(engine, m.name, "db-9").unwrap();
                assert!(!q.contains("{S"), "{engine:?} {}: {q}", m.name);
                assert!(q.contains("database_id=\"db-9\""));
            }
        }
    }

    #[test]
    fn prometheus_durations() {
        assert_eq!(parse_prom_duration("90s"), Some(90));
        assert_eq!(parse_prom_duration("1h"), Some(3600));
        assert_eq!(parse_prom_duration("7d"), Some(604_800));
        for bad in ["", "h", "1", "1y", "-1h", "0m", "1.5h"] {
            assert_eq!(parse_prom_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn nothing_on_the_page_is_no_figure_not_zero() {
        let r = summarize(known(Engine::Postgres), &[], None, Utc::now());
        assert_eq!(r.doc.connections, None);
        assert_eq!(r.doc.qps, None);
        assert!(r.doc.engine_specific.is_empty());
    }
}
