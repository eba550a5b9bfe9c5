-- +goose Up
-- settle_items becomes an ordinary rowid table with a unique index on object_id instead of a
-- WITHOUT ROWID table keyed by it. A settlement run writes each merchant's items together, but
-- object ids (payment and refund ids) of all merchants interleave: keyed by object id, every
-- item landed on its own page of the whole wide table and each commit rewrote those pages in
-- full. Now the rows append to the end of the table (a few new pages per batch) and only the
-- narrow (object_id, rowid) index entries scatter. Each payment and refund is still settled
-- at most once: the unique index settle_items_object enforces it.
CREATE TABLE settle_items_new (
    id            INTEGER PRIMARY KEY,
    object_id     TEXT NOT NULL,
    batch_id      TEXT NOT NULL REFERENCES settle_batches (id),
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    payment_id    TEXT NOT NULL,
    out_no        TEXT NOT NULL DEFAULT '',
    business_date TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    fee           BIGINT NOT NULL
);
INSERT INTO settle_items_new (object_id, batch_id, kind, payment_id, out_no, business_date, amount, fee)
    SELECT object_id, batch_id, kind, payment_id, out_no, business_date, amount, fee
    FROM settle_items ORDER BY batch_id, kind, object_id;
DROP TABLE settle_items;
ALTER TABLE settle_items_new RENAME TO settle_items;
CREATE UNIQUE INDEX settle_items_object ON settle_items (object_id);
CREATE INDEX settle_items_batch ON settle_items (batch_id, kind, object_id);
-- A refund's fee return needs the payment's refunds settled before it.
CREATE INDEX settle_items_refunds ON settle_items (payment_id) WHERE kind = 'refund';

-- +goose Down
CREATE TABLE settle_items_old (
    object_id     TEXT NOT NULL,
    batch_id      TEXT NOT NULL REFERENCES settle_batches (id),
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    payment_id    TEXT NOT NULL,
    out_no        TEXT NOT NULL DEFAULT '',
    business_date TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    fee           BIGINT NOT NULL,
    CONSTRAINT settle_items_object PRIMARY KEY (object_id)
) WITHOUT ROWID;
INSERT INTO settle_items_old (object_id, batch_id, kind, payment_id, out_no, business_date, amount, fee)
    SELECT object_id, batch_id, kind, payment_id, out_no, business_date, amount, fee FROM settle_items;
DROP TABLE settle_items;
ALTER TABLE settle_items_old RENAME TO settle_items;
CREATE INDEX settle_items_batch ON settle_items (batch_id, kind, object_id);
CREATE INDEX settle_items_refunds ON settle_items (payment_id) WHERE kind = 'refund';
