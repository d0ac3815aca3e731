-- Where backups go: S3-compatible storage per provider ('provider:<id>') or a tenant's own
-- ('tenant:<domain>'). The secret access key is sealed with the platform key before it gets here.
CREATE TABLE backup_storages (
    scope          TEXT PRIMARY KEY,
    endpoint       TEXT NOT NULL,
    bucket         TEXT NOT NULL,
    prefix         TEXT NOT NULL,
    region         TEXT NOT NULL,
    access_key_id  TEXT NOT NULL,
    secret_sealed  TEXT NOT NULL,
    insecure_tls   BOOLEAN NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    updated_by     TEXT
);
-- Each database's backups: the KubeStash Snapshots of its repository, as last seen in its cluster.
-- The id is derived from (database, snapshot), so seeing a Snapshot again updates its row.
CREATE TABLE backups (
    id                TEXT PRIMARY KEY,
    database_id       TEXT NOT NULL,
    domain            TEXT NOT NULL,
    project           TEXT NOT NULL,
    provider_id       TEXT NOT NULL,
    snapshot_name     TEXT NOT NULL,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    snapshot_time     TEXT,
    size_bytes        INTEGER,
    duration_seconds  REAL,
    integrity         BOOLEAN,
    repository        TEXT NOT NULL,
    expires_at        TEXT,
    error             TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX backups_database ON backups (database_id, created_at, id);
CREATE INDEX backups_provider ON backups (provider_id);
CREATE INDEX backups_project ON backups (domain, project, status);
