-- Each workspace's signed verified prefix (keyward_core::verified_prefix): how far its audit
-- chain was checked intact, as the signed JSON record. One row per workspace, replaced as
-- the background check moves forward.
CREATE TABLE audit_verified_prefixes (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    prefix       TEXT NOT NULL
);
