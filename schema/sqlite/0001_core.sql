-- +goose Up
CREATE TABLE merchants (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL CHECK (name <> ''),
    status                 TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    fee_rate_bps           BIGINT NOT NULL DEFAULT 0 CHECK (fee_rate_bps BETWEEN 0 AND 10000),
    fee_fixed              BIGINT NOT NULL DEFAULT 0 CHECK (fee_fixed >= 0),
    fee_min                BIGINT CHECK (fee_min >= 0),
    fee_max                BIGINT CHECK (fee_max >= 0),
    bank_name              TEXT NOT NULL DEFAULT '',
    bank_account_name      TEXT NOT NULL DEFAULT '',
    bank_account_enc       TEXT NOT NULL DEFAULT '',
    bank_account_masked    TEXT NOT NULL DEFAULT '',
    notify_url             TEXT NOT NULL DEFAULT '',
    secret_enc             TEXT NOT NULL,
    prev_secret_enc        TEXT,
    prev_secret_expires_at DATETIME,
    created_at             DATETIME NOT NULL,
    updated_at             DATETIME NOT NULL,
    CONSTRAINT merchants_fee_min_max CHECK (fee_min IS NULL OR fee_max IS NULL OR fee_min <= fee_max)
);

CREATE TABLE agreements (
    id               TEXT PRIMARY KEY,
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    out_agreement_no TEXT NOT NULL,
    pay_method       TEXT NOT NULL CHECK (pay_method IN ('quick_pay', 'withhold')),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'active', 'terminated')),
    channel          TEXT NOT NULL,
    channel_no       TEXT NOT NULL DEFAULT '',
    payer_name       TEXT NOT NULL DEFAULT '',
    account_masked   TEXT NOT NULL DEFAULT '',
    phone_masked     TEXT NOT NULL DEFAULT '',
    account_token    TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    CONSTRAINT agreements_merchant_out_no UNIQUE (merchant_id, out_agreement_no)
);

CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    out_trade_no     TEXT NOT NULL,
    amount           BIGINT NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    pay_method       TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    notify_url       TEXT NOT NULL DEFAULT '',
    return_url       TEXT NOT NULL DEFAULT '',
    expires_at       DATETIME,
    agreement_id     TEXT REFERENCES agreements (id),
    metadata         TEXT NOT NULL DEFAULT '',
    request_hash     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('created', 'processing', 'succeeded', 'failed', 'closed', 'partially_refunded', 'refunded')),
    channel          TEXT NOT NULL DEFAULT '',
    channel_trade_no TEXT NOT NULL DEFAULT '',
    pay_url          TEXT NOT NULL DEFAULT '',
    refund_reserved  BIGINT NOT NULL DEFAULT 0,
    refunded_amount  BIGINT NOT NULL DEFAULT 0,
    payer_account    TEXT NOT NULL DEFAULT '',
    client_ip        TEXT NOT NULL DEFAULT '',
    fail_reason      TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    paid_at          DATETIME,
    business_date    TEXT,
    next_query_at    DATETIME,
    query_count      INTEGER NOT NULL DEFAULT 0,
    reconciled_at    DATETIME,
    version          BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT payments_merchant_out_trade_no UNIQUE (merchant_id, out_trade_no),
    CONSTRAINT payments_refund_within_amount CHECK (refund_reserved >= 0 AND refund_reserved <= amount
        AND refunded_amount >= 0 AND refunded_amount <= refund_reserved),
    CONSTRAINT payments_paid_has_date CHECK (status NOT IN ('succeeded', 'partially_refunded', 'refunded')
        OR (paid_at IS NOT NULL AND business_date IS NOT NULL))
);
CREATE INDEX payments_channel_trade_no ON payments (channel, channel_trade_no) WHERE channel_trade_no <> '';
CREATE INDEX payments_next_query ON payments (next_query_at) WHERE next_query_at IS NOT NULL;
CREATE INDEX payments_business_date ON payments (business_date, merchant_id) WHERE business_date IS NOT NULL;
CREATE INDEX payments_channel_paid ON payments (channel, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at);
CREATE INDEX payments_payer ON payments (merchant_id, payer_account, created_at) WHERE payer_account <> '';

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    payment_id        TEXT NOT NULL REFERENCES payments (id),
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    out_refund_no     TEXT NOT NULL,
    amount            BIGINT NOT NULL CHECK (amount > 0),
    currency          TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    notify_url        TEXT NOT NULL DEFAULT '',
    request_hash      TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('processing', 'succeeded', 'failed')),
    channel           TEXT NOT NULL,
    channel_refund_no TEXT NOT NULL DEFAULT '',
    fail_reason       TEXT NOT NULL DEFAULT '',
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    succeeded_at      DATETIME,
    business_date     TEXT,
    next_query_at     DATETIME,
    query_count       INTEGER NOT NULL DEFAULT 0,
    reconciled_at     DATETIME,
    CONSTRAINT refunds_merchant_out_refund_no UNIQUE (merchant_id, out_refund_no),
    CONSTRAINT refunds_succeeded_has_date CHECK (status <> 'succeeded' OR (succeeded_at IS NOT NULL AND business_date IS NOT NULL))
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_next_query ON refunds (next_query_at) WHERE next_query_at IS NOT NULL;
CREATE INDEX refunds_business_date ON refunds (business_date, merchant_id) WHERE business_date IS NOT NULL;
CREATE INDEX refunds_channel_succeeded ON refunds (channel, succeeded_at) WHERE succeeded_at IS NOT NULL;

