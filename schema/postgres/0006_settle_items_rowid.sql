-- +goose Up
-- SQLite's settle_items becomes a rowid table with a unique index on object_id (see
-- schema/sqlite/0006_settle_items_rowid.sql). On PostgreSQL settle_items already is a heap with
-- a unique B-tree index on object_id (its primary key), so nothing changes; the version exists
-- so that both dialects keep the same migration numbers.
SELECT 1;

-- +goose Down
SELECT 1;
