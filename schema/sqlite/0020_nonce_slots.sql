-- +goose Up
-- Nonces keyed by slot (expiry in Unix seconds ÷ 120) first: new nonces go to the right end of
-- the key and the purge deletes whole slots from its left end, in key order, instead of one entry
-- at a random place of the (merchant_id, nonce) key per purged nonce (internal/store/nonce.go).
-- WITHOUT ROWID: the key is the table, one b-tree instead of a table, a key index and an
-- expiry index. Live nonces are carried over, so no request becomes replayable.
CREATE TABLE auth_nonces_slotted (
    slot        BIGINT NOT NULL,
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  DATETIME NOT NULL,
    PRIMARY KEY (slot, merchant_id, nonce)
) WITHOUT ROWID;
INSERT INTO auth_nonces_slotted (slot, merchant_id, nonce, expires_at)
    SELECT CAST(strftime('%s', expires_at) AS INTEGER) / 120, merchant_id, nonce, expires_at FROM auth_nonces;
DROP TABLE auth_nonces;
ALTER TABLE auth_nonces_slotted RENAME TO auth_nonces;

-- +goose Down
CREATE TABLE auth_nonces_keyed (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  DATETIME NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
);
INSERT INTO auth_nonces_keyed (merchant_id, nonce, expires_at)
    SELECT merchant_id, nonce, MAX(expires_at) FROM auth_nonces GROUP BY merchant_id, nonce;
DROP TABLE auth_nonces;
ALTER TABLE auth_nonces_keyed RENAME TO auth_nonces;
CREATE INDEX auth_nonces_expires ON auth_nonces (expires_at);
