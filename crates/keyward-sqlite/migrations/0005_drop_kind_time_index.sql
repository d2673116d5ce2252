-- Retention's delete (kind, seq <= cut, time < before) is served by audit_events_kind
-- (workspace_id, kind, seq) as well; this index only cost every audit event one more B-tree
-- insert.
DROP INDEX IF EXISTS audit_events_kind_time;
