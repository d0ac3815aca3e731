//! Simulated Prometheus exporters behind `<name>-stats` services: for every database with
//! `spec.monitor` set, `/metrics` in Prometheus text format with the metric families the real
//! exporters publish for that engine. Counters grow with the time since the database was created;
//! gauges wander deterministically (a function of the database name and the clock).
//!
//! Each page also carries the series a real cluster's Prometheus gets from elsewhere for the
//! database's pods: CPU, memory and disk I/O per container as cAdvisor publishes them
//! (`container_*`, labelled `pod` and `container`), volume usage per PVC as the kubelet publishes it
//! (`kubelet_volume_stats_*`, labelled `persistentvolumeclaim`), and the exporter's own `process_*`.
//! Scraped through the stats service they get the database's target labels, so dashboards can
//! select them by `database_id` the same way as the engine's series.

use std::fmt::Write as _;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use provider::kubedb::names::{self, EngineMeta, DB_API_VERSION};
use serde_json::Value;

use provider::kubedb::quantity;

use crate::operator::children::pod_groups;
use crate::proxy::{ProxyBackend, ProxyResponse};
use crate::ClusterState;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the stats services of monitored databases.
pub struct Exporters {
    state: ClusterState,
}

impl Exporters {
    pub fn new(state: ClusterState) -> Self {
        Self { state }
    }

    /// The monitored, running database behind `<name>-stats`, with its engine.
    fn find(&self, namespace: &str, service: &str) -> Option<(&'static EngineMeta, Value)> {
        let db_name = service.strip_suffix("-stats")?;
        names::ALL_DB_KINDS.iter().find_map(|meta| {
            let db = self
                .state
                .get(DB_API_VERSION, meta.plural, Some(namespace), db_name)?;
            let monitored = db["spec"].get("monitor").is_some_and(|m| !m.is_null());
            let halted = db["spec"]["halted"] == true || db["status"]["phase"] == "Halted";
            let deleting = db["metadata"]
                .get("deletionTimestamp")
                .is_some_and(|d| !d.is_null());
            (monitored && !halted && !deleting).then_some((meta, db))
        })
    }

