-- +goose Up
-- A settled batch whose merchant cannot be paid (no bank account, or suspended) is kept on hold:
-- it stays out of every payout file until the hold is released (the account added, the merchant
-- resumed). payout_date is the date of the payout file that then carries it ('' until one does),
-- so a released batch goes into exactly one later payout file. Batches without a row here go into
-- their own date's file.
CREATE TABLE settle_holds (
    batch_id    TEXT PRIMARY KEY REFERENCES settle_batches (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    reason      TEXT NOT NULL CHECK (reason <> ''),
    held_at     DATETIME NOT NULL,
    released_at DATETIME,
    payout_date TEXT NOT NULL DEFAULT '',
    CONSTRAINT settle_holds_payout CHECK (payout_date = '' OR released_at IS NOT NULL)
);
CREATE INDEX settle_holds_merchant ON settle_holds (merchant_id, payout_date);
CREATE INDEX settle_holds_payout_date ON settle_holds (payout_date) WHERE payout_date <> '';

-- Every change to a merchant: who (operator), when, which field, old and new value (account
-- numbers masked, secrets never written).
CREATE TABLE merchant_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    at          DATETIME NOT NULL,
    actor       TEXT NOT NULL CHECK (actor <> ''),
    action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'suspend', 'resume', 'rotate_secret')),
    field       TEXT NOT NULL DEFAULT '',
    old_value   TEXT NOT NULL DEFAULT '',
    new_value   TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX merchant_audit_merchant ON merchant_audit (merchant_id, id);

-- +goose Down
DROP INDEX merchant_audit_merchant;
DROP TABLE merchant_audit;
DROP INDEX settle_holds_payout_date;
DROP INDEX settle_holds_merchant;
DROP TABLE settle_holds;
