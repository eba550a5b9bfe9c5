-- +goose Up
-- One reconciliation run of a channel's statement for a business date. Re-running a date marks the
-- previous run superseded in the same transaction that stores the new one, so at most one run per
-- (channel, date) is current.
CREATE TABLE recon_runs (
    id                     TEXT PRIMARY KEY,
    channel                TEXT NOT NULL CHECK (channel <> ''),
    business_date          TEXT NOT NULL CHECK (length(business_date) = 10),
    status                 TEXT NOT NULL CHECK (status IN ('current', 'superseded')),
    format                 TEXT NOT NULL,
    file_name              TEXT NOT NULL,
    file_sha256            TEXT NOT NULL CHECK (length(file_sha256) = 64),
    statement_rows         BIGINT NOT NULL DEFAULT 0 CHECK (statement_rows >= 0),
    matched                BIGINT NOT NULL DEFAULT 0 CHECK (matched >= 0),
    missing_internal       BIGINT NOT NULL DEFAULT 0 CHECK (missing_internal >= 0),
    missing_channel        BIGINT NOT NULL DEFAULT 0 CHECK (missing_channel >= 0),
    amount_mismatch        BIGINT NOT NULL DEFAULT 0 CHECK (amount_mismatch >= 0),
    status_mismatch        BIGINT NOT NULL DEFAULT 0 CHECK (status_mismatch >= 0),
    fee_mismatch           BIGINT NOT NULL DEFAULT 0 CHECK (fee_mismatch >= 0),
    duplicate              BIGINT NOT NULL DEFAULT 0 CHECK (duplicate >= 0),
    pending                BIGINT NOT NULL DEFAULT 0 CHECK (pending >= 0),
    totals                 TEXT NOT NULL DEFAULT '[]',
    started_at             DATETIME NOT NULL,
    finished_at            DATETIME NOT NULL
);
CREATE UNIQUE INDEX recon_runs_current ON recon_runs (channel, business_date) WHERE status = 'current';
CREATE INDEX recon_runs_started ON recon_runs (started_at);

-- One discrepancy (every class but matched) of a run. Items are never edited silently: a
-- resolution records who, when, which side was accepted and why.
CREATE TABLE recon_items (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            TEXT NOT NULL REFERENCES recon_runs (id),
    channel           TEXT NOT NULL,
    business_date     TEXT NOT NULL,
    class             TEXT NOT NULL CHECK (class IN ('missing_internal', 'missing_channel', 'amount_mismatch',
                          'status_mismatch', 'fee_mismatch', 'duplicate', 'pending')),
    kind              TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
    payment_id        TEXT NOT NULL DEFAULT '',
    refund_id         TEXT NOT NULL DEFAULT '',
    merchant_id       TEXT NOT NULL DEFAULT '',
    channel_trade_no  TEXT NOT NULL DEFAULT '',
    channel_refund_no TEXT NOT NULL DEFAULT '',
    currency          TEXT NOT NULL,
    internal_amount   BIGINT NOT NULL DEFAULT 0,
    channel_amount    BIGINT NOT NULL DEFAULT 0,
    internal_fee      BIGINT NOT NULL DEFAULT 0,
    channel_fee       BIGINT NOT NULL DEFAULT 0,
    internal_status   TEXT NOT NULL DEFAULT '',
    channel_status    TEXT NOT NULL DEFAULT '',
    trade_time        DATETIME,
    line              BIGINT NOT NULL DEFAULT 0,
    note              TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolution        TEXT NOT NULL DEFAULT '' CHECK (resolution IN ('', 'accept_channel', 'accept_ours', 'auto')),
    resolved_by       TEXT NOT NULL DEFAULT '',
    resolved_at       DATETIME,
    resolution_note   TEXT NOT NULL DEFAULT '',
    CONSTRAINT recon_items_resolution CHECK ((state = 'open' AND resolution = '' AND resolved_at IS NULL)
        OR (state = 'resolved' AND resolution <> '' AND resolved_at IS NOT NULL AND resolved_by <> '')),
    CONSTRAINT recon_items_sides CHECK (class = 'missing_internal' OR class = 'duplicate'
        OR payment_id <> '' OR refund_id <> '')
);
CREATE INDEX recon_items_run ON recon_items (run_id, id);
CREATE INDEX recon_items_open ON recon_items (channel, state, class) WHERE state = 'open';
CREATE INDEX recon_items_payment ON recon_items (payment_id) WHERE payment_id <> '';
CREATE INDEX recon_items_refund ON recon_items (refund_id) WHERE refund_id <> '';

-- Reconciliation streams a channel's transactions of a date window; these cover the ones with no
-- success time yet (processing, failed, closed), which the paid_at / succeeded_at indexes do not.
CREATE INDEX payments_channel_unpaid ON payments (channel, created_at) WHERE paid_at IS NULL;
CREATE INDEX refunds_channel_unfinished ON refunds (channel, created_at) WHERE succeeded_at IS NULL;

-- +goose Down
DROP INDEX refunds_channel_unfinished;
DROP INDEX payments_channel_unpaid;
DROP TABLE recon_items;
DROP TABLE recon_runs;
