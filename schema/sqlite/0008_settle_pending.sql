-- +goose Up
-- What settlement still has to take: one narrow row per succeeded payment or refund, written in
-- the transaction that makes it succeed and deleted in the transaction that settles it. settle
-- reads a merchant's pending rows instead of walking its whole (settled) history every day.
CREATE TABLE settle_pending (
    object_id     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    merchant_id   TEXT NOT NULL,
    business_date TEXT NOT NULL
);
CREATE INDEX settle_pending_merchant ON settle_pending (merchant_id, kind, business_date);

INSERT INTO settle_pending (object_id, kind, merchant_id, business_date)
SELECT p.id, 'payment', p.merchant_id, p.business_date FROM payments p
WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')
    AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = p.id);

INSERT INTO settle_pending (object_id, kind, merchant_id, business_date)
SELECT r.id, 'refund', r.merchant_id, r.business_date FROM refunds r
WHERE r.status = 'succeeded'
    AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = r.id);

-- +goose Down
DROP TABLE settle_pending;
