-- +goose Up
-- payments_merchant_business_date (migration 0003) was settlement's way to one merchant's
-- unsettled payments of a date. Since migration 0008 settlement reads settle_pending instead, and
-- no statement filters payments by merchant and business date any more (`paygw verify` joins
-- settle_pending on its key; the daily summary uses payments_business_date). Every payment's
-- status change still wrote an entry into it: one index of ten on the hottest update
-- (BENCHMARKS.md, issue 12, eighth round).
DROP INDEX payments_merchant_business_date;

-- +goose Down
CREATE INDEX payments_merchant_business_date ON payments (merchant_id, business_date) WHERE business_date IS NOT NULL;