CREATE TABLE channel_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT REFERENCES payments (id),
    refund_id   TEXT REFERENCES refunds (id),
    channel     TEXT NOT NULL,
    operation   TEXT NOT NULL CHECK (operation IN ('pay', 'query', 'close', 'refund', 'query_refund', 'callback')),
    outcome     TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'succeeded', 'processing', 'failed', 'closed', 'not_found', 'unknown', 'declined')),
    error       TEXT NOT NULL DEFAULT '',
    latency_ms  BIGINT NOT NULL DEFAULT 0,
    started_at  DATETIME NOT NULL,
    finished_at DATETIME
);
CREATE INDEX channel_attempts_payment ON channel_attempts (payment_id);

CREATE TABLE auth_nonces (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  DATETIME NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
);
CREATE INDEX auth_nonces_expires ON auth_nonces (expires_at);

CREATE TABLE ledger_accounts (
    name       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (name, currency)
);

-- An account's balance is the sum of its shards: busy accounts (a channel's receivable, a large
-- merchant's pending) are updated by many concurrent transactions, and one row per account would
-- serialise them all on its row lock.
CREATE TABLE ledger_balances (
    account  TEXT NOT NULL,
    currency TEXT NOT NULL,
    shard    INTEGER NOT NULL CHECK (shard >= 0),
    balance  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account, currency, shard),
    FOREIGN KEY (account, currency) REFERENCES ledger_accounts (name, currency)
);

CREATE TABLE ledger_journals (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('capture', 'refund', 'settlement', 'payout')),
    ref_id     TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    CONSTRAINT ledger_journals_kind_ref UNIQUE (kind, ref_id)
);

CREATE TABLE ledger_postings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    journal_id TEXT NOT NULL REFERENCES ledger_journals (id),
    account    TEXT NOT NULL,
    currency   TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount <> 0),
    FOREIGN KEY (account, currency) REFERENCES ledger_accounts (name, currency)
);
CREATE INDEX ledger_postings_journal ON ledger_postings (journal_id);
CREATE INDEX ledger_postings_account ON ledger_postings (account, currency);

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    object_id       TEXT NOT NULL,
    payment_id      TEXT NOT NULL DEFAULT '',
    refund_id       TEXT NOT NULL DEFAULT '',
    type            TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    locked_by       TEXT NOT NULL DEFAULT '',
    locked_until    DATETIME,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    delivered_at    DATETIME,
    CONSTRAINT notifications_object_type UNIQUE (object_id, type)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX notifications_merchant ON notifications (merchant_id, created_at);
CREATE INDEX notifications_payment ON notifications (payment_id);

CREATE TABLE notification_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL REFERENCES notifications (id),
    attempt         INTEGER NOT NULL,
    manual          BOOLEAN NOT NULL DEFAULT 0,
    worker          TEXT NOT NULL DEFAULT '',
    started_at      DATETIME NOT NULL,
    status_code     INTEGER NOT NULL DEFAULT 0,
    latency_ms      BIGINT NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    response        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_notification ON notification_attempts (notification_id);

CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    expires_at DATETIME NOT NULL
);

CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    business_key TEXT NOT NULL DEFAULT '',
    host         TEXT NOT NULL,
    trigger      TEXT NOT NULL DEFAULT 'manual',
    status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    started_at   DATETIME NOT NULL,
    finished_at  DATETIME,
    summary      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at);

-- +goose Down
DROP TABLE job_runs;
DROP TABLE job_leases;
DROP TABLE notification_attempts;
DROP TABLE notifications;
DROP TABLE ledger_postings;
DROP TABLE ledger_balances;
DROP TABLE ledger_journals;
DROP TABLE ledger_accounts;
DROP TABLE auth_nonces;
DROP TABLE channel_attempts;
DROP TABLE refunds;
DROP TABLE payments;
DROP TABLE agreements;
DROP TABLE merchants;
