-- Suspended projects, and invitations: adding a member by e-mail grants nothing until the
-- invited account accepts.

ALTER TABLE projects ADD COLUMN is_active BOOLEAN NOT NULL DEFAULT 1;

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY,
    email            TEXT NOT NULL,
    role             TEXT NOT NULL,
    domain           TEXT NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    project          TEXT,
    code_hash        TEXT NOT NULL UNIQUE,
    invited_by       TEXT,
    invited_by_email TEXT,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    decided_at       TEXT,
    accepted_by      TEXT,
    FOREIGN KEY (domain, project) REFERENCES projects (domain, name) ON DELETE CASCADE
);
-- One open invitation per e-mail and exact scope.
CREATE UNIQUE INDEX invitations_pending
    ON invitations (email, domain, coalesce(project, '')) WHERE status = 'pending';
CREATE INDEX invitations_email ON invitations (email, status);
CREATE INDEX invitations_scope ON invitations (domain, project, id);

-- Names of deleted tenants are never handed out again: a newcomer must not inherit their audit
-- trail or deleted database records.
CREATE TABLE retired_tenant_names (
    name       TEXT PRIMARY KEY,
    retired_at TEXT NOT NULL
);

-- A provider dedicated to a tenant that does not exist would go to whoever registers that name
-- first: take such providers out of placement until an admin dedicates them again.
UPDATE providers SET is_active = 0 WHERE domain IS NOT NULL AND domain NOT IN (SELECT name FROM tenants);
