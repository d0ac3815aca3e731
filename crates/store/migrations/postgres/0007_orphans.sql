-- KubeDB objects carrying the platform's labels that no record accounts for, as the drift
-- reconciler last found them per provider (reported, never deleted). `first_seen_at` stays while
-- an object stays an orphan; `orphan_checks` says when each provider was last looked at.
CREATE TABLE orphans (
    provider_id    TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    name           TEXT NOT NULL,
    database_id    TEXT,
    domain         TEXT,
    project        TEXT,
    reason         TEXT NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, kind, namespace, name)
);
CREATE TABLE orphan_checks (
    provider_id  TEXT PRIMARY KEY REFERENCES providers(id) ON DELETE CASCADE,
    checked_at   TIMESTAMPTZ NOT NULL
);
