-- +goose Up
-- Two new journal kinds: an accepted amount or fee difference (internal/ledger).
ALTER TABLE ledger_journals DROP CONSTRAINT ledger_journals_kind_check;
ALTER TABLE ledger_journals ADD CONSTRAINT ledger_journals_kind_check
    CHECK (kind IN ('capture', 'refund', 'settlement', 'payout', 'amount_adjustment', 'fee_adjustment'));

-- What accepting the channel's side of an amount or fee mismatch posted (docs/reconciliation.md).
-- amount is signed:
--   kind amount: a difference for the merchant (channel amount − ours on a payment, ours −
--                channel on a refund); settlement pays it once, in the batch named by batch_id
--                (null until settled; set compare-and-set in the batch's transaction);
--   kind fee:    a difference in our channel fee cost; never settled (the merchant is not
--                charged the channel's fee).
-- The difference accepted for a payment or refund is the sum of its rows of the kind: accepting
-- posts only what that sum lacks, so a re-run's item for the same difference posts nothing and a
-- corrected bill posts the rest. seq numbers an object's rows (1, 2, …): two resolutions racing
-- cannot both post (recon_adjustments_object); an item posts at most one row (recon_adjustments_item).
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
    seq           INTEGER NOT NULL CHECK (seq >= 1),
    amount        BIGINT NOT NULL CHECK (amount <> 0),
    batch_id      TEXT REFERENCES settle_batches (id),
    created_by    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT recon_adjustments_object UNIQUE (object_id, kind, seq),
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
