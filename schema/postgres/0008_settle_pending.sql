-- +goose Up
-- What settlement still has to take: one narrow row per succeeded payment or refund, written in
-- the transaction that makes it succeed and deleted in the transaction that settles it. settle
-- reads a merchant's pending rows instead of walking its whole (settled) history every day.
-- Keyed by merchant first, so that a merchant's rows are contiguous: settling a merchant deletes
-- a few pages' worth of rows instead of touching a page per row (ids are scattered).
CREATE TABLE settle_pending (
    merchant_id   TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    business_date TEXT NOT NULL,
    object_id     TEXT NOT NULL,
    -- Copies of what settlement reads (immutable once the transaction succeeded), so a run
    -- reads these rows alone instead of looking each payment up.
    out_no        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    done_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, kind, business_date, object_id)
);

INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
SELECT p.merchant_id, 'payment', p.business_date, p.id, p.out_trade_no, p.currency, p.amount, p.paid_at FROM payments p
WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')
    AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = p.id);

INSERT INTO settle_pending (merchant_id, kind, business_date, object_id, out_no, currency, amount, done_at)
SELECT r.merchant_id, 'refund', r.business_date, r.id, r.out_refund_no, r.currency, r.amount, r.succeeded_at FROM refunds r
WHERE r.status = 'succeeded'
    AND NOT EXISTS (SELECT 1 FROM settle_items i WHERE i.object_id = r.id);

-- +goose Down
DROP TABLE settle_pending;
