//! Typed objects against the real upstream CRD schemas (`../shared/kubedb-crds`) and the
//! design examples (`../shared/design/kubedb-examples.yaml`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimSpec, ResourceRequirements, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;

#[path = "../../tests/common/schema.rs"]
mod schema;
use schema::{crd_dir, shared_dir, to_json_schema, Schemas};

fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn storage(size: &str) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        storage_class_name: Some("standard".into()),
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".to_string(), q(size))])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn resources(cpu: &str, mem: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), q(cpu)),
            ("memory".to_string(), q(mem)),
        ])),
        limits: Some(BTreeMap::from([("memory".to_string(), q(mem))])),
        ..Default::default()
    }
}

fn pod_template(container: &str) -> PodTemplate {
    let mut pt = PodTemplate::default();
    pt.set_container_resources(container, resources("500m", "1Gi"));
    pt
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some("tenant-a".into()),
        ..Default::default()
    }
}

fn monitor() -> Monitor {
    Monitor {
        agent: Some("prometheus.io/builtin".into()),
        prometheus: Some(PrometheusSpec {
            exporter: Some(ExporterSpec {
                port: Some(names::EXPORTER_PORT),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn status() -> DatabaseStatus {
    DatabaseStatus {
        phase: Some(DatabasePhase::Ready),
        observed_generation: Some(2),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: "2026-07-20T10:00:00Z".into(),
            reason: Some("ReadinessCheckSucceeded".into()),
            observed_generation: Some(2),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("serialise")
}

/// A typed object of every kind, filled with the fields the platform sets.
fn typed_objects() -> Vec<Value> {
    let common = |spec_version: &str| {
        (
            spec_version.to_string(),
            Some(DeletionPolicy::Delete),
            Some(StorageType::Durable),
        )
    };
    let mut out = Vec::new();

    let (version, deletion_policy, storage_type) = common("8.0.17");
    let mut mg = MongoDB::new(
        "orders-mg",
        MongoDBSpec {
            version,
            replicas: Some(3),
            replica_set: Some(MongoReplicaSet {
                name: "rs0".into(),
                ..Default::default()
            }),
            storage_type,
            storage: Some(storage("10Gi")),
            pod_template: Some(pod_template(names::MONGODB.container)),
            monitor: Some(monitor()),
            deletion_policy,
            auth_secret: Some(AuthSecret {
                name: "orders-mg-auth".into(),
                ..Default::default()
            }),
            service_templates: Some(vec![ServiceTemplate {
                alias: "primary".into(),
                spec: Some(ServiceTemplateSpec {
                    type_: Some("LoadBalancer".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            storage_engine: Some("wiredTiger".into()),
            ..Default::default()
        },
    );
    mg.metadata = meta("orders-mg");
    mg.status = Some(status());
    out.push(to_value(&mg));

    let mut sharded = MongoDB::new(
        "events-mg",
        MongoDBSpec {
            version: "8.0.17".into(),
            shard_topology: Some(MongoShardTopology {
                shard: MongoShardNode {
                    shards: 2,
                    replicas: 3,
                    storage: Some(storage("20Gi")),
                    ..Default::default()
                },
                config_server: MongoConfigNode {
                    replicas: 3,
                    storage: Some(storage("2Gi")),
                    ..Default::default()
                },
                mongos: MongoMongosNode {
                    replicas: 2,
                    ..Default::default()
                },
                ..Default::default()
            }),
            deletion_policy: Some(DeletionPolicy::WipeOut),
            ..Default::default()
        },
    );
    sharded.metadata = meta("events-mg");
    out.push(to_value(&sharded));

    let mut pg = Postgres::new(
        "billing-pg",
        PostgresSpec {
            version: "17.9".into(),
            replicas: Some(3),
            standby_mode: Some("Hot".into()),
            streaming_mode: Some("Asynchronous".into()),
            storage_type: Some(StorageType::Durable),
            storage: Some(storage("10Gi")),
            pod_template: Some(pod_template(names::POSTGRES.container)),
            deletion_policy: Some(DeletionPolicy::Halt),
            halted: Some(true),
            configuration: Some(Configuration {
                inline: Some(BTreeMap::from([(
                    "user.conf".to_string(),
                    "max_connections=200\n".to_string(),
                )])),
                ..Default::default()
            }),
            init: Some(InitSpec {
                wait_for_initial_restore: Some(true),
                ..Default::default()
            }),
            monitor: Some(monitor()),
            ..Default::default()
        },
    );
    pg.metadata = meta("billing-pg");
    pg.status = Some(status());
    out.push(to_value(&pg));

    let mut my = MySQL::new(
        "shop-my",
        MySQLSpec {
            version: "8.4.8".into(),
            replicas: Some(3),
            topology: Some(MySqlTopology {
                mode: Some("GroupReplication".into()),
                group: Some(MySqlGroup {
                    mode: Some("Single-Primary".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            storage: Some(storage("10Gi")),
            pod_template: Some(pod_template(names::MYSQL.container)),
            deletion_policy: Some(DeletionPolicy::WipeOut),
            ..Default::default()
        },
    );
    my.metadata = meta("shop-my");
    out.push(to_value(&my));

    let mut md = MariaDB::new(
        "cms-md",
        MariaDBSpec {
            version: "11.8.5".into(),
            replicas: Some(3),
            topology: Some(MariaDbTopology {
                mode: Some("GaleraCluster".into()),
                ..Default::default()
            }),
            storage: Some(storage("10Gi")),
            pod_template: Some(pod_template(names::MARIADB.container)),
            deletion_policy: Some(DeletionPolicy::DoNotTerminate),
            ..Default::default()
        },
    );
    md.metadata = meta("cms-md");
    out.push(to_value(&md));

    let mut rd = Redis::new(
        "cache-rd",
        RedisSpec {
            version: "7.4.6".into(),
            mode: Some("Cluster".into()),
            cluster: Some(RedisClusterSpec {
                shards: Some(3),
                replicas: Some(2),
                ..Default::default()
            }),
            storage: Some(storage("2Gi")),
            pod_template: Some(pod_template(names::REDIS.container)),
            deletion_policy: Some(DeletionPolicy::Delete),
            ..Default::default()
        },
    );
    rd.metadata = meta("cache-rd");
    out.push(to_value(&rd));

    let mut rs = Redis::new(
        "session-rd",
        RedisSpec {
            version: "7.4.6".into(),
            replicas: Some(3),
            mode: Some("Sentinel".into()),
            sentinel_ref: Some(RedisSentinelRef {
                name: "sen".into(),
                namespace: "tenant-a".into(),
                ..Default::default()
            }),
            storage: Some(storage("2Gi")),
            ..Default::default()
        },
    );
    rs.metadata = meta("session-rd");
    out.push(to_value(&rs));

    let mut sen = RedisSentinel::new(
        "sen",
        RedisSentinelSpec {
            version: "7.4.6".into(),
            replicas: Some(3),
            storage: Some(storage("1Gi")),
            ..Default::default()
        },
    );
    sen.metadata = meta("sen");
    out.push(to_value(&sen));

    let node = |n: i32, size: &str| EsNode {
        replicas: Some(n),
        storage: Some(storage(size)),
        ..Default::default()
    };
    let mut es = Elasticsearch::new(
        "logs-es",
        ElasticsearchSpec {
            version: "xpack-9.2.3".into(),
            enable_ssl: Some(true),
            topology: Some(EsTopology {
                master: Some(node(3, "2Gi")),
                ingest: Some(node(2, "2Gi")),
                data: Some(EsNode {
                    pod_template: Some(pod_template(names::ELASTICSEARCH.container)),
                    ..node(3, "50Gi")
                }),
                ..Default::default()
            }),
            deletion_policy: Some(DeletionPolicy::Delete),
            ..Default::default()
        },
    );
    es.metadata = meta("logs-es");
    out.push(to_value(&es));

    let ops_base = |t: &str| (LocalObjectRef { name: "db".into() }, t.to_string());
    let (database_ref, type_) = ops_base(ops::types::HORIZONTAL_SCALING);
    let mut o = MongoDBOpsRequest::new(
        "mg-hs",
        MongoDBOpsRequestSpec {
            database_ref,
            type_,
            horizontal_scaling: Some(HorizontalScalingSpec {
                replicas: Some(5),
                ..Default::default()
            }),
            timeout: Some("10m".into()),
            apply: Some("IfReady".into()),
            ..Default::default()
        },
    );
    o.metadata = meta("mg-hs");
    o.status = Some(OpsRequestStatus {
        phase: Some(OpsPhase::Successful),
        observed_generation: Some(1),
        ..Default::default()
    });
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::VERTICAL_SCALING);
    let mut o = PostgresOpsRequest::new(
        "pg-vs",
        PostgresOpsRequestSpec {
            database_ref,
            type_,
            vertical_scaling: Some(VerticalScalingSpec {
                postgres: Some(ComponentResources {
                    resources: Some(resources("1", "2Gi")),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("pg-vs");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::VOLUME_EXPANSION);
    let mut o = MySQLOpsRequest::new(
        "my-ve",
        MySQLOpsRequestSpec {
            database_ref,
            type_,
            volume_expansion: Some(VolumeExpansionSpec {
                mode: Some("Online".into()),
                mysql: Some(q("20Gi")),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("my-ve");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::UPDATE_VERSION);
    let mut o = MariaDBOpsRequest::new(
        "md-uv",
        MariaDBOpsRequestSpec {
            database_ref,
            type_,
            update_version: Some(UpdateVersionSpec {
                target_version: Some("12.1.2".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("md-uv");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::RECONFIGURE);
    let mut o = RedisOpsRequest::new(
        "rd-rc",
        RedisOpsRequestSpec {
            database_ref,
            type_,
            configuration: Some(ReconfigureSpec {
                apply_config: Some(BTreeMap::from([(
                    "redis.conf".to_string(),
                    "maxclients 3000\n".to_string(),
                )])),
                restart: Some("auto".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("rd-rc");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::HORIZONTAL_SCALING);
    let mut o = ElasticsearchOpsRequest::new(
        "es-hs",
        ElasticsearchOpsRequestSpec {
            database_ref,
            type_,
            horizontal_scaling: Some(HorizontalScalingSpec {
                topology: Some(EsTopologyScale {
                    data: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("es-hs");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::ROTATE_AUTH);
    let mut o = RedisSentinelOpsRequest::new(
        "sen-ra",
        RedisSentinelOpsRequestSpec {
            database_ref,
            type_,
            authentication: Some(AuthenticationSpec {
                secret_ref: Some(SecretRef::secret("new-auth")),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    o.metadata = meta("sen-ra");
    out.push(to_value(&o));

    let (database_ref, type_) = ops_base(ops::types::RESTART);
    let mut o = MongoDBOpsRequest::new(
        "mg-restart",
        MongoDBOpsRequestSpec {
            database_ref,
            type_,
            restart: Some(OpenObject::default()),
            apply: Some("Always".into()),
            ..Default::default()
        },
    );
    o.metadata = meta("mg-restart");
    out.push(to_value(&o));

    let image = |i: &str| ImageRef {
        image: i.into(),
        ..Default::default()
    };
    let psp = PodSecurityPolicies::default();
    let mut v = MongoDBVersion::new(
        "8.0.17",
        MongoDBVersionSpec {
            version: "8.0.17".into(),
            distribution: Some("Official".into()),
            db: image("mongo:8.0.17"),
            exporter: image("exporter"),
            init_container: Some(image("init")),
            replication_mode_detector: Some(image("rmd")),
            pod_security_policies: psp.clone(),
            update_constraints: Some(UpdateConstraints {
                allowlist: Some(vec![">= 8.0.17, < 10.0.0".into()]),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    v.metadata.name = Some("8.0.17".into());
    out.push(to_value(&v));

    let mut v = MySQLVersion::new(
        "8.4.8",
        MySQLVersionSpec {
            version: "8.4.8".into(),
            db: image("mysql:8.4.8"),
            exporter: image("exporter"),
            init_container: Some(image("init")),
            coordinator: Some(image("coord")),
            pod_security_policies: psp.clone(),
            update_constraints: Some(MySqlUpdateConstraints {
                allowlist: Some(MySqlConstraintLists {
                    group_replication: Some(vec![">= 8.4.8".into()]),
                    standalone: Some(vec![">= 8.4.8".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    v.metadata.name = Some("8.4.8".into());
    out.push(to_value(&v));

    let mut v = ElasticsearchVersion::new(
        "opensearch-3.4.0",
        ElasticsearchVersionSpec {
            version: "3.4.0".into(),
            distribution: Some("OpenSearch".into()),
            auth_plugin: Some("OpenSearch".into()),
            db: image("os:3.4.0"),
            exporter: image("exporter"),
            init_container: Some(ImageRef {
                image: "init".into(),
                extra: BTreeMap::from([("yqImage".to_string(), json!("yq"))]),
            }),
            pod_security_policies: psp,
            ..Default::default()
        },
    );
    v.metadata.name = Some("opensearch-3.4.0".into());
    out.push(to_value(&v));
    out
}

#[test]
fn typed_objects_validate_against_upstream_crds() {
    let Some(dir) = crd_dir() else { return };
    let schemas = Schemas::load(&dir);
    let objs = typed_objects();
    assert!(objs.len() >= 20);
    for obj in &objs {
        let errs = schemas.errors(obj);
        assert!(
            errs.is_empty(),
            "{} {} invalid: {errs:#?}",
            obj["kind"],
            obj["metadata"]["name"]
        );
    }
}

#[test]
fn schema_check_catches_bad_objects() {
    let Some(dir) = crd_dir() else { return };
    let schemas = Schemas::load(&dir);
    let bad = json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": { "name": "x", "namespace": "t" },
        "spec": { "version": "17.9", "deletionPolicy": "Sometimes", "replicas": "three" }
    });
    let errs = schemas.errors(&bad);
    assert!(
        errs.iter().any(|e| e.contains("deletionPolicy")),
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.contains("replicas")), "{errs:?}");
    let missing = json!({ "apiVersion": "kubedb.com/v1", "kind": "Redis", "metadata": { "name": "r" }, "spec": {} });
    assert!(
        !schemas.errors(&missing).is_empty(),
        "spec.version is required"
    );
}

fn examples() -> Vec<Value> {
    let path = shared_dir().join("design/kubedb-examples.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("NOTE: {} not found; example checks skipped", path.display());
        return Vec::new();
    };
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

fn round_trip<K: DeserializeOwned + Serialize>(v: &Value) -> Value {
    let typed: K = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", v["kind"], v["metadata"]["name"]));
    serde_json::to_value(&typed).expect("serialise")
}

/// Deserialises a KubeDB example into its typed struct and back; `None` for kinds not modelled here.
fn typed_round_trip(v: &Value) -> Option<Value> {
    let out = match v["kind"].as_str()? {
        "MongoDB" => round_trip::<MongoDB>(v),
        "Postgres" => round_trip::<Postgres>(v),
        "MySQL" => round_trip::<MySQL>(v),
        "MariaDB" => round_trip::<MariaDB>(v),
        "Redis" => round_trip::<Redis>(v),
        "RedisSentinel" => round_trip::<RedisSentinel>(v),
        "Elasticsearch" => round_trip::<Elasticsearch>(v),
        "MongoDBOpsRequest" => round_trip::<MongoDBOpsRequest>(v),
        "PostgresOpsRequest" => round_trip::<PostgresOpsRequest>(v),
        "MySQLOpsRequest" => round_trip::<MySQLOpsRequest>(v),
        "MariaDBOpsRequest" => round_trip::<MariaDBOpsRequest>(v),
        "RedisOpsRequest" => round_trip::<RedisOpsRequest>(v),
        "ElasticsearchOpsRequest" => round_trip::<ElasticsearchOpsRequest>(v),
        "MongoDBVersion" => round_trip::<MongoDBVersion>(v),
        "PostgresVersion" => round_trip::<PostgresVersion>(v),
        "MySQLVersion" => round_trip::<MySQLVersion>(v),
        "MariaDBVersion" => round_trip::<MariaDBVersion>(v),
        "RedisVersion" => round_trip::<RedisVersion>(v),
        "ElasticsearchVersion" => round_trip::<ElasticsearchVersion>(v),
        _ => return None,
    };
    Some(out)
}

#[test]
fn examples_round_trip_without_losing_fields() {
    let docs = examples();
    let mut checked = 0;
    for doc in &docs {
        if let Some(back) = typed_round_trip(doc) {
            assert_eq!(
                &back, doc,
                "{} {} changed in the round trip",
                doc["kind"], doc["metadata"]["name"]
            );
            checked += 1;
        }
    }
    if !docs.is_empty() {
        assert!(checked >= 19, "only {checked} KubeDB examples checked");
    }
}

#[test]
fn examples_and_unknown_fields_survive() {
    // Fields not modelled (here: spec.arbiter internals, spec.someFutureField) are kept.
    let v = json!({
        "apiVersion": "kubedb.com/v1", "kind": "MongoDB",
        "metadata": { "name": "m", "namespace": "t" },
        "spec": {
            "version": "8.0.17", "replicas": 3, "replicaSet": { "name": "rs0", "horizons": { "dns": "x" } },
            "arbiter": { "podTemplate": { "spec": { "nodeSelector": { "a": "b" } } } },
            "someFutureField": { "x": [1, 2] },
            "podTemplate": { "spec": { "containers": [{ "name": "mongodb", "env": [{ "name": "A", "value": "1" }] }], "tolerations": [] } }
        },
        "status": { "phase": "Ready", "conditions": [], "gateway": { "name": "gw" } }
    });
    let mut expected = v.clone();
    // empty lists are not written back
    expected["status"]
        .as_object_mut()
        .map(|s| s.remove("conditions"));
    assert_eq!(typed_round_trip(&v), Some(expected));
}

#[test]
fn examples_validate_against_generated_and_upstream_crds() {
    let docs = examples();
    let generated: BTreeMap<String, jsonschema::Validator> = crds()
        .into_iter()
        .flat_map(|crd| {
            let crd = serde_json::to_value(&crd).expect("crd json");
            let group = crd["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            crd["spec"]["versions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |ver| {
                    let schema = to_json_schema(&ver["schema"]["openAPIV3Schema"]);
                    let key = format!(
                        "{group}/{}/{kind}",
                        ver["name"].as_str().unwrap_or_default()
                    );
                    (
                        key,
                        jsonschema::validator_for(&schema).expect("generated schema compiles"),
                    )
                })
        })
        .collect();
    let generated = Schemas(generated);
    let upstream = crd_dir().map(|d| Schemas::load(&d));
    for doc in docs.iter().filter(|d| typed_round_trip(d).is_some()) {
        let errs = generated.errors(doc);
        assert!(
            errs.is_empty(),
            "generated CRD rejects {} {}: {errs:?}",
            doc["kind"],
            doc["metadata"]["name"]
        );
        if let Some(up) = &upstream {
            let errs = up.errors(doc);
            assert!(
                errs.is_empty(),
                "upstream CRD rejects {} {}: {errs:?}",
                doc["kind"],
                doc["metadata"]["name"]
            );
        }
    }
    for obj in typed_objects() {
        let errs = generated.errors(&obj);
        assert!(
            errs.is_empty(),
            "generated CRD rejects typed {} {}: {errs:?}",
            obj["kind"],
            obj["metadata"]["name"]
        );
    }
}

#[test]
fn generated_crds_carry_names_columns_and_subresources() {
    // The KubeStash kinds are open-schema stand-ins (see `backup::kubestash_crds`).
    let (stash, all): (Vec<_>, Vec<_>) = crds()
        .into_iter()
        .partition(|c| c.spec.group.contains("kubestash"));
    assert_eq!(stash.len(), 7);
    assert_eq!(all.len(), 20);
    for crd in &all {
        let spec = &crd.spec;
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_eq!(name, format!("{}.{}", spec.names.plural, spec.group));
        assert!(
            spec.names
                .short_names
                .as_ref()
                .is_some_and(|s| s.len() == 1),
            "{name} shortNames"
        );
        let cats = spec.names.categories.clone().unwrap_or_default();
        let v = &spec.versions[0];
        let cols: Vec<String> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        match spec.group.as_str() {
            "kubedb.com" => {
                assert_eq!(spec.scope, "Namespaced");
                for c in ["datastore", "kubedb", "all"] {
                    assert!(cats.iter().any(|x| x == c), "{name} lacks category {c}");
                }
                assert!(
                    v.subresources
                        .as_ref()
                        .and_then(|s| s.status.as_ref())
                        .is_some(),
                    "{name} status subresource"
                );
                assert_eq!(cols, ["Version", "Status", "Age"]);
            }
            "ops.kubedb.com" => {
                assert!(
                    v.subresources
                        .as_ref()
                        .and_then(|s| s.status.as_ref())
                        .is_some(),
                    "{name} status subresource"
                );
                assert_eq!(cols, ["Type", "Status", "Age"]);
            }
            "catalog.kubedb.com" => {
                assert_eq!(spec.scope, "Cluster");
                assert!(v.subresources.is_none(), "{name} has no subresources");
            }
            g => panic!("unexpected group {g}"),
        }
    }
    // every engine constant points at a generated CRD
    for e in names::ALL_DB_KINDS {
        assert!(all
            .iter()
            .any(|c| c.spec.names.kind == e.kind && c.spec.names.plural == e.plural));
        assert!(all
            .iter()
            .any(|c| c.spec.names.kind == e.ops_kind && c.spec.names.plural == e.ops_plural));
        assert!(all.iter().any(
            |c| c.spec.names.kind == e.version_kind && c.spec.names.plural == e.version_plural
        ));
    }
    assert_eq!(MongoDB::plural(&()), "mongodbs");
    assert_eq!(names::engine("postgres").map(|e| e.port), Some(5432));
    assert_eq!(names::elasticsearch_user("opensearch-3.4.0"), "admin");
    assert_eq!(names::elasticsearch_user("xpack-9.2.3"), "elastic");
}

#[test]
fn pod_template_helpers_set_and_read_resources() {
    let mut pt = PodTemplate::default();
    assert!(pt.container_resources("mysql").is_none());
    pt.set_container_resources("mysql", resources("1", "2Gi"));
    pt.set_container_resources("mysql", resources("2", "4Gi"));
    assert_eq!(pt.spec.as_ref().map(|s| s.containers.len()), Some(1));
    let r = pt
        .container_resources("mysql")
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("cpu"))
        .cloned();
    assert_eq!(r, Some(q("2")));
    assert_eq!(monitor().exporter_port(), 56790);
    assert_eq!(
        DeletionPolicy::parse("WipeOut"),
        Some(DeletionPolicy::WipeOut)
    );
    assert!(OpsPhase::Skipped.is_terminal() && !OpsPhase::Pending.is_terminal());
    let vs = VerticalScalingSpec {
        replica_set: Some(ComponentResources::default()),
        exporter: Some(ComponentResources::default()),
        ..Default::default()
    };
    let keys: Vec<String> = vs.components().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["replicaSet", "exporter"]);
}
