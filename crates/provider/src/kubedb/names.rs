//! Names and numbers KubeDB uses, per engine (kubedb-api §1, §2.3, §2.6, §4).
//! Engines are named by the strings `mongodb|postgres|mysql|mariadb|redis|elasticsearch`
//! (plus `redissentinel` for the sentinel kind).

pub const DB_GROUP: &str = "kubedb.com";
pub const DB_VERSION: &str = "v1";
pub const DB_API_VERSION: &str = "kubedb.com/v1";
pub const OPS_GROUP: &str = "ops.kubedb.com";
pub const OPS_VERSION: &str = "v1alpha1";
pub const OPS_API_VERSION: &str = "ops.kubedb.com/v1alpha1";
pub const CATALOG_GROUP: &str = "catalog.kubedb.com";
pub const CATALOG_VERSION: &str = "v1alpha1";
pub const CATALOG_API_VERSION: &str = "catalog.kubedb.com/v1alpha1";
pub const APPBINDING_API_VERSION: &str = "appcatalog.appscode.com/v1alpha1";
pub const APPBINDING_PLURAL: &str = "appbindings";

/// Finalizer KubeDB puts on database objects.
pub const FINALIZER: &str = "kubedb.com";
/// Default exporter (stats) port.
pub const EXPORTER_PORT: i32 = 56790;
pub const EXPORTER_PORT_NAME: &str = "metrics";
pub const EXPORTER_CONTAINER: &str = "exporter";

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_ROLE: &str = "kubedb.com/role";
pub const MANAGED_BY: &str = "kubedb.com";
pub const ANNOTATION_AUTH_ACTIVE_FROM: &str = "kubedb.com/auth-active-from";

/// Everything the platform needs to address one engine's kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineMeta {
    /// `mongodb|postgres|mysql|mariadb|redis|elasticsearch|redissentinel`
    pub engine: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub short_name: &'static str,
    pub ops_kind: &'static str,
    pub ops_plural: &'static str,
    pub version_kind: &'static str,
    pub version_plural: &'static str,
    /// the port of the primary service
    pub port: i32,
    pub port_name: &'static str,
    /// user of the generated auth secret (Elasticsearch: `elastic`, OpenSearch-like: `admin`)
    pub default_user: &'static str,
    /// the database container in `podTemplate.spec.containers`
    pub container: &'static str,
    pub coordinator_container: Option<&'static str>,
    /// PVC name prefix (`<prefix>-<pod>`)
    pub pvc_prefix: &'static str,
}

impl EngineMeta {
    /// `<plural>.kubedb.com`, the `app.kubernetes.io/name` label value.
    pub fn resource_label(&self) -> String {
        format!("{}.{}", self.plural, DB_GROUP)
    }
}

pub const MONGODB: EngineMeta = EngineMeta {
    engine: "mongodb",
    kind: "MongoDB",
    plural: "mongodbs",
    short_name: "mg",
    ops_kind: "MongoDBOpsRequest",
    ops_plural: "mongodbopsrequests",
    version_kind: "MongoDBVersion",
    version_plural: "mongodbversions",
    port: 27017,
    port_name: "primary",
    default_user: "root",
    container: "mongodb",
    coordinator_container: Some("replication-mode-detector"),
    pvc_prefix: "datadir",
};

pub const POSTGRES: EngineMeta = EngineMeta {
    engine: "postgres",
    kind: "Postgres",
    plural: "postgreses",
    short_name: "pg",
    ops_kind: "PostgresOpsRequest",
    ops_plural: "postgresopsrequests",
    version_kind: "PostgresVersion",
    version_plural: "postgresversions",
    port: 5432,
    port_name: "primary",
    default_user: "postgres",
    container: "postgres",
    coordinator_container: Some("pg-coordinator"),
    pvc_prefix: "data",
};

pub const MYSQL: EngineMeta = EngineMeta {
    engine: "mysql",
    kind: "MySQL",
    plural: "mysqls",
    short_name: "my",
    ops_kind: "MySQLOpsRequest",
    ops_plural: "mysqlopsrequests",
    version_kind: "MySQLVersion",
    version_plural: "mysqlversions",
    port: 3306,
    port_name: "primary",
    default_user: "root",
    container: "mysql",
    coordinator_container: Some("mysql-coordinator"),
    pvc_prefix: "data",
};