    /// The metrics page of a database at `now` (exposed for tests and benchmarks).
    pub fn render(meta: &EngineMeta, db: &Value, now: DateTime<Utc>) -> String {
        let created = db["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now);
        let age = (now - created).num_milliseconds().max(0) as f64 / 1000.0;
        let key = format!(
            "{}/{}/{}",
            meta.kind,
            db["metadata"]["namespace"].as_str().unwrap_or_default(),
            db["metadata"]["name"].as_str().unwrap_or_default()
        );
        let mut g = Gen {
            out: String::with_capacity(8192),
            seed: fnv(&key),
            age,
            clock: now.timestamp_millis() as f64 / 1000.0,
        };
        let replicas = db_replicas(db);
        let phase = db["status"]["phase"].as_str().unwrap_or_default();
        let up = if matches!(phase, "Ready" | "Critical" | "") {
            1.0
        } else {
            0.0
        };
        match meta.engine {
            "postgres" => postgres(&mut g, up, replicas),
            "mysql" | "mariadb" => mysql(&mut g, up, replicas),
            "mongodb" => mongodb(&mut g, up, replicas),
            "redis" => redis(&mut g, up, replicas),
            "redissentinel" => sentinel(&mut g, up, replicas),
            "elasticsearch" => elasticsearch(&mut g, up, replicas, phase),
            _ => {}
        }
        exporter_process(&mut g, created);
        kubernetes(&mut g, meta, db);
        g.out
    }
}

impl ProxyBackend for Exporters {
    fn proxy(
        &self,
        namespace: &str,
        service: &str,
        port: &str,
        path: &str,
        _query: Option<&str>,
    ) -> Option<ProxyResponse> {
        let (meta, db) = self.find(namespace, service)?;
        let exporter_port = db["spec"]["monitor"]["prometheus"]["exporter"]["port"]
            .as_i64()
            .unwrap_or(names::EXPORTER_PORT as i64);
        let port_ok = port.is_empty()
            || port == names::EXPORTER_PORT_NAME
            || port.parse::<i64>().ok() == Some(exporter_port);
        if !port_ok {
            return None;
        }
        let path = path.trim_start_matches('/');
        if path != "metrics" {
            return Some(ProxyResponse {
                status: 404,
                content_type: "text/plain; charset=utf-8".into(),
                body: Bytes::from_static(b"404 page not found\n"),
            });
        }
        Some(ProxyResponse {
            status: 200,
            content_type: CONTENT_TYPE.into(),
            body: Bytes::from(Self::render(meta, &db, Utc::now())),
        })
    }
}

/// Pods backing the database, for per-member series.
fn db_replicas(db: &Value) -> i64 {
    let spec = &db["spec"];
    if let Some(st) = spec.get("shardTopology").filter(|v| v.is_object()) {
        return st["shard"]["replicas"].as_i64().unwrap_or(1);
    }
    if let Some(c) = spec.get("cluster").filter(|v| v.is_object()) {
        return c["replicas"].as_i64().unwrap_or(2);
    }
    if let Some(t) = spec
        .get("topology")
        .and_then(Value::as_object)
        .filter(|t| t.contains_key("master"))
    {
        return t
            .values()
            .filter_map(|n| n["replicas"].as_i64())
            .sum::<i64>()
            .max(1);
    }
    spec["replicas"].as_i64().unwrap_or(1).max(1)
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

struct Gen {
    out: String,
    seed: u64,
    /// seconds since the database was created
    age: f64,
    /// wall clock seconds, drives the gauges' wandering
    clock: f64,
}

impl Gen {
    /// A per-(database, metric) number in [0, 1).
    fn unit(&self, key: &str) -> f64 {
        (fnv(key) ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) as f64 / u64::MAX as f64
    }

    /// A counter: `rate` (jittered per database) per second of age, from 0 when the database was
    /// created, as a server's counters start with it (so an average since start is believable).
    fn counter(&self, key: &str, rate: f64) -> f64 {
        let r = rate * (0.5 + self.unit(key));
        (r * self.age).floor()
    }

    /// A counter whose rate wanders between half and one and a half times `rate` (jittered per
    /// database) yet never decreases: the integral of `rate * (1 + sin / 2)` over the age.
    fn wavy_counter(&self, key: &str, rate: f64) -> f64 {
        let r = rate * (0.5 + self.unit(key));
        let period = 120.0 + self.unit(&format!("{key}#p")) * 480.0;
        let w = std::f64::consts::TAU / period;
        r * self.age + r * 0.5 * (1.0 - (w * self.age).cos()) / w
    }

    /// A gauge wandering around `mid` by up to `amp`.
    fn gauge(&self, key: &str, mid: f64, amp: f64) -> f64 {
        let phase = self.unit(key) * std::f64::consts::TAU;
        let period = 60.0 + self.unit(&format!("{key}#p")) * 240.0;
        let slow = (self.clock / period * std::f64::consts::TAU + phase).sin();
        let fast = (self.clock / 7.0 + phase * 3.0).sin() * 0.2;
        (mid + amp * (slow * 0.8 + fast)).max(0.0)
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(
                    self.out,
                    "{k}=\"{}\"",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
            self.out.push('}');
        }
        if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.out, " {}", value as i64);
        } else {
            let _ = writeln!(self.out, " {value}");
        }
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn counter_family(&mut self, name: &str, help: &str, labels: &[(&str, &str)], rate: f64) {
        self.family(name, "counter", help);
        let key = format!("{name}{labels:?}");
        let v = self.counter(&key, rate);
        self.sample(name, labels, v);
    }

    fn gauge_family(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        mid: f64,
        amp: f64,
    ) {
        self.family(name, "gauge", help);
        let key = format!("{name}{labels:?}");
        let v = self.gauge(&key, mid, amp).round();
        self.sample(name, labels, v);
    }
}

fn postgres(g: &mut Gen, up: f64, replicas: i64) {
    g.single(
        "pg_up",
        "gauge",
        "Whether the last scrape of metrics from PostgreSQL was able to connect to the server.",
        up,
    );
    let dbs = ["postgres", "app"];
    let counters: [(&str, &str, f64); 10] = [
        (
            "xact_commit",
            "Number of transactions in this database that have been committed",
            40.0,
        ),
        (
            "xact_rollback",
            "Number of transactions in this database that have been rolled back",
            0.4,
        ),
        (
            "blks_read",
            "Number of disk blocks read in this database",
            15.0,
        ),
        (
            "blks_hit",
            "Number of times disk blocks were found already in the buffer cache",
            900.0,
        ),
        (
            "tup_returned",
            "Number of rows returned by queries in this database",
            2000.0,
        ),
        (
            "tup_fetched",
            "Number of rows fetched by queries in this database",
            600.0,
        ),
        (
            "tup_inserted",
            "Number of rows inserted by queries in this database",
            30.0,
        ),
        (
            "tup_updated",
            "Number of rows updated by queries in this database",
            12.0,
        ),
        (
            "tup_deleted",
            "Number of rows deleted by queries in this database",
            3.0,
        ),
        (
            "deadlocks",
            "Number of deadlocks detected in this database",
            0.001,
        ),
    ];
    g.family(
        "pg_stat_database_numbackends",
        "gauge",
        "Number of backends currently connected to this database",
    );
    for (i, d) in dbs.iter().enumerate() {
        let v = g.gauge(&format!("numbackends{d}"), 12.0, 8.0).round();
        g.sample(
            "pg_stat_database_numbackends",
            &[("datid", &(16384 + i).to_string()), ("datname", d)],
            v,
        );
    }
    for (name, help, rate) in counters {
        let full = format!("pg_stat_database_{name}");
        g.family(&full, "counter", help);
        for (i, d) in dbs.iter().enumerate() {
            let v = g.counter(&format!("{full}{d}"), rate);
            g.sample(
                &full,
                &[("datid", &(16384 + i).to_string()), ("datname", d)],
                v,
            );
        }
    }
    g.single(
        "pg_settings_max_connections",
        "gauge",
        "Sets the maximum number of concurrent connections.",
        100.0,
    );
    g.family(
        "pg_database_size_bytes",
        "gauge",
        "Disk space used by the database",
    );
    for d in dbs {
        let base = 8_000_000.0 + g.unit(d) * 50_000_000.0;
        let v = (base + g.age * 2_000.0).floor();
        g.sample("pg_database_size_bytes", &[("datname", d)], v);
    }
    g.single(
        "pg_replication_is_replica",
        "gauge",
        "Indicates if the server is a replica",
        0.0,
    );
    g.family(
        "pg_replication_lag",
        "gauge",
        "Replication lag behind master in seconds",
    );
    let lag = if replicas > 1 {
        g.gauge("lag", 0.3, 0.3)
    } else {
        0.0
    };
    g.sample("pg_replication_lag", &[], (lag * 1000.0).round() / 1000.0);
    g.family(
        "pg_stat_replication_pg_wal_lsn_diff",
        "gauge",
        "Lag in bytes between master and slave",
    );
    for i in 1..replicas {
        let v = g.gauge(&format!("lsn{i}"), 4096.0, 4096.0).round();
        g.sample(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("application_name", &format!("member-{i}"))],
            v,
        );
    }
    g.counter_family(
        "pg_stat_user_indexes_idx_scan",
        "Number of index scans initiated on this index",
        &[("datname", "app")],
        300.0,
    );
}

