-- +goose Up
-- The merchant daily cap risk rule (docs/risk.md): one counter row per merchant, business date
-- (of the payment's creation, settlement timezone) and currency, holding the amount of the
-- payments attempted that day that have not failed or closed. A create adds its amount in its
-- own transaction with one conditional upsert that refuses past the cap, so the check costs the
-- same at the day's first and millionth payment and two concurrent creates cannot both pass.
CREATE TABLE risk_daily_totals (
    merchant_id   TEXT NOT NULL,
    business_date TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (merchant_id, business_date, currency)
);

-- The business date a payment was counted under (NULL: the cap was off, nothing to release when
-- it fails or closes).
ALTER TABLE payments ADD COLUMN cap_date TEXT;

-- Pending agreements are queried by the sweeper like payments and refunds: an agreement is
-- findable from the moment it is stored, before the channel is called.
ALTER TABLE agreements ADD COLUMN next_query_at TIMESTAMPTZ;
ALTER TABLE agreements ADD COLUMN query_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX agreements_next_query ON agreements (next_query_at) WHERE next_query_at IS NOT NULL;

-- Refunds stored before this migration with an unknown outcome were never scheduled: query them.
UPDATE refunds SET next_query_at = updated_at WHERE status = 'processing' AND next_query_at IS NULL;

-- +goose Down
DROP INDEX agreements_next_query;
ALTER TABLE agreements DROP COLUMN query_count;
ALTER TABLE agreements DROP COLUMN next_query_at;
ALTER TABLE payments DROP COLUMN cap_date;
DROP TABLE risk_daily_totals;
