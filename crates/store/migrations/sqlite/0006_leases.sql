-- Platform-wide leases: one row per lease (e.g. "leader"). `term` grows by one whenever the holder
-- changes; it is the fencing token of what the holder does while it leads.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    term        BIGINT NOT NULL,
    expires_at  TEXT NOT NULL
);
