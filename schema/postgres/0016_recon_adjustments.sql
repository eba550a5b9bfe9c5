-- +goose Up
-- Two new journal kinds: an accepted amount or fee difference (internal/ledger).
ALTER TABLE ledger_journals DROP CONSTRAINT ledger_journals_kind_check;
ALTER TABLE ledger_journals ADD CONSTRAINT ledger_journals_kind_check
    CHECK (kind IN ('capture', 'refund', 'settlement', 'payout', 'amount_adjustment', 'fee_adjustment'));

-- What accepting the channel's side of an amount or fee mismatch posted (docs/reconciliation.md).
-- One row per payment or refund and kind: a re-run, a carried-over resolution or a second item
-- on the same transaction can never post a difference twice (recon_adjustments_object), and an
-- item posts at most one (recon_adjustments_item). amount is signed:
--   kind amount: the difference for the merchant (channel amount − ours on a payment, ours −
--                channel on a refund); settlement pays it once, in the batch named by batch_id
--                (null until settled; set compare-and-set in the batch's transaction);
--   kind fee:    the difference in our channel fee cost; never settled (the merchant is not
--                charged the channel's fee).
CREATE TABLE recon_adjustments (
    id            TEXT PRIMARY KEY,
    item_id       BIGINT NOT NULL REFERENCES recon_items (id),
    kind          TEXT NOT NULL CHECK (kind IN ('amount', 'fee')),
    object_kind   TEXT NOT NULL CHECK (object_kind IN ('payment', 'refund')),
    object_id     TEXT NOT NULL,
    payment_id    TEXT NOT NULL,
    out_no        TEXT NOT NULL DEFAULT '',
    merchant_id   TEXT NOT NULL,
    channel       TEXT NOT NULL,
    currency      TEXT NOT NULL,
    business_date TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    batch_id      TEXT REFERENCES settle_batches (id),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT recon_adjustments_object UNIQUE (object_id, kind),
    CONSTRAINT recon_adjustments_item UNIQUE (item_id),
    CONSTRAINT recon_adjustments_settles CHECK (kind = 'amount' OR batch_id IS NULL)
);
-- settle reads a merchant's unsettled amount adjustments; reports read a batch's.
CREATE INDEX recon_adjustments_unsettled ON recon_adjustments (merchant_id, business_date)
    WHERE batch_id IS NULL AND kind = 'amount';
CREATE INDEX recon_adjustments_batch ON recon_adjustments (batch_id) WHERE batch_id IS NOT NULL;

-- +goose Down
-- Refused (the kind CHECK fails) while adjustment journals exist: rolling back would leave
-- postings and balances that nothing explains.
DROP INDEX recon_adjustments_batch;
DROP INDEX recon_adjustments_unsettled;
DROP TABLE recon_adjustments;
ALTER TABLE ledger_journals DROP CONSTRAINT ledger_journals_kind_check;
ALTER TABLE ledger_journals ADD CONSTRAINT ledger_journals_kind_check
    CHECK (kind IN ('capture', 'refund', 'settlement', 'payout'));
