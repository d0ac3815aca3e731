-- Every status a database passes through, recorded by the database itself (triggers), so no code
-- path that moves a status can forget it: the events timeline reads it.
CREATE TABLE database_events (
    seq          BIGSERIAL PRIMARY KEY,
    database_id  TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL
);
CREATE INDEX database_events_by_database ON database_events (database_id, seq);

CREATE FUNCTION record_database_status() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO database_events (database_id, at, from_status, to_status)
        VALUES (NEW.id, NEW.created_at, NULL, NEW.status);
    ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO database_events (database_id, at, from_status, to_status)
        VALUES (NEW.id, NEW.updated_at, OLD.status, NEW.status);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER database_status_events AFTER INSERT OR UPDATE OF status ON databases
FOR EACH ROW EXECUTE FUNCTION record_database_status();
