-- +goose Up
-- PostgreSQL's per-table autovacuum settings (see schema/postgres/0018_autovacuum.sql); SQLite
-- reuses freed pages itself and has nothing to set.
SELECT 1;

-- +goose Down
SELECT 1;
