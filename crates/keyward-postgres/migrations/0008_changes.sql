-- The change log (keyward_core::changes), numbered as SQLite's migration 0008 that adds it:
-- one row per key, root key or workspace a write changed, inserted in that write's
-- transaction, so every node on the database learns of it.
-- Sequence numbers come from the one row of change_counter, which the writing transaction
-- updates (and so locks) just before it commits: numbers are gap-free (a rollback undoes
-- the increment) and a change becomes visible only after every smaller one, because the
-- next writer waits for the lock until the previous one committed. A BIGSERIAL would give
-- numbers in start order, not commit order, and a follower could skip one still in flight.
CREATE TABLE change_counter (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL
);
INSERT INTO change_counter (id, seq) VALUES (1, 0);

-- `at` is the change's time (unix milliseconds), for pruning.
CREATE TABLE changes (
    seq          BIGINT NOT NULL PRIMARY KEY,
    workspace_id TEXT   NOT NULL,
    object       TEXT   NOT NULL,
    object_id    TEXT   NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
