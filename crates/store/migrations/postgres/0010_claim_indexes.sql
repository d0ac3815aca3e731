-- Claims walk these instead of every queued or parked operation (see CLAIM_QUERIES):
-- per domain, the unheld operations in the order they fall due;
CREATE INDEX operations_due ON operations (domain, run_after, id)
    WHERE lease_owner IS NULL AND status IN ('queued', 'in_progress');
-- and the held ones in the order their leases run out.
CREATE INDEX operations_lease_expiry ON operations (lease_expires_at)
    WHERE status = 'in_progress' AND lease_owner IS NOT NULL;
