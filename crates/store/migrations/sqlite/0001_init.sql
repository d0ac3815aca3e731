-- kubedb-dbaas schema, SQLite flavour. Timestamps are RFC 3339 TEXT (sorts chronologically),
-- JSON documents are TEXT, booleans are INTEGER 0/1.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    full_name     TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_active     BOOLEAN NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_login_at TEXT
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

CREATE TABLE tenants (
    name           TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    plan           TEXT NOT NULL,
    contact_email  TEXT,
    q_cpu          REAL NOT NULL,
    q_memory       REAL NOT NULL,
    q_storage      REAL NOT NULL,
    q_databases    BIGINT NOT NULL,
    q_backups      BIGINT NOT NULL,
    metadata       TEXT NOT NULL,
    is_active      BOOLEAN NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE projects (
    domain        TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    description   TEXT,
    q_cpu         REAL NOT NULL,
    q_memory      REAL NOT NULL,
    q_storage     REAL NOT NULL,
    q_databases   BIGINT NOT NULL,
    q_backups     BIGINT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (domain, name)
);

CREATE TABLE bindings (
    id       INTEGER PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    domain   TEXT REFERENCES tenants (name) ON DELETE CASCADE,
    project  TEXT,
    FOREIGN KEY (domain, project) REFERENCES projects (domain, name) ON DELETE CASCADE
);
-- One role per user per exact scope (platform, a domain, or a project of a domain).
CREATE UNIQUE INDEX bindings_scope ON bindings (user_id, coalesce(domain, ''), coalesce(project, ''));
CREATE INDEX bindings_by_scope ON bindings (domain, project);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT,
    prefix       TEXT NOT NULL UNIQUE,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    revoked_at  TEXT,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE providers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    region              TEXT NOT NULL,
    availability_zone   TEXT,
    cloud_provider      TEXT,
    domain              TEXT,
    cpu_total           REAL NOT NULL,
    memory_total        REAL NOT NULL,
    storage_total       REAL NOT NULL,
    cpu_pct             REAL NOT NULL,
    memory_pct          REAL NOT NULL,
    storage_pct         REAL NOT NULL,
    alloc_cpu           REAL NOT NULL DEFAULT 0,
    alloc_memory        REAL NOT NULL DEFAULT 0,
    alloc_storage       REAL NOT NULL DEFAULT 0,
    alloc_databases     BIGINT NOT NULL DEFAULT 0,
    alloc_backups       BIGINT NOT NULL DEFAULT 0,
    verify_ssl          BOOLEAN NOT NULL,
    enable_loadbalancer BOOLEAN NOT NULL,
    is_active           BOOLEAN NOT NULL,
    is_maintenance      BOOLEAN NOT NULL,
    priority            INTEGER NOT NULL,
    tags                TEXT NOT NULL,
    metadata            TEXT NOT NULL,
    kubedb              TEXT NOT NULL,
    connection          TEXT NOT NULL,
    -- AEAD ciphertext ("v1:…"); never selected by get/list.
    kubeconfig_enc      TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX providers_order ON providers (priority DESC, name);

CREATE TABLE databases (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    domain                TEXT NOT NULL,
    project               TEXT NOT NULL,
    engine                TEXT NOT NULL,
    version               TEXT NOT NULL,
    size                  TEXT NOT NULL,
    storage_gb            BIGINT NOT NULL,
    replicas              BIGINT NOT NULL,
    ready_replicas        BIGINT NOT NULL,
    status                TEXT NOT NULL,
    health_status         TEXT,
    kubedb_phase          TEXT,
    backup_enabled        BOOLEAN NOT NULL,
    backup_schedule       TEXT NOT NULL,
    backup_retention_days BIGINT NOT NULL,
    high_availability     BOOLEAN NOT NULL,
    monitoring_enabled    BOOLEAN NOT NULL,
    deletion_protection   BOOLEAN NOT NULL,
    endpoint              TEXT,
    port                  BIGINT,
    service_type          TEXT,
    loadbalancer_ip       TEXT,
    labels                TEXT NOT NULL,
    annotations           TEXT NOT NULL,
    provider_id           TEXT,
    namespace             TEXT,
    kubedb_resource_name  TEXT,
    current_state         TEXT NOT NULL,
    upgrade_policy        TEXT,
    conditions            TEXT NOT NULL,
    res_cpu               REAL NOT NULL,
    res_memory            REAL NOT NULL,
    res_storage           REAL NOT NULL,
    res_databases         BIGINT NOT NULL,
    res_backups           BIGINT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
-- One live database per name in a project; deleted ones free the name.
CREATE UNIQUE INDEX databases_live_name ON databases (domain, project, name) WHERE status <> 'deleted';
-- Covering index for quota sums: usage reads never touch the table.
CREATE INDEX databases_usage
    ON databases (domain, project, status, res_cpu, res_memory, res_storage, res_databases, res_backups);
CREATE INDEX databases_listing ON databases (domain, project, id);
CREATE INDEX databases_provider ON databases (provider_id);

CREATE TABLE operations (
    id                      TEXT PRIMARY KEY,
    database_id             TEXT NOT NULL,
    op_type                 TEXT NOT NULL,
    status                  TEXT NOT NULL,
    progress                INTEGER NOT NULL,
    message                 TEXT,
    desired_state           TEXT NOT NULL,
    ops_request_name        TEXT,
    ops_request_phase       TEXT,
    error_message           TEXT,
    retry_count             INTEGER NOT NULL,
    max_retries             INTEGER NOT NULL,
    created_by              TEXT,
    domain                  TEXT NOT NULL,
    project                 TEXT NOT NULL,
    lease_owner             TEXT,
    lease_expires_at        TEXT,
    run_after               TEXT NOT NULL,
    created_at              TEXT NOT NULL,
    started_at              TEXT,
    completed_at            TEXT,
    estimated_completion_at TEXT
);
CREATE INDEX operations_claim ON operations (status, run_after);
CREATE INDEX operations_database ON operations (database_id, id);
CREATE INDEX operations_scope ON operations (domain, project, id);

CREATE TABLE audit_logs (
    id             TEXT PRIMARY KEY,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT,
    domain         TEXT,
    project        TEXT,
    user_id        TEXT,
    user_email     TEXT,
    ip_address     TEXT,
    user_agent     TEXT,
    request_method TEXT,
    request_path   TEXT,
    status         TEXT NOT NULL,
    status_code    INTEGER,
    details        TEXT NOT NULL,
    timestamp      TEXT NOT NULL
);
CREATE INDEX audit_logs_time ON audit_logs (timestamp, id);
CREATE INDEX audit_logs_scope ON audit_logs (domain, project, timestamp);
CREATE INDEX audit_logs_domain ON audit_logs (domain, timestamp);
CREATE INDEX audit_logs_action ON audit_logs (action, timestamp);
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id);
CREATE INDEX audit_logs_user ON audit_logs (user_id, timestamp);
