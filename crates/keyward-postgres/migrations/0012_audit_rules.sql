-- Audit levels per action (keyward_core::audit_level), numbered as SQLite's migration 0012:
-- the workspace's ordered rules `{pattern, level}` as a JSON array, and `aggregate` as a
-- level of `verification_audit` too.
ALTER TABLE workspace_settings ADD COLUMN audit_rules TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workspace_settings DROP CONSTRAINT workspace_settings_verification_audit_check;
ALTER TABLE workspace_settings ADD CONSTRAINT workspace_settings_verification_audit_check
    CHECK (verification_audit IN ('all', 'failures', 'aggregate', 'none'));
