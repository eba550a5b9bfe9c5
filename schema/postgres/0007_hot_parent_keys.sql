-- +goose Up
-- Foreign keys from high-rate inserts to a few hot parent rows are dropped on PostgreSQL. Each
-- check takes a KEY SHARE lock on the parent row (a merchant, an agreement, a ledger account);
-- under concurrent payments every such row carries a MultiXact of lockers, which cost a third of
-- the gateway's throughput in measurements (BENCHMARKS.md). The code that writes these rows
-- creates or reads the parent in the same path, and `paygw verify` checks that no posting,
-- balance or payment refers to a missing account, merchant or agreement. SQLite (one writer at a
-- time, no such locks) keeps the keys.
ALTER TABLE payments DROP CONSTRAINT payments_merchant_id_fkey;
ALTER TABLE payments DROP CONSTRAINT payments_agreement_id_fkey;
ALTER TABLE channel_attempts DROP CONSTRAINT channel_attempts_payment_id_fkey;
ALTER TABLE ledger_balances DROP CONSTRAINT ledger_balances_account_currency_fkey;
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_account_currency_fkey;

-- +goose Down
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_account_currency_fkey
    FOREIGN KEY (account, currency) REFERENCES ledger_accounts (name, currency);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_account_currency_fkey
    FOREIGN KEY (account, currency) REFERENCES ledger_accounts (name, currency);
ALTER TABLE channel_attempts ADD CONSTRAINT channel_attempts_payment_id_fkey
    FOREIGN KEY (payment_id) REFERENCES payments (id);
ALTER TABLE payments ADD CONSTRAINT payments_agreement_id_fkey FOREIGN KEY (agreement_id) REFERENCES agreements (id);
ALTER TABLE payments ADD CONSTRAINT payments_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES merchants (id);