pub const MARIADB: EngineMeta = EngineMeta {
    engine: "mariadb",
    kind: "MariaDB",
    plural: "mariadbs",
    short_name: "md",
    ops_kind: "MariaDBOpsRequest",
    ops_plural: "mariadbopsrequests",
    version_kind: "MariaDBVersion",
    version_plural: "mariadbversions",
    port: 3306,
    port_name: "primary",
    default_user: "root",
    container: "mariadb",
    coordinator_container: Some("md-coordinator"),
    pvc_prefix: "data",
};

pub const REDIS: EngineMeta = EngineMeta {
    engine: "redis",
    kind: "Redis",
    plural: "redises",
    short_name: "rd",
    ops_kind: "RedisOpsRequest",
    ops_plural: "redisopsrequests",
    version_kind: "RedisVersion",
    version_plural: "redisversions",
    port: 6379,
    port_name: "primary",
    default_user: "default",
    container: "redis",
    coordinator_container: Some("rd-coordinator"),
    pvc_prefix: "data",
};

pub const ELASTICSEARCH: EngineMeta = EngineMeta {
    engine: "elasticsearch",
    kind: "Elasticsearch",
    plural: "elasticsearches",
    short_name: "es",
    ops_kind: "ElasticsearchOpsRequest",
    ops_plural: "elasticsearchopsrequests",
    version_kind: "ElasticsearchVersion",
    version_plural: "elasticsearchversions",
    port: 9200,
    port_name: "http",
    default_user: "elastic",
    container: "elasticsearch",
    coordinator_container: None,
    pvc_prefix: "data",
};

pub const REDIS_SENTINEL: EngineMeta = EngineMeta {
    engine: "redissentinel",
    kind: "RedisSentinel",
    plural: "redissentinels",
    short_name: "rds",
    ops_kind: "RedisSentinelOpsRequest",
    ops_plural: "redissentinelopsrequests",
    version_kind: "RedisVersion",
    version_plural: "redisversions",
    port: 26379,
    port_name: "primary",
    default_user: "default",
    container: "redissentinel",
    coordinator_container: None,
    pvc_prefix: "data",
};

/// The six engines the platform offers.
pub const ENGINES: [EngineMeta; 6] = [MONGODB, POSTGRES, MYSQL, MARIADB, REDIS, ELASTICSEARCH];
/// Every database kind the simulator serves (the six plus RedisSentinel).
pub const ALL_DB_KINDS: [EngineMeta; 7] = [
    MONGODB,
    POSTGRES,
    MYSQL,
    MARIADB,
    REDIS,
    ELASTICSEARCH,
    REDIS_SENTINEL,
];

/// By engine string (`mongodb`, ..., `redissentinel`).
pub fn engine(name: &str) -> Option<&'static EngineMeta> {
    ALL_DB_KINDS.iter().find(|e| e.engine == name)
}

/// By database kind (`MongoDB`, ...).
pub fn by_kind(kind: &str) -> Option<&'static EngineMeta> {
    ALL_DB_KINDS.iter().find(|e| e.kind == kind)
}

/// By database plural (`mongodbs`, ...).
pub fn by_plural(plural: &str) -> Option<&'static EngineMeta> {
    ALL_DB_KINDS.iter().find(|e| e.plural == plural)
}

/// By OpsRequest kind or plural.
pub fn by_ops(kind_or_plural: &str) -> Option<&'static EngineMeta> {
    ALL_DB_KINDS
        .iter()
        .find(|e| e.ops_kind == kind_or_plural || e.ops_plural == kind_or_plural)
}

/// Admin user of an Elasticsearch version: OpenSearch-like distributions use `admin`.
pub fn elasticsearch_user(version_name: &str) -> &'static str {
    let v = version_name.to_ascii_lowercase();
    if v.starts_with("opensearch") || v.starts_with("opendistro") || v.starts_with("searchguard") {
        "admin"
    } else {
        "elastic"
    }
}

/// `<name>-auth`.
pub fn auth_secret_name(db: &str) -> String {
    format!("{db}-auth")
}

/// The Service KubeDB puts in front of a monitored database's exporter.
pub fn stats_service(db: &str) -> String {
    format!("{db}-stats")
}
