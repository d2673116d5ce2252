-- A leaner audit_events row. Taking verification events in was about a quarter of the
-- server's CPU under load, most of it SQLite writing an ~830-byte row and its index entries
-- with the same texts (workspace, kind, key, actor, outcome) in every row and index. Those
-- texts are now interned in audit_names and referenced by integer. (The action stays
-- inline: it is free text from the calling service, and names are never deleted, so
-- interning it would keep what retention deletes.) The hashes are 32 bytes instead of 64 hex
-- characters, the event id has no index of its own (nothing looks an event up by id), and the
-- table is WITHOUT ROWID, so each row lives in its (workspace, seq) key once instead of also
-- under a hidden rowid. Measured with scripts/ingest-row-cost.py.

-- Every name an event has referred to, exactly as it was then: a key renamed later keeps its
-- old name in its old events. Rows are only ever added.
CREATE TABLE audit_names (
    id     INTEGER NOT NULL PRIMARY KEY,
    value  TEXT    NOT NULL UNIQUE
);

INSERT INTO audit_names (value)
    SELECT workspace_id FROM audit_events
    UNION SELECT kind FROM audit_events
    UNION SELECT actor_id FROM audit_events WHERE actor_id IS NOT NULL
    UNION SELECT actor_name FROM audit_events WHERE actor_name IS NOT NULL
    UNION SELECT key_id FROM audit_events WHERE key_id IS NOT NULL
    UNION SELECT key_name FROM audit_events WHERE key_name IS NOT NULL
    UNION SELECT outcome FROM audit_events;

-- workspace_id, kind, actor_id, actor_name, key_id, key_name and outcome hold audit_names
-- ids. They are not declared as foreign keys: that would be seven more lookups for every
-- event inserted, for names the store itself adds.
CREATE TABLE audit_events_lean (
    workspace_id  INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    id            TEXT    NOT NULL CHECK (id <> ''),
    time          INTEGER NOT NULL,
    kind          INTEGER NOT NULL,
    actor_id      INTEGER,
    actor_name    INTEGER,
    key_id        INTEGER,
    key_name      INTEGER,
    action        TEXT,
    resource      TEXT,
    outcome       INTEGER NOT NULL,
    ip            TEXT,
    origin        TEXT,
    user_agent    TEXT,
    detail        TEXT,
    prev_hash     BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash          BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (workspace_id, seq)
) WITHOUT ROWID;

-- A stored hash that is not 64 lowercase hex digits can only be the result of tampering. It
-- becomes 32 0xFF bytes, which match no hash and are not the genesis hash, so verification
-- still fails at that event instead of the upgrade stopping (or a tampered first prev_hash
-- turning into the genesis hash). An empty event id, likewise only from tampering, becomes
-- 'ev_missing' (the table refuses empty ids).
INSERT INTO audit_events_lean
SELECT
    (SELECT id FROM audit_names WHERE value = e.workspace_id),
    e.seq,
    CASE WHEN e.id <> '' THEN e.id ELSE 'ev_missing' END,
    e.time,
    (SELECT id FROM audit_names WHERE value = e.kind),
    (SELECT id FROM audit_names WHERE value = e.actor_id),
    (SELECT id FROM audit_names WHERE value = e.actor_name),
    (SELECT id FROM audit_names WHERE value = e.key_id),
    (SELECT id FROM audit_names WHERE value = e.key_name),
    e.action,
    e.resource,
    (SELECT id FROM audit_names WHERE value = e.outcome),
    e.ip,
    e.origin,
    e.user_agent,
    e.detail,
    CASE WHEN length(e.prev_hash) = 64 AND lower(hex(unhex(e.prev_hash))) = e.prev_hash
        THEN unhex(e.prev_hash)
        ELSE X'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF' END,
    CASE WHEN length(e.hash) = 64 AND lower(hex(unhex(e.hash))) = e.hash
        THEN unhex(e.hash)
        ELSE X'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF' END
FROM audit_events AS e;

DROP TABLE audit_events;
ALTER TABLE audit_events_lean RENAME TO audit_events;

-- Audit queries filter one workspace by one of these and read newest first, naming the index
-- (INDEXED BY: without statistics SQLite would walk this table's primary key instead);
-- retention seeks the time index.
CREATE INDEX audit_events_key ON audit_events (workspace_id, key_id, seq);
CREATE INDEX audit_events_kind ON audit_events (workspace_id, kind, seq);
CREATE INDEX audit_events_action ON audit_events (workspace_id, action, seq);
CREATE INDEX audit_events_time ON audit_events (workspace_id, time);
