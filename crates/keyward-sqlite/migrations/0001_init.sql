-- keyward's first SQLite schema: workspaces, root keys, keys and the per-workspace audit chain.
-- Migrations are append-only: change the schema in a new numbered file, never here.
-- Times are INTEGER unix milliseconds (UTC); permissions and metadata are JSON text.

CREATE TABLE workspaces (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    prefix      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE root_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    workspace_id  TEXT    NOT NULL REFERENCES workspaces (id),
    name          TEXT    NOT NULL,
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    start         TEXT    NOT NULL,
    permissions   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);

CREATE INDEX root_keys_workspace ON root_keys (workspace_id, id);

CREATE TABLE keys (
    id              TEXT    NOT NULL PRIMARY KEY,
    workspace_id    TEXT    NOT NULL REFERENCES workspaces (id),
    name            TEXT    NOT NULL,
    description     TEXT,
    owner_id        TEXT,
    hash            BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    start           TEXT    NOT NULL,
    permissions     TEXT    NOT NULL,
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    expires_at      INTEGER,
    metadata        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_reason  TEXT,
    replaced_by     TEXT
);

-- A live key (neither revoked nor replaced) holds its name, case-insensitively, within its
-- workspace. The store maps a violation of this index to StoreError::NameTaken by its name.
CREATE UNIQUE INDEX keys_live_name ON keys (workspace_id, name COLLATE NOCASE)
    WHERE revoked_at IS NULL AND replaced_by IS NULL;

-- Listing is newest first (ids are time-ordered), optionally for one owner.
CREATE INDEX keys_workspace ON keys (workspace_id, id);
CREATE INDEX keys_owner ON keys (workspace_id, owner_id, id);

CREATE TABLE audit_events (
    workspace_id  TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    id            TEXT    NOT NULL UNIQUE,
    time          INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    actor_id      TEXT,
    actor_name    TEXT,
    key_id        TEXT,
    key_name      TEXT,
    action        TEXT,
    resource      TEXT,
    outcome       TEXT    NOT NULL,
    ip            TEXT,
    origin        TEXT,
    user_agent    TEXT,
    detail        TEXT,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);

-- Audit queries filter one workspace by one of these and read newest first.
CREATE INDEX audit_events_key ON audit_events (workspace_id, key_id, seq);
CREATE INDEX audit_events_kind ON audit_events (workspace_id, kind, seq);
CREATE INDEX audit_events_action ON audit_events (workspace_id, action, seq);
CREATE INDEX audit_events_time ON audit_events (workspace_id, time);

-- The last event of each workspace's chain, written in the same transaction as the event, so a
-- deleted tail is detectable.
CREATE TABLE audit_heads (
    workspace_id  TEXT    NOT NULL PRIMARY KEY,
    seq           INTEGER NOT NULL,
    hash          TEXT    NOT NULL
);
