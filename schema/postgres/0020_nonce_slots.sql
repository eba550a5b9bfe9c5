-- +goose Up
-- Nonces keyed by slot (expiry in Unix seconds ÷ 120) first: new nonces go to the right end of
-- the key and the purge deletes whole slots from its left end, in key order, so it empties whole
-- index pages (which vacuum recycles) instead of leaving one dead entry at a random place of the
-- (merchant_id, nonce) key per purged nonce (internal/store/nonce.go). The expiry index goes:
-- the purge selects by slot. Live nonces are carried over, so no request becomes replayable. The
-- autovacuum settings of 0018 are kept.
CREATE TABLE auth_nonces_slotted (
    slot        BIGINT NOT NULL,
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (slot, merchant_id, nonce)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000);
INSERT INTO auth_nonces_slotted (slot, merchant_id, nonce, expires_at)
    SELECT floor(extract(epoch FROM expires_at) / 120)::bigint, merchant_id, nonce, expires_at FROM auth_nonces;
DROP TABLE auth_nonces;
ALTER TABLE auth_nonces_slotted RENAME TO auth_nonces;
ALTER INDEX auth_nonces_slotted_pkey RENAME TO auth_nonces_pkey;

-- +goose Down
CREATE TABLE auth_nonces_keyed (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000);
INSERT INTO auth_nonces_keyed (merchant_id, nonce, expires_at)
    SELECT merchant_id, nonce, MAX(expires_at) FROM auth_nonces GROUP BY merchant_id, nonce;
DROP TABLE auth_nonces;
ALTER TABLE auth_nonces_keyed RENAME TO auth_nonces;
ALTER INDEX auth_nonces_keyed_pkey RENAME TO auth_nonces_pkey;
CREATE INDEX auth_nonces_expires ON auth_nonces (expires_at);
