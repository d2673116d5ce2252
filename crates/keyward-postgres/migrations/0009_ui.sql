-- The dashboard (keyward_core::dashboard), numbered as SQLite's migration 0009.
-- A session is found by the SHA-256 of its token; the token is only in the browser's cookie.
-- Times are unix milliseconds.
CREATE TABLE dashboard_sessions (
    token_hash    BYTEA   NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    root_key_id   TEXT COLLATE "C" NOT NULL REFERENCES root_keys (id),
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX dashboard_sessions_expires_at ON dashboard_sessions (expires_at);

-- A key waiting behind a one-time link: only its ciphertext (under a key derived from the
-- link's secret part) and the SHA-256 of that secret. Opening the link deletes the row.
CREATE TABLE handovers (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    workspace_id  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
    key_id        TEXT COLLATE "C" NOT NULL,
    key_name      TEXT    NOT NULL,
    secret_hash   BYTEA   NOT NULL CHECK (length(secret_hash) = 32),
    key_version   INTEGER NOT NULL,
    nonce         BYTEA   NOT NULL,
    ciphertext    BYTEA   NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE INDEX handovers_expires_at ON handovers (expires_at);
