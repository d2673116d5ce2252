-- Safety advice (keyward_core::advice): convenience data derived from keys and their use,
-- never read by verification. Times are unix milliseconds.
-- A workspace's thresholds and periods, as JSON; no row: the defaults.
CREATE TABLE advice_settings (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    settings     TEXT NOT NULL
);
-- What was observed of a key's verifications (bounded sets of networks, origin and user-agent
-- digests, permissions asked for), as JSON.
CREATE TABLE key_observations (
    workspace_id TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    observations TEXT NOT NULL,
    PRIMARY KEY (workspace_id, key_id)
);
-- The workspace's current items, refreshed by the background sweep; severity is its rank
-- (2 critical, 1 warning, 0 info) so a page reads worst first from the index.
CREATE TABLE advice_items (
    workspace_id TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    key_name     TEXT    NOT NULL,
    severity     INTEGER NOT NULL,
    message      TEXT    NOT NULL,
    since        INTEGER NOT NULL,
    evidence     TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, key_id, code)
);
CREATE INDEX advice_items_worst_first ON advice_items (workspace_id, severity DESC, key_id, code);
-- An item dismissed while its evidence has this fingerprint, and by which root key.
CREATE TABLE advice_dismissals (
    workspace_id TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    code         TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    dismissed_by TEXT    NOT NULL,
    dismissed_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key_id, code)
);
