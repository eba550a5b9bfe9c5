-- +goose Up
-- Settlement: one batch per (merchant, currency, business date) and the payments and refunds
-- it settled. Each payment or refund is settled at most once: settle_items' primary key is the
-- object id. A merchant's batches in a currency form a chain (prev_batch_id, '' for the first),
-- unique per merchant and currency, so two runs can never both carry the same negative net.
CREATE TABLE settle_batches (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    currency      TEXT NOT NULL,
    date          TEXT NOT NULL,
    prev_batch_id TEXT NOT NULL DEFAULT '',
    payments      BIGINT NOT NULL CHECK (payments >= 0),
    refunds       BIGINT NOT NULL CHECK (refunds >= 0),
    gross         BIGINT NOT NULL CHECK (gross >= 0),
    refunded      BIGINT NOT NULL CHECK (refunded >= 0),
    fee           BIGINT NOT NULL,
    carried_in    BIGINT NOT NULL CHECK (carried_in <= 0),
    net           BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('settled', 'carried', 'paid')),
    bank_ref      TEXT NOT NULL DEFAULT '',
    paid_at       TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT settle_batches_merchant_currency_date UNIQUE (merchant_id, currency, date),
    CONSTRAINT settle_batches_chain UNIQUE (merchant_id, currency, prev_batch_id),
    CONSTRAINT settle_batches_net CHECK (net = gross - refunded - fee + carried_in),
    CONSTRAINT settle_batches_carried CHECK ((status = 'carried') = (net <= 0)),
    CONSTRAINT settle_batches_paid CHECK ((status = 'paid') = (paid_at IS NOT NULL AND bank_ref <> ''))
);
CREATE INDEX settle_batches_date ON settle_batches (date, merchant_id);

CREATE TABLE settle_items (
    object_id     TEXT NOT NULL,
    batch_id      TEXT NOT NULL REFERENCES settle_batches (id),
    kind          TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    payment_id    TEXT NOT NULL,
    out_no        TEXT NOT NULL DEFAULT '',
    business_date TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    fee           BIGINT NOT NULL,
    CONSTRAINT settle_items_object PRIMARY KEY (object_id)
);
CREATE INDEX settle_items_batch ON settle_items (batch_id, kind, object_id);
-- A refund's fee return needs the payment's refunds settled before it.
CREATE INDEX settle_items_refunds ON settle_items (payment_id) WHERE kind = 'refund';

-- Settle looks up one merchant's unsettled items by business date.
CREATE INDEX payments_merchant_business_date ON payments (merchant_id, business_date) WHERE business_date IS NOT NULL;
CREATE INDEX refunds_merchant_business_date ON refunds (merchant_id, business_date) WHERE business_date IS NOT NULL;

-- +goose Down
DROP INDEX refunds_merchant_business_date;
DROP INDEX payments_merchant_business_date;
DROP TABLE settle_items;
DROP TABLE settle_batches;
