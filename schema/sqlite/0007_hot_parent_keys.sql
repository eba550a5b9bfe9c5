-- +goose Up
-- PostgreSQL drops the foreign keys from high-rate inserts to hot parent rows (see
-- schema/postgres/0007). SQLite has one writer at a time and no KEY SHARE locks: it keeps them.
SELECT 1;

-- +goose Down
SELECT 1;
