-- +goose Up
-- PostgreSQL drops the foreign key from ledger_postings to ledger_journals (see
-- schema/postgres/0022). SQLite checks keys without locks or extra log records: it keeps it.
SELECT 1;

-- +goose Down
SELECT 1;
