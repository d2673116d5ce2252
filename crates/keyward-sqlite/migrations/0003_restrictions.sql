-- Key restrictions and limits: network binding, usage credits, rate limits, and the
-- workspace policy that caps key lifetime. Append-only, like every migration.

-- Network binding: JSON arrays of canonical CIDR ranges and origins; '[]' restricts nothing.
ALTER TABLE keys ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '[]';
ALTER TABLE keys ADD COLUMN origin_allowlist TEXT NOT NULL DEFAULT '[]';

-- Usage credits: NULL credits_remaining means the key has no credit limit. The refill
-- schedule is anchored at credits_refilled_at (unix ms); refill resets to the amount.
ALTER TABLE keys ADD COLUMN credits_remaining INTEGER CHECK (credits_remaining >= 0);
ALTER TABLE keys ADD COLUMN credits_refill_amount INTEGER CHECK (credits_refill_amount > 0);
ALTER TABLE keys ADD COLUMN credits_refill_interval_seconds INTEGER
    CHECK (credits_refill_interval_seconds > 0);
ALTER TABLE keys ADD COLUMN credits_refilled_at INTEGER;

-- Rate limit: at most rate_limit verifications per rate_limit_window_seconds; NULL = none.
-- The counters themselves live in the server's memory or in Redis, never here.
ALTER TABLE keys ADD COLUMN rate_limit INTEGER CHECK (rate_limit > 0);
ALTER TABLE keys ADD COLUMN rate_limit_window_seconds INTEGER
    CHECK (rate_limit_window_seconds > 0);

-- One row per workspace that has set a policy; no row means the default (no limits).
CREATE TABLE workspace_policies (
    workspace_id              TEXT    NOT NULL PRIMARY KEY REFERENCES workspaces (id),
    max_key_lifetime_seconds  INTEGER CHECK (max_key_lifetime_seconds > 0),
    updated_at                INTEGER NOT NULL
);