fn mysql(g: &mut Gen, up: f64, replicas: i64) {
    g.single("mysql_up", "gauge", "Whether the MySQL server is up.", up);
    g.gauge_family(
        "mysql_global_status_threads_connected",
        "Generic metric from SHOW GLOBAL STATUS.",
        &[],
        18.0,
        10.0,
    );
    g.gauge_family(
        "mysql_global_status_threads_running",
        "Generic metric from SHOW GLOBAL STATUS.",
        &[],
        4.0,
        3.0,
    );
    let counters: [(&str, f64); 13] = [
        ("queries", 120.0),
        ("questions", 110.0),
        ("slow_queries", 0.05),
        ("com_select", 80.0),
        ("com_insert", 12.0),
        ("com_update", 8.0),
        ("com_delete", 1.5),
        ("bytes_received", 40_000.0),
        ("bytes_sent", 160_000.0),
        ("innodb_buffer_pool_read_requests", 5_000.0),
        ("innodb_buffer_pool_reads", 25.0),
        ("innodb_data_read", 400_000.0),
        ("innodb_data_written", 250_000.0),
    ];
    for (name, rate) in counters {
        g.counter_family(
            &format!("mysql_global_status_{name}"),
            "Generic metric from SHOW GLOBAL STATUS.",
            &[],
            rate,
        );
    }
    g.family(
        "mysql_global_status_commands_total",
        "counter",
        "Total number of executed MySQL commands.",
    );
    for (cmd, rate) in [
        ("select", 80.0),
        ("insert", 12.0),
        ("update", 8.0),
        ("delete", 1.5),
    ] {
        let v = g.counter(&format!("cmd{cmd}"), rate);
        g.sample("mysql_global_status_commands_total", &[("command", cmd)], v);
    }
    g.family(
        "mysql_global_status_handlers_total",
        "counter",
        "Total number of executed MySQL handlers.",
    );
    for (handler, rate) in [
        ("read_key", 900.0),
        ("read_next", 2_500.0),
        ("read_rnd_next", 400.0),
        ("write", 30.0),
    ] {
        let v = g.counter(&format!("handler{handler}"), rate);
        g.sample(
            "mysql_global_status_handlers_total",
            &[("handler", handler)],
            v,
        );
    }
    g.single(
        "mysql_global_status_innodb_buffer_pool_pages_total",
        "gauge",
        "Generic metric from SHOW GLOBAL STATUS.",
        8192.0,
    );
    g.gauge_family(
        "mysql_global_status_innodb_buffer_pool_pages_free",
        "Generic metric from SHOW GLOBAL STATUS.",
        &[],
        2500.0,
        1500.0,
    );
    g.single(
        "mysql_global_variables_max_connections",
        "gauge",
        "Generic gauge metric from SHOW GLOBAL VARIABLES.",
        151.0,
    );
    g.counter_family(
        "mysql_global_status_uptime",
        "Generic metric from SHOW GLOBAL STATUS.",
        &[],
        1.0,
    );
    if replicas > 1 {
        g.family(
            "mysql_slave_status_slave_io_running",
            "gauge",
            "Generic metric from SHOW SLAVE STATUS.",
        );
        g.sample(
            "mysql_slave_status_slave_io_running",
            &[("channel_name", "")],
            1.0,
        );
        g.family(
            "mysql_slave_status_slave_sql_running",
            "gauge",
            "Generic metric from SHOW SLAVE STATUS.",
        );
        g.sample(
            "mysql_slave_status_slave_sql_running",
            &[("channel_name", "")],
            1.0,
        );
        g.family(
            "mysql_slave_status_seconds_behind_master",
            "gauge",
            "Generic metric from SHOW SLAVE STATUS.",
        );
        let v = g.gauge("sbm", 0.5, 0.5).round();
        g.sample(
            "mysql_slave_status_seconds_behind_master",
            &[("channel_name", "")],
            v,
        );
    }
}

