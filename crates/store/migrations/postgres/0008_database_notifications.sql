-- Every committed change of database records is announced on the channel `dbaas_databases`, so
-- that each replica's cached database reads are retired by writes made anywhere – by another
-- replica, by hand – not only by its own. PostgreSQL delivers a notification only when its
-- transaction commits and folds duplicates within one transaction; a statement that changed no
-- row (a compare-and-set that lost) announces nothing.
CREATE FUNCTION dbaas_databases_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dbaas_databases', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER databases_changed
    AFTER INSERT OR UPDATE OR DELETE ON databases
    FOR EACH ROW EXECUTE FUNCTION dbaas_databases_changed();
