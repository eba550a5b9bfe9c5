-- +goose Up
-- Which payments and refunds reconciliation has confirmed (matched on a statement, or accepted by
-- an operator). An append-only table instead of payments.reconciled_at / refunds.reconciled_at:
-- a run confirms about every transaction of a date, and inserting a million narrow rows costs a
-- small fraction of rewriting a million wide payment rows (every index entry of a non-HOT update
-- on PostgreSQL; the whole row and page on SQLite). object_id is a payment or refund id (the
-- prefixes keep them apart); run_id is the run that matched it ('' when marked otherwise);
-- settle's require_reconciled joins this table. The reconciled_at columns are no longer written.
CREATE TABLE recon_matches (
    object_id     TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL DEFAULT '',
    reconciled_at DATETIME NOT NULL
) WITHOUT ROWID;
INSERT INTO recon_matches (object_id, run_id, reconciled_at)
    SELECT id, '', reconciled_at FROM payments WHERE reconciled_at IS NOT NULL;
INSERT INTO recon_matches (object_id, run_id, reconciled_at)
    SELECT id, '', reconciled_at FROM refunds WHERE reconciled_at IS NOT NULL;

-- +goose Down
UPDATE payments SET reconciled_at = (SELECT m.reconciled_at FROM recon_matches m WHERE m.object_id = payments.id)
    WHERE reconciled_at IS NULL AND id IN (SELECT object_id FROM recon_matches);
UPDATE refunds SET reconciled_at = (SELECT m.reconciled_at FROM recon_matches m WHERE m.object_id = refunds.id)
    WHERE reconciled_at IS NULL AND id IN (SELECT object_id FROM recon_matches);
DROP TABLE recon_matches;
