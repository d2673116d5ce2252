-- Audit settings per workspace, usage facts per key, and retention checkpoints.

-- A workspace without a row here uses the defaults: every verification recorded, 90 days kept.
CREATE TABLE workspace_settings (
    workspace_id          TEXT    NOT NULL PRIMARY KEY REFERENCES workspaces (id),
    verification_audit    TEXT    NOT NULL CHECK (verification_audit IN ('all', 'failures', 'none')),
    audit_retention_days  INTEGER NOT NULL CHECK (audit_retention_days > 0)
);

-- Written in the background from in-memory counters; absolute values.
CREATE TABLE key_usage (
    key_id         TEXT    NOT NULL PRIMARY KEY,
    workspace_id   TEXT    NOT NULL,
    last_used_at   INTEGER,
    verifications  INTEGER NOT NULL DEFAULT 0
);

-- Where retention last cut each workspace's chain (see keyward_core::audit::Checkpoint).
CREATE TABLE audit_checkpoints (
    workspace_id  TEXT    NOT NULL PRIMARY KEY,
    seq           INTEGER NOT NULL,
    hash          TEXT    NOT NULL,
    retained      INTEGER NOT NULL
);

-- Retention deletes one kind of event by age.
CREATE INDEX audit_events_kind_time ON audit_events (workspace_id, kind, time);
