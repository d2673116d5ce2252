-- Audit levels per action (keyward_core::audit_level): the workspace's ordered rules
-- `{pattern, level}` as a JSON array, and `aggregate` as a level of `verification_audit` too.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (it holds one
-- row per workspace that changed its settings).
CREATE TABLE workspace_settings_new (
    workspace_id          TEXT    NOT NULL PRIMARY KEY REFERENCES workspaces (id),
    verification_audit    TEXT    NOT NULL
        CHECK (verification_audit IN ('all', 'failures', 'aggregate', 'none')),
    audit_retention_days  INTEGER NOT NULL CHECK (audit_retention_days > 0),
    audit_rules           TEXT    NOT NULL DEFAULT '[]'
);
INSERT INTO workspace_settings_new (workspace_id, verification_audit, audit_retention_days)
    SELECT workspace_id, verification_audit, audit_retention_days FROM workspace_settings;
DROP TABLE workspace_settings;
ALTER TABLE workspace_settings_new RENAME TO workspace_settings;
