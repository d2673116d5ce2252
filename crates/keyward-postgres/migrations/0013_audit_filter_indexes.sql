-- Audit events in partitions, and an index for every filter the dashboard and the API offer.
--
-- audit_events is partitioned by kind: verification events (key.verified, the only kind
-- retention deletes) in audit_events_verified, itself partitioned by week of their time, so
-- retention drops a whole week instead of deleting its rows one by one; every other event
-- (kept forever) in audit_events_kept. Weeks are numbered from the unix epoch
-- (week n holds times in [n, n + 1) * 604800000 ms) and named audit_events_verified_w<n>
-- (audit_events_verified_wm<n> for week -n); the store creates the coming weeks ahead (keyward-postgres/src/partitions.rs), and an
-- event of a week not created yet lands in audit_events_verified_default.
--
-- A primary key of a partitioned table must contain the partition keys, so it is
-- (workspace_id, seq, kind, time): (workspace_id, seq) stays unique because every append
-- holds the workspace's chain head lock while it numbers its events.

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_pkey RENAME TO audit_events_unpartitioned_pkey;
DROP INDEX audit_events_key;
DROP INDEX audit_events_kind;
DROP INDEX audit_events_action;
DROP INDEX audit_events_time;

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
    PRIMARY KEY (workspace_id, seq, kind, time)
) PARTITION BY LIST (kind);

CREATE TABLE audit_events_kept PARTITION OF audit_events DEFAULT;
CREATE TABLE audit_events_verified PARTITION OF audit_events
    FOR VALUES IN ('key.verified') PARTITION BY RANGE (time);
CREATE TABLE audit_events_verified_default PARTITION OF audit_events_verified DEFAULT;

-- A week for every week that holds verification events, and this week and the four after it.
DO $$
DECLARE
    week bigint;
BEGIN
    FOR week IN
        SELECT DISTINCT floor(time / 604800000.0)::bigint FROM audit_events_unpartitioned
            WHERE kind = 'key.verified'
        UNION
        SELECT floor(extract(epoch FROM now()) / 604800)::bigint + ahead
            FROM generate_series(0, 4) AS ahead
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF audit_events_verified FOR VALUES FROM (%s) TO (%s)',
            'audit_events_verified_w'
                || CASE WHEN week < 0 THEN 'm' || (-week)::text ELSE week::text END,
            week * 604800000, (week + 1) * 604800000);
    END LOOP;
END
$$;

INSERT INTO audit_events SELECT * FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;

-- Each index ends in seq, so a filter's newest-first page, and paging back with before_seq,
-- is one index range per partition whatever the table's size.
CREATE INDEX audit_events_key ON audit_events (workspace_id, key_id, seq);
CREATE INDEX audit_events_kind ON audit_events (workspace_id, kind, seq);
CREATE INDEX audit_events_action ON audit_events (workspace_id, action, seq);
-- Retention's cut (the newest event older than a time) seeks time, as an expression that only
-- its query names (time + 0): a filter with a time range must read its own index newest
-- first by seq, and a plain (workspace_id, time) index tempted the planner to read every
-- event of the range and sort them.
CREATE INDEX audit_events_cut ON audit_events (workspace_id, (time + 0), seq);
-- key and action: "which key deleted the invoices".
CREATE INDEX audit_events_key_action ON audit_events (workspace_id, key_id, action, seq);
-- outcome alone, or with a time range: the failures of a workspace.
CREATE INDEX audit_events_outcome ON audit_events (workspace_id, outcome, seq);
