-- Audit pages are read newest first (ORDER BY timestamp DESC, id DESC), filtered or not. Indexes
-- that end in (timestamp, id) serve that order directly; ending in timestamp alone left a sort of
-- every entry sharing a timestamp, and on scoped listings a sort of the whole scope.
DROP INDEX audit_logs_scope;
CREATE INDEX audit_logs_scope ON audit_logs (domain, project, timestamp, id);
DROP INDEX audit_logs_domain;
CREATE INDEX audit_logs_domain ON audit_logs (domain, timestamp, id);
DROP INDEX audit_logs_action;
CREATE INDEX audit_logs_action ON audit_logs (action, timestamp, id);
DROP INDEX audit_logs_resource;
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id, timestamp, id);
DROP INDEX audit_logs_user;
CREATE INDEX audit_logs_user ON audit_logs (user_id, timestamp, id);