fn mongodb(g: &mut Gen, up: f64, replicas: i64) {
    g.single("mongodb_up", "gauge", "Whether MongoDB is up.", up);
    g.family(
        "mongodb_ss_connections",
        "untyped",
        "serverStatus.connections",
    );
    let cur = g.gauge("conn", 25.0, 15.0).round();
    g.sample("mongodb_ss_connections", &[("conn_type", "current")], cur);
    g.sample(
        "mongodb_ss_connections",
        &[("conn_type", "available")],
        838_860.0 - cur,
    );
    let total = g.counter("conn_total", 0.5) + cur;
    g.sample(
        "mongodb_ss_connections",
        &[("conn_type", "totalCreated")],
        total,
    );
    g.family(
        "mongodb_ss_opcounters",
        "untyped",
        "serverStatus.opcounters",
    );
    for (op, rate) in [
        ("insert", 20.0),
        ("query", 90.0),
        ("update", 15.0),
        ("delete", 2.0),
        ("getmore", 5.0),
        ("command", 60.0),
    ] {
        let v = g.counter(&format!("op{op}"), rate);
        g.sample("mongodb_ss_opcounters", &[("legacy_op_type", op)], v);
    }
    g.counter_family(
        "mongodb_sys_cpu_user_ms",
        "system cpu user time in ms",
        &[],
        350.0,
    );
    g.counter_family(
        "mongodb_sys_cpu_sys_ms",
        "system cpu sys time in ms",
        &[],
        90.0,
    );
    g.gauge_family(
        "mongodb_ss_mem_resident",
        "serverStatus.mem.resident (MB)",
        &[],
        420.0,
        60.0,
    );
    g.gauge_family(
        "mongodb_ss_mem_virtual",
        "serverStatus.mem.virtual (MB)",
        &[],
        2100.0,
        100.0,
    );
    g.single(
        "mongodb_ss_wt_cache_maximum_bytes_configured",
        "untyped",
        "serverStatus.wiredTiger.cache.maximum bytes configured",
        268_435_456.0,
    );
    g.gauge_family(
        "mongodb_ss_wt_cache_bytes_currently_in_the_cache",
        "serverStatus.wiredTiger.cache.bytes currently in the cache",
        &[],
        190_000_000.0,
        40_000_000.0,
    );
    g.counter_family(
        "mongodb_ss_wt_cache_pages_requested_from_the_cache",
        "serverStatus.wiredTiger.cache.pages requested from the cache",
        &[],
        3_000.0,
    );
    g.counter_family(
        "mongodb_ss_wt_cache_pages_read_into_cache",
        "serverStatus.wiredTiger.cache.pages read into cache",
        &[],
        40.0,
    );
    g.counter_family(
        "mongodb_ss_metrics_queryExecutor_scanned",
        "serverStatus.metrics.queryExecutor.scanned",
        &[],
        1_500.0,
    );
    g.counter_family(
        "mongodb_ss_metrics_queryExecutor_scannedObjects",
        "serverStatus.metrics.queryExecutor.scannedObjects",
        &[],
        700.0,
    );
    g.counter_family(
        "mongodb_ss_network_bytesIn",
        "serverStatus.network.bytesIn",
        &[],
        30_000.0,
    );
    g.counter_family(
        "mongodb_ss_network_bytesOut",
        "serverStatus.network.bytesOut",
        &[],
        120_000.0,
    );
    g.counter_family(
        "mongodb_ss_network_numRequests",
        "serverStatus.network.numRequests",
        &[],
        200.0,
    );
    g.counter_family(
        "mongodb_profile_slow_query_count",
        "profile slow query count",
        &[],
        0.02,
    );
    g.single(
        "mongodb_mongod_replset_my_state",
        "gauge",
        "An integer between 0 and 10 that represents the replica state of the current member",
        1.0,
    );
    g.family(
        "mongodb_members_health",
        "gauge",
        "replSetGetStatus.members.health",
    );
    for i in 0..replicas {
        let state = if i == 0 { "PRIMARY" } else { "SECONDARY" };
        g.sample(
            "mongodb_members_health",
            &[
                ("member_idx", &format!("member-{i}")),
                ("member_state", state),
            ],
            up,
        );
    }
    g.family(
        "mongodb_members_optimeDate",
        "gauge",
        "replSetGetStatus.members.optimeDate",
    );
    let now_ms = (g.clock * 1000.0).floor();
    for i in 0..replicas {
        let state = if i == 0 { "PRIMARY" } else { "SECONDARY" };
        let lag = if i == 0 {
            0.0
        } else {
            g.gauge(&format!("opt{i}"), 400.0, 400.0).round()
        };
        g.sample(
            "mongodb_members_optimeDate",
            &[
                ("member_idx", &format!("member-{i}")),
                ("member_state", state),
            ],
            now_ms - lag,
        );
    }
    g.family(
        "mongodb_mongod_replset_member_replication_lag",
        "gauge",
        "The replication lag that this member has with the primary.",
    );
    for i in 1..replicas {
        let v = g.gauge(&format!("lag{i}"), 0.4, 0.4).round();
        g.sample(
            "mongodb_mongod_replset_member_replication_lag",
            &[("name", &format!("member-{i}"))],
            v,
        );
    }
    for (fam, base, growth) in [
        ("dataSize", 20_000_000.0, 3_000.0),
        ("storageSize", 12_000_000.0, 1_800.0),
        ("indexSize", 2_000_000.0, 300.0),
        ("objects", 50_000.0, 5.0),
    ] {
        let name = format!("mongodb_dbstats_{fam}");
        g.family(&name, "untyped", &format!("dbStats.{fam}"));
        for d in ["admin", "app"] {
            let b = if d == "admin" { base / 100.0 } else { base };
            let v = (b * (0.5 + g.unit(&format!("{fam}{d}"))) + growth * g.age).floor();
            g.sample(&name, &[("database", d)], v);
        }
    }
    for (fam, v_admin, v_app) in [("collections", 3.0, 12.0), ("indexes", 4.0, 20.0)] {
        let name = format!("mongodb_dbstats_{fam}");
        g.family(&name, "untyped", &format!("dbStats.{fam}"));
        g.sample(&name, &[("database", "admin")], v_admin);
        g.sample(&name, &[("database", "app")], v_app);
    }
}

