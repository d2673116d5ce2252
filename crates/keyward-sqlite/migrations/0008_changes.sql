-- The change log (keyward_core::changes): one row per key, root key or workspace a write
-- changed, inserted in that write's transaction, so other nodes on the database learn of it.
-- AUTOINCREMENT: a sequence number is never reused, also after the newest rows were pruned;
-- SQLite's single writer makes the numbers gap-free in commit order.
-- `at` is the change's time (unix milliseconds), for pruning.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id TEXT NOT NULL,
    object       TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE INDEX changes_at ON changes (at);
