-- Every status a database passes through, recorded by the database itself (triggers), so no code
-- path that moves a status can forget it: the events timeline reads it.
CREATE TABLE database_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    database_id  TEXT NOT NULL,
    at           TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL
);
CREATE INDEX database_events_by_database ON database_events (database_id, seq);

CREATE TRIGGER database_status_created AFTER INSERT ON databases
BEGIN
    INSERT INTO database_events (database_id, at, from_status, to_status)
    VALUES (NEW.id, NEW.created_at, NULL, NEW.status);
END;

CREATE TRIGGER database_status_moved AFTER UPDATE OF status ON databases
WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO database_events (database_id, at, from_status, to_status)
    VALUES (NEW.id, NEW.updated_at, OLD.status, NEW.status);
END;