fn redis(g: &mut Gen, up: f64, replicas: i64) {
    g.single(
        "redis_up",
        "gauge",
        "Information about the Redis instance",
        up,
    );
    g.counter_family(
        "redis_uptime_in_seconds",
        "uptime_in_seconds metric",
        &[],
        1.0,
    );
    g.gauge_family(
        "redis_connected_clients",
        "connected_clients metric",
        &[],
        30.0,
        20.0,
    );
    g.gauge_family(
        "redis_memory_used_bytes",
        "memory_used_bytes metric",
        &[],
        60_000_000.0,
        15_000_000.0,
    );
    g.single(
        "redis_memory_max_bytes",
        "gauge",
        "memory_max_bytes metric",
        536_870_912.0,
    );
    g.counter_family(
        "redis_commands_processed_total",
        "commands_processed_total metric",
        &[],
        900.0,
    );
    g.counter_family(
        "redis_connections_received_total",
        "connections_received_total metric",
        &[],
        0.8,
    );
    g.counter_family(
        "redis_keyspace_hits_total",
        "keyspace_hits_total metric",
        &[],
        700.0,
    );
    g.counter_family(
        "redis_keyspace_misses_total",
        "keyspace_misses_total metric",
        &[],
        60.0,
    );
    g.counter_family(
        "redis_net_input_bytes_total",
        "net_input_bytes_total metric",
        &[],
        50_000.0,
    );
    g.counter_family(
        "redis_net_output_bytes_total",
        "net_output_bytes_total metric",
        &[],
        200_000.0,
    );
    g.counter_family(
        "redis_expired_keys_total",
        "expired_keys_total metric",
        &[],
        3.0,
    );
    g.gauge_family(
        "redis_instantaneous_ops_per_sec",
        "instantaneous_ops_per_sec metric",
        &[],
        900.0,
        400.0,
    );
    g.gauge_family(
        "redis_db_keys",
        "Total number of keys by DB",
        &[("db", "db0")],
        120_000.0,
        20_000.0,
    );
    g.single(
        "redis_connected_slaves",
        "gauge",
        "connected_slaves metric",
        (replicas - 1).max(0) as f64,
    );
    g.single(
        "redis_config_maxclients",
        "gauge",
        "config_maxclients metric",
        10_000.0,
    );
    for (name, rate) in [
        ("redis_cpu_sys_seconds_total", 0.015),
        ("redis_cpu_user_seconds_total", 0.04),
    ] {
        g.family(name, "counter", &format!("{} metric", &name[6..]));
        let v = (g.wavy_counter(name, rate) * 1000.0).round() / 1000.0;
        g.sample(name, &[], v);
    }
    g.gauge_family("redis_slowlog_length", "Total slowlog", &[], 4.0, 4.0);
    g.counter_family("redis_slowlog_last_id", "Last id of slowlog", &[], 0.01);
    g.family(
        "redis_connected_slave_lag_seconds",
        "gauge",
        "Lag of connected slave",
    );
    for i in 1..replicas {
        let v = g.gauge(&format!("slave_lag{i}"), 0.5, 0.5).round();
        g.sample(
            "redis_connected_slave_lag_seconds",
            &[
                ("slave_ip", &format!("10.244.0.{}", 10 + i)),
                ("slave_port", "6379"),
                ("slave_state", "online"),
            ],
            v,
        );
    }
    g.family(
        "redis_connected_slave_offset_bytes",
        "gauge",
        "Offset of connected slave",
    );
    let master_offset = g.counter("repl_offset", 40_000.0);
    for i in 1..replicas {
        let behind = g.gauge(&format!("slave_off{i}"), 2_000.0, 2_000.0).round();
        g.sample(
            "redis_connected_slave_offset_bytes",
            &[
                ("slave_ip", &format!("10.244.0.{}", 10 + i)),
                ("slave_port", "6379"),
                ("slave_state", "online"),
            ],
            (master_offset - behind).max(0.0),
        );
    }
}

