-- Retention checkpoints become chained events (kind audit.checkpoint, written in the
-- transaction that prunes), so a checkpoint can no longer be written or moved by editing one
-- unchained row: the chain check takes the cut from the chain's newest checkpoint event.
-- The old rows are set aside here; on the first start the store appends each as an
-- audit.checkpoint event at the end of its chain (SQL cannot compute the chain's SHA-256)
-- and drops this table.
ALTER TABLE audit_checkpoints RENAME TO audit_checkpoints_unchained;
