#!/usr/bin/env python3
"""What one verification event costs SQLite to take in, for the audit_events schema before
migration 0006 ("texts") and for the one keyward stores since ("interned"): a replica of the
ingester's write pattern (3,000-row transactions, events spread over 1,000 keys, WAL, 64 MiB
cache) in Python's sqlite3, run on this machine's disk.

    scripts/ingest-row-cost.py            # both schemas, synchronous FULL and OFF

Python adds a few µs a row to both sides. The interned schema is migration 0006's: integer
references into audit_names for the workspace, kind, actor, key and outcome, the action
inline, 32-byte hashes, no index on the event id, WITHOUT ROWID on (workspace, seq). The names' own lookups
are not in this figure: the store caches them in memory.
"""
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid

ROWS, PER_TX, KEYS = 60_000, 3_000, 1_000

TEXTS = """CREATE TABLE e (workspace_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL
    UNIQUE, time INTEGER NOT NULL, kind TEXT NOT NULL, actor_id TEXT, actor_name TEXT,
    key_id TEXT, key_name TEXT, action TEXT, resource TEXT, outcome TEXT NOT NULL, ip TEXT,
    origin TEXT, user_agent TEXT, detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq));
CREATE INDEX e_key ON e (workspace_id, key_id, seq);
CREATE INDEX e_kind ON e (workspace_id, kind, seq);
CREATE INDEX e_action ON e (workspace_id, action, seq);
CREATE INDEX e_time ON e (workspace_id, time);"""

INTERNED = """CREATE TABLE e (workspace_id INTEGER NOT NULL, seq INTEGER NOT NULL,
    id TEXT NOT NULL CHECK (id <> ''), time INTEGER NOT NULL, kind INTEGER NOT NULL,
    actor_id INTEGER, actor_name INTEGER, key_id INTEGER, key_name INTEGER, action TEXT,
    resource TEXT, outcome INTEGER NOT NULL, ip TEXT, origin TEXT, user_agent TEXT, detail TEXT,
    prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
    hash BLOB NOT NULL CHECK (length(hash) = 32), PRIMARY KEY (workspace_id, seq)) WITHOUT ROWID;
CREATE INDEX e_key ON e (workspace_id, key_id, seq);
CREATE INDEX e_kind ON e (workspace_id, kind, seq);
CREATE INDEX e_action ON e (workspace_id, action, seq);
CREATE INDEX e_time ON e (workspace_id, time);"""


def measure(schema, synchronous, directory):
    path = os.path.join(directory, f"{schema}-{synchronous}.db")
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=wal", f"synchronous={synchronous}", "cache_size=-65536",
                   "temp_store=memory"):
        db.execute(f"PRAGMA {pragma}")
    db.executescript(TEXTS if schema == "texts" else INTERNED)
    ws = "ws_" + uuid.uuid4().hex
    keys = ["key_" + uuid.uuid4().hex for _ in range(KEYS)]
    now = int(time.time() * 1000)
    if schema == "texts":
        sql = "INSERT OR FAIL INTO e VALUES (" + ",".join("?" * 18) + ")"
        row = lambda seq, k: (ws, seq, "ev_" + uuid.uuid4().hex, now, "key.verified",
                              "rk_" + "a" * 32, "bootstrap", keys[k], "Invoice Sync Integration",
                              "verify", None, "VALID", "203.0.113.7", None, "wrk/4.2",
                              '{"permission":"invoices:read"}', "a" * 64, "b" * 64)
    else:
        sql = "INSERT OR FAIL INTO e VALUES (" + ",".join("?" * 18) + ")"
        row = lambda seq, k: (1, seq, "ev_" + uuid.uuid4().hex, now, 3, 7, 8, 100 + k,
                              2000 + k, "verify", None, 1, "203.0.113.7", None, "wrk/4.2",
                              '{"permission":"invoices:read"}', os.urandom(32), os.urandom(32))
    seq, spent = 0, 0.0
    for _ in range(ROWS // PER_TX):
        batch = []
        for _ in range(PER_TX):
            seq += 1
            batch.append(row(seq, random.randrange(KEYS)))
        started = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, batch)
        db.execute("COMMIT")
        spent += time.perf_counter() - started
    db.close()
    return spent / ROWS * 1e6, os.path.getsize(path) / ROWS


def main():
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as directory:
        print(f"{'schema':9} {'synchronous':12} {'µs/row':>8} {'bytes/row in the file':>22}")
        for synchronous in ("FULL", "OFF"):
            for schema in ("texts", "interned"):
                micros, size = measure(schema, synchronous, directory)
                print(f"{schema:9} {synchronous:12} {micros:8.1f} {size:22.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