fn sentinel(g: &mut Gen, up: f64, replicas: i64) {
    g.single(
        "redis_up",
        "gauge",
        "Information about the Redis instance",
        up,
    );
    g.single(
        "redis_sentinel_masters",
        "gauge",
        "The number of masters this sentinel is watching",
        1.0,
    );
    g.family(
        "redis_sentinel_master_ok_sentinels",
        "gauge",
        "The number of okay sentinels monitoring this master",
    );
    g.sample(
        "redis_sentinel_master_ok_sentinels",
        &[("master_name", "mymaster")],
        replicas as f64,
    );
    g.counter_family(
        "redis_commands_processed_total",
        "commands_processed_total metric",
        &[],
        20.0,
    );
}

fn elasticsearch(g: &mut Gen, up: f64, nodes: i64, phase: &str) {
    g.single(
        "elasticsearch_cluster_health_up",
        "gauge",
        "Was the last scrape of the Elasticsearch cluster health endpoint successful.",
        up,
    );
    g.family(
        "elasticsearch_cluster_health_status",
        "gauge",
        "Whether all primary and replica shards are allocated.",
    );
    let color = match phase {
        "Critical" => "yellow",
        "NotReady" => "red",
        _ => "green",
    };
    for c in ["green", "yellow", "red"] {
        g.sample(
            "elasticsearch_cluster_health_status",
            &[("color", c), ("cluster", "es")],
            if c == color { 1.0 } else { 0.0 },
        );
    }
    g.single(
        "elasticsearch_cluster_health_number_of_nodes",
        "gauge",
        "Number of nodes in the cluster.",
        nodes as f64,
    );
    g.single(
        "elasticsearch_cluster_health_number_of_data_nodes",
        "gauge",
        "Number of data nodes in the cluster.",
        nodes as f64,
    );
    g.single(
        "elasticsearch_cluster_health_active_shards",
        "gauge",
        "The number of primary and replica shards.",
        (nodes * 10) as f64,
    );
    g.single(
        "elasticsearch_cluster_health_active_primary_shards",
        "gauge",
        "The number of primary shards.",
        10.0,
    );
    g.counter_family(
        "elasticsearch_indices_search_query_total",
        "Total number of queries",
        &[],
        250.0,
    );
    g.counter_family(
        "elasticsearch_indices_search_query_time_seconds",
        "Total search query time in seconds",
        &[],
        2.5,
    );
    g.counter_family(
        "elasticsearch_indices_indexing_index_total",
        "Total index calls",
        &[],
        400.0,
    );
    g.counter_family(
        "elasticsearch_indices_indexing_index_time_seconds_total",
        "Cumulative index time in seconds",
        &[],
        1.2,
    );
    g.family(
        "elasticsearch_jvm_memory_used_bytes",
        "gauge",
        "JVM memory currently used by area",
    );
    let heap = g.gauge("heap", 700_000_000.0, 200_000_000.0).round();
    g.sample(
        "elasticsearch_jvm_memory_used_bytes",
        &[("area", "heap")],
        heap,
    );
    g.sample(
        "elasticsearch_jvm_memory_used_bytes",
        &[("area", "non-heap")],
        150_000_000.0,
    );
    g.family(
        "elasticsearch_jvm_memory_max_bytes",
        "gauge",
        "JVM memory max",
    );
    g.sample(
        "elasticsearch_jvm_memory_max_bytes",
        &[("area", "heap")],
        1_073_741_824.0,
    );
    g.gauge_family(
        "elasticsearch_http_current_open",
        "http current open",
        &[("cluster", "es")],
        14.0,
        8.0,
    );
    let docs = (1_000_000.0 * (0.5 + g.unit("docs")) + 40.0 * g.age).floor();
    g.single(
        "elasticsearch_indices_docs",
        "gauge",
        "Count of documents on this node",
        docs,
    );
    let store = (docs * 900.0).floor();
    g.single(
        "elasticsearch_indices_store_size_bytes",
        "gauge",
        "Current size of stored index data in bytes",
        store,
    );
    g.single(
        "elasticsearch_filesystem_data_available_bytes",
        "gauge",
        "Available space on block device in bytes",
        (50_000_000_000.0 - store).max(0.0),
    );
}

/// What the exporter process itself publishes (the Go and Python client libraries' `process_*`).
fn exporter_process(g: &mut Gen, created: DateTime<Utc>) {
    g.family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
    );
    let cpu = (g.counter("process_cpu", 0.002) * 100.0).round() / 100.0;
    g.sample("process_cpu_seconds_total", &[], cpu);
    g.gauge_family(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        &[],
        22_000_000.0,
        3_000_000.0,
    );
    g.single(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        created.timestamp() as f64,
    );
    g.gauge_family(
        "process_open_fds",
        "Number of open file descriptors.",
        &[],
        12.0,
        3.0,
    );
    g.single(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        1_048_576.0,
    );
}

/// One pod of the database with its containers and volume, as KubeDB names them.
struct SimPod {
    name: String,
    pvc: Option<(String, f64)>,
    memory_limit: Option<f64>,
}

