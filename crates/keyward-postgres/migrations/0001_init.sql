-- keyward's PostgreSQL schema: workspaces, root keys, keys with their restrictions, the
-- per-workspace audit chain, settings, usage, policies. Migrations are append-only: change the
-- schema in a new numbered file, never here.
-- Values are stored as keyward-sqlite stores them (keyward_storage::stored): times BIGINT unix
-- milliseconds (UTC), permissions and allowlists JSON arrays as text, metadata a JSON object as
-- text, key hashes 32 bytes; an event's fields exactly as hashed, so a chain copied from SQLite
-- verifies here. Ids sort bytewise (COLLATE "C"): they are time-ordered, and listing and
-- cursors compare them.

CREATE TABLE workspaces (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name        TEXT   NOT NULL,
    prefix      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE root_keys (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    name          TEXT   NOT NULL,
    hash          BYTEA  NOT NULL UNIQUE CHECK (length(hash) = 32),
    start         TEXT   NOT NULL,
    permissions   TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE INDEX root_keys_workspace ON root_keys (workspace_id, id);

CREATE TABLE keys (
    id                               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    workspace_id                     TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    name                             TEXT    NOT NULL,
    description                      TEXT,
    owner_id                         TEXT COLLATE "C",
    hash                             BYTEA   NOT NULL UNIQUE CHECK (length(hash) = 32),
    start                            TEXT    NOT NULL,
    permissions                      TEXT    NOT NULL,
    enabled                          BOOLEAN NOT NULL,
    expires_at                       BIGINT,
    metadata                         TEXT    NOT NULL,
    created_at                       BIGINT  NOT NULL,
    updated_at                       BIGINT  NOT NULL,
    revoked_at                       BIGINT,
    revoked_reason                   TEXT,
    replaced_by                      TEXT COLLATE "C",
    ip_allowlist                     TEXT    NOT NULL DEFAULT '[]',
    origin_allowlist                 TEXT    NOT NULL DEFAULT '[]',
    -- NULL credits_remaining: no credit limit. Refill resets to the amount at boundaries
    -- anchored at credits_refilled_at.
    credits_remaining                BIGINT CHECK (credits_remaining >= 0),
    credits_refill_amount            BIGINT CHECK (credits_refill_amount > 0),
    credits_refill_interval_seconds  BIGINT CHECK (credits_refill_interval_seconds > 0),
    credits_refilled_at              BIGINT,
    -- The counters live in memory or Redis, never here.
    rate_limit                       BIGINT CHECK (rate_limit > 0),
    rate_limit_window_seconds        BIGINT CHECK (rate_limit_window_seconds > 0)
);

-- A live key (neither revoked nor replaced) holds its name, case-insensitively, within its
-- workspace. The store maps a violation of this index to StoreError::NameTaken by its name.
CREATE UNIQUE INDEX keys_live_name ON keys (workspace_id, lower(name))
    WHERE revoked_at IS NULL AND replaced_by IS NULL;

-- Listing is newest first (ids are time-ordered), optionally for one owner.
CREATE INDEX keys_workspace ON keys (workspace_id, id);
CREATE INDEX keys_owner ON keys (workspace_id, owner_id, id);

CREATE TABLE audit_events (
    workspace_id  TEXT COLLATE "C" NOT NULL,
    seq           BIGINT NOT NULL,
    id            TEXT   NOT NULL CHECK (id <> ''),
    time          BIGINT NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    key_id        TEXT COLLATE "C",
    key_name      TEXT,
    action        TEXT,
    resource      TEXT,
    outcome       TEXT   NOT NULL,
    ip            TEXT,
    origin        TEXT,
    user_agent    TEXT,
    detail        TEXT,
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);

-- Audit queries filter one workspace by one of these and read newest first; retention deletes
-- one kind up to a seq.
CREATE INDEX audit_events_key ON audit_events (workspace_id, key_id, seq);
CREATE INDEX audit_events_kind ON audit_events (workspace_id, kind, seq);
CREATE INDEX audit_events_action ON audit_events (workspace_id, action, seq);
CREATE INDEX audit_events_time ON audit_events (workspace_id, time);

-- The last event of each workspace's chain, written in the same transaction as the event, so a
-- deleted tail is detectable. Appending locks the workspace's row (FOR UPDATE) before reading
-- it: the lock that keeps one gap-free chain when several nodes append at once.
CREATE TABLE audit_heads (
    workspace_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    seq           BIGINT NOT NULL,
    hash          TEXT   NOT NULL
);

-- A workspace without a row here uses the defaults: every verification recorded, 90 days kept.
CREATE TABLE workspace_settings (
    workspace_id          TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES workspaces (id),
    verification_audit    TEXT   NOT NULL CHECK (verification_audit IN ('all', 'failures', 'none')),
    audit_retention_days  BIGINT NOT NULL CHECK (audit_retention_days > 0)
);

-- Written in the background from in-memory counters.
CREATE TABLE key_usage (
    key_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    workspace_id   TEXT COLLATE "C" NOT NULL,
    last_used_at   BIGINT,
    verifications  BIGINT NOT NULL DEFAULT 0
);

-- One row per workspace that has set a policy; no row means the default (no limits).
CREATE TABLE workspace_policies (
    workspace_id              TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES workspaces (id),
    max_key_lifetime_seconds  BIGINT CHECK (max_key_lifetime_seconds > 0),
    updated_at                BIGINT NOT NULL
);

-- How far the database has taken in an audit journal (keyward_storage::IngestTarget), for a
-- single node that journals its verifications locally; keyward serve group-commits them
-- straight into this database instead, and leaves this row alone.
CREATE TABLE audit_journal (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    lsn         BIGINT  NOT NULL CHECK (lsn >= 0),
    journal_id  TEXT
);
INSERT INTO audit_journal (id, lsn, journal_id) VALUES (1, 0, NULL);
