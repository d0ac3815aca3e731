-- An operation that waits on Kubernetes is parked: still `in_progress`, but no worker holds it
-- (lease cleared) until `run_after` or a wake-up. `waiting_for` says what it waits for; `woken`
-- records a wake-up that arrived while a worker held it, so that its park is cut short.
ALTER TABLE operations ADD COLUMN waiting_for TEXT;
ALTER TABLE operations ADD COLUMN woken BOOLEAN NOT NULL DEFAULT FALSE;
-- Claims count the operations each domain's workers hold (fairness) and find parked ones due.
CREATE INDEX operations_in_progress ON operations (domain, lease_expires_at) WHERE status = 'in_progress';
