-- The audit filters the dashboard and the API offer that combine two fields, or rest on a
-- field no index led with, read every event of the workspace (or of the key) and kept the
-- matching ones. Each index here ends in seq, so a filter's newest-first page, and paging
-- back with before_seq, is a seek and a walk of one index range whatever the table's size.
-- key and action: "which key deleted the invoices", one key's events of one action.
CREATE INDEX audit_events_key_action ON audit_events (workspace_id, key_id, action, seq);
-- outcome alone, or with a time range: the failures of a workspace.
CREATE INDEX audit_events_outcome ON audit_events (workspace_id, outcome, seq);