fn sim_pods(meta: &EngineMeta, db: &Value) -> Vec<SimPod> {
    let name = db["metadata"]["name"].as_str().unwrap_or_default();
    let quantity = |v: &Value| v.as_str().and_then(quantity::parse_quantity);
    let mut out = Vec::new();
    for group in pod_groups(meta, name, &db["spec"]) {
        let capacity = group
            .storage
            .as_ref()
            .and_then(|s| quantity(&s["resources"]["requests"]["storage"]))
            .unwrap_or(1_073_741_824.0);
        let memory_limit = group
            .pod_template
            .as_ref()
            .and_then(|pt| pt["spec"]["containers"].as_array())
            .and_then(|cs| cs.iter().find(|c| c["name"] == meta.container))
            .and_then(|c| quantity(&c["resources"]["limits"]["memory"]));
        for i in 0..group.replicas.max(0) {
            let pod = format!("{}-{i}", group.petset);
            out.push(SimPod {
                pvc: group
                    .storage
                    .is_some()
                    .then(|| (format!("{}-{pod}", meta.pvc_prefix), capacity)),
                name: pod,
                memory_limit,
            });
        }
    }
    out
}

/// The database's pods as cAdvisor (`container_*`) and the kubelet (`kubelet_volume_stats_*`) see
/// them. A real cluster's Prometheus scrapes those from every node, not from the exporter; the
/// simulated cluster has no nodes to scrape, so its exporters publish them: per container CPU
/// time and disk reads/writes that grow at a wandering rate, a working set that wanders below the
/// memory limit, and volumes that fill quickly at first and then ever more slowly (below 70 %).
fn kubernetes(g: &mut Gen, meta: &EngineMeta, db: &Value) {
    let pods = sim_pods(meta, db);
    let mut containers: Vec<(&str, f64, f64)> = vec![(meta.container, 0.12, 1.0)];
    if let Some(c) = meta.coordinator_container {
        containers.push((c, 0.006, 0.06));
    }
    containers.push((names::EXPORTER_CONTAINER, 0.003, 0.04));
    g.family(
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    );
    for p in &pods {
        for (c, cores, _) in &containers {
            let v = g.wavy_counter(&format!("cpu{}{c}", p.name), *cores);
            let v = (v * 1000.0).round() / 1000.0;
            g.sample(
                "container_cpu_usage_seconds_total",
                &[("container", c), ("pod", &p.name)],
                v,
            );
        }
    }
    g.family(
        "container_memory_working_set_bytes",
        "gauge",
        "Current working set in bytes.",
    );
    for p in &pods {
        for (c, _, share) in &containers {
            let base = p.memory_limit.unwrap_or(1_073_741_824.0) * 0.45 * share;
            let v = g
                .gauge(&format!("mem{}{c}", p.name), base, base * 0.25)
                .round();
            g.sample(
                "container_memory_working_set_bytes",
                &[("container", c), ("pod", &p.name)],
                v,
            );
        }
    }
    g.family(
        "container_spec_memory_limit_bytes",
        "gauge",
        "Memory limit for the container.",
    );
    for p in &pods {
        g.sample(
            "container_spec_memory_limit_bytes",
            &[("container", meta.container), ("pod", &p.name)],
            p.memory_limit.unwrap_or(0.0),
        );
    }
    for (family, help, rate) in [
        (
            "container_fs_reads_bytes_total",
            "Cumulative count of bytes read",
            60_000.0,
        ),
        (
            "container_fs_writes_bytes_total",
            "Cumulative count of bytes written",
            180_000.0,
        ),
    ] {
        g.family(family, "counter", help);
        for p in &pods {
            let v = g.wavy_counter(&format!("{family}{}", p.name), rate).floor();
            g.sample(
                family,
                &[
                    ("container", meta.container),
                    ("device", "/dev/vdb"),
                    ("pod", &p.name),
                ],
                v,
            );
        }
    }
    let volumes: Vec<(&str, f64, f64)> = pods
        .iter()
        .filter_map(|p| {
            let (pvc, capacity) = p.pvc.as_ref()?;
            // a share of the volume that starts at 10–20 % and tends to 65 % over weeks
            let start = 0.10 + 0.10 * g.unit(&format!("vol{}", p.name));
            let filled = 1.0 - (-g.age / (14.0 * 86_400.0)).exp();
            let used = (capacity * (start + (0.65 - start) * filled)).floor();
            Some((pvc.as_str(), *capacity, used))
        })
        .collect();
    for (family, help) in [
        (
            "kubelet_volume_stats_capacity_bytes",
            "Capacity in bytes of the volume",
        ),
        (
            "kubelet_volume_stats_used_bytes",
            "Number of used bytes in the volume",
        ),
        (
            "kubelet_volume_stats_available_bytes",
            "Number of available bytes in the volume",
        ),
    ] {
        g.family(family, "gauge", help);
        for (pvc, capacity, used) in &volumes {
            let v = match family {
                "kubelet_volume_stats_capacity_bytes" => *capacity,
                "kubelet_volume_stats_used_bytes" => *used,
                _ => capacity - used,
            };
            g.sample(family, &[("persistentvolumeclaim", pvc)], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn db(kind: &str, name: &str) -> Value {
        json!({
            "apiVersion": "kubedb.com/v1", "kind": kind,
            "metadata": { "name": name, "namespace": "t", "creationTimestamp": "2026-01-01T00:00:00Z" },
            "spec": { "version": "x", "replicas": 3, "monitor": { "agent": "prometheus.io/builtin" } },
            "status": { "phase": "Ready" },
        })
    }

    fn value_of(text: &str, series: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("series {series} missing"))
    }

    #[test]
    fn every_engine_publishes_its_families() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time");
        let cases = [
            (names::POSTGRES, "pg_stat_database_xact_commit"),
            (names::MYSQL, "mysql_global_status_queries"),
            (names::MARIADB, "mysql_global_status_threads_connected"),
            (names::MONGODB, "mongodb_ss_opcounters"),
            (names::REDIS, "redis_commands_processed_total"),
            (
                names::ELASTICSEARCH,
                "elasticsearch_indices_search_query_total",
            ),
            (names::REDIS_SENTINEL, "redis_sentinel_masters"),
        ];
        for (meta, family) in cases {
            let text = Exporters::render(&meta, &db(meta.kind, "a"), now);
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{} lacks {family}",
                meta.kind
            );
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let v = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
                assert!(v.is_some_and(f64::is_finite), "bad sample line {line:?}");
            }
        }
    }

    #[test]
    fn pods_carry_cadvisor_kubelet_and_process_series() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time");
        let mut d = db("Postgres", "pg");
        d["spec"]["storage"] = json!({ "resources": { "requests": { "storage": "10Gi" } } });
        d["spec"]["podTemplate"] = json!({ "spec": { "containers": [
            { "name": "postgres", "resources": { "limits": { "memory": "2Gi" } } } ] } });
        let a = Exporters::render(&names::POSTGRES, &d, t0);
        let b = Exporters::render(&names::POSTGRES, &d, t0 + Duration::seconds(30));
        for pod in ["pg-0", "pg-1", "pg-2"] {
            let cpu = format!(
                "container_cpu_usage_seconds_total{{container=\"postgres\",pod=\"{pod}\"}}"
            );
            assert!(value_of(&b, &cpu) > value_of(&a, &cpu), "{cpu} grows");
            let used =
                format!("kubelet_volume_stats_used_bytes{{persistentvolumeclaim=\"data-{pod}\"}}");
            let capacity = format!(
                "kubelet_volume_stats_capacity_bytes{{persistentvolumeclaim=\"data-{pod}\"}}"
            );
            assert_eq!(value_of(&a, &capacity), 10.0 * 1_073_741_824.0);
            assert!(value_of(&b, &used) > value_of(&a, &used), "{used} grows");
            assert!(value_of(&a, &used) < 0.7 * value_of(&a, &capacity));
            let mem = format!(
                "container_memory_working_set_bytes{{container=\"postgres\",pod=\"{pod}\"}}"
            );
            assert!(value_of(&a, &mem) > 0.0 && value_of(&a, &mem) < 2.0 * 1_073_741_824.0);
            let writes = format!(
                "container_fs_writes_bytes_total{{container=\"postgres\",device=\"/dev/vdb\",pod=\"{pod}\"}}"
            );
            assert!(value_of(&b, &writes) > value_of(&a, &writes));
        }
        assert!(a.contains("# TYPE process_cpu_seconds_total counter"));
        // MongoDB volumes are KubeDB's `datadir-<pod>`
        let mut mg = db("MongoDB", "mg");
        mg["spec"]["storage"] = json!({ "resources": { "requests": { "storage": "1Gi" } } });
        let m = Exporters::render(&names::MONGODB, &mg, t0);
        assert!(m.contains("persistentvolumeclaim=\"datadir-mg-0\""), "{m}");
        // a long-lived database's volumes level off below 70 %
        let late = Exporters::render(&names::POSTGRES, &d, t0 + Duration::days(365));
        let used = "kubelet_volume_stats_used_bytes{persistentvolumeclaim=\"data-pg-0\"}";
        assert!(value_of(&late, used) < 0.7 * 10.0 * 1_073_741_824.0);
    }

    #[test]
    fn counters_grow_and_gauges_move_deterministically() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("time");
        let d = db("Postgres", "pg");
        let a = Exporters::render(&names::POSTGRES, &d, t0);
        let b = Exporters::render(&names::POSTGRES, &d, t0 + Duration::seconds(30));
        let series = "pg_stat_database_xact_commit{datid=\"16384\",datname=\"postgres\"}";
        assert!(value_of(&b, series) > value_of(&a, series));
        assert_eq!(
            a,
            Exporters::render(&names::POSTGRES, &d, t0),
            "same input, same page"
        );
        let other = Exporters::render(&names::POSTGRES, &db("Postgres", "other"), t0);
        assert_ne!(value_of(&a, series), value_of(&other, series));
        let gauges: Vec<f64> = (0..20)
            .map(|i| {
                value_of(
                    &Exporters::render(
                        &names::REDIS,
                        &db("Redis", "r"),
                        t0 + Duration::seconds(i * 20),
                    ),
                    "redis_connected_clients",
                )
            })
            .collect();
        assert!(
            gauges.iter().any(|g| *g != gauges[0]),
            "gauge never moved: {gauges:?}"
        );
    }
}
