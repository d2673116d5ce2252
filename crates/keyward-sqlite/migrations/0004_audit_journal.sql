-- How far the database has taken in the audit journal (see src/journal.rs): the LSN of the
-- last journal record whose event is in audit_events. Advanced in the same transaction as the
-- events it covers, so a record is taken in exactly once, crash or not.
-- journal_id names the journal in use (its ID file); NULL once a clean stop has taken
-- everything in, when any journal may continue the numbering.
CREATE TABLE audit_journal (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    lsn         INTEGER NOT NULL CHECK (lsn >= 0),
    journal_id  TEXT
);
INSERT INTO audit_journal (id, lsn, journal_id) VALUES (1, 0, NULL);
