-- +goose Up
-- The foreign key from ledger_postings to ledger_journals is dropped on PostgreSQL. Journals and
-- their postings are written by one statement from the same arrays (or in one transaction), so
-- a posting never names a journal that is not there; yet each posting paid for the key's check
-- at the statement's end: a query of its own, a KEY SHARE lock on the journal's row and a WAL
-- record for that lock, two a payment (BENCHMARKS.md, issue 12, ninth round). `paygw verify`
-- checks it instead (CheckReferences). SQLite keeps the key.
ALTER TABLE ledger_postings DROP CONSTRAINT ledger_postings_journal_id_fkey;

-- +goose Down
ALTER TABLE ledger_postings ADD CONSTRAINT ledger_postings_journal_id_fkey
    FOREIGN KEY (journal_id) REFERENCES ledger_journals (id);
