-- What replicas tell each other through the store. A provider added, removed or reconfigured on
-- any replica is announced on `dbaas_providers`, so the leader's watchers follow at once wherever
-- the change was made. Health results (written every round) leave `updated_at` alone and announce
-- nothing.
CREATE FUNCTION dbaas_providers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dbaas_providers', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER providers_added_or_removed
    AFTER INSERT OR DELETE ON providers
    FOR EACH ROW EXECUTE FUNCTION dbaas_providers_changed();

CREATE TRIGGER providers_reconfigured
    AFTER UPDATE ON providers
    FOR EACH ROW
    WHEN (OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION dbaas_providers_changed();

-- A lease handed over (its expiry moved earlier: a graceful shutdown) is announced on
-- `dbaas_leases`, so the other replicas campaign at once instead of at their next renewal tick.
CREATE FUNCTION dbaas_lease_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dbaas_leases', NEW.name);
    RETURN NULL;
END;
$$;

CREATE TRIGGER leases_released
    AFTER UPDATE ON leases
    FOR EACH ROW
    WHEN (NEW.expires_at < OLD.expires_at)
    EXECUTE FUNCTION dbaas_lease_released();
