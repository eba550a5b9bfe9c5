-- +goose Up
-- Autovacuum thresholds for the tables that churn with every payment (docs/operations.md, "Soak
-- and storage growth"). With the global defaults (scale factor 0.2) a table of 100 M payments waits
-- for 20 M dead rows before it is vacuumed; the soak leaves one dead row per payment in payments
-- (insert, then the status update) and two per notification (claimed, then delivered). Here each
-- is vacuumed and analysed after 1 % of its rows changed (plus 1,000), and vacuumed after 1 % new
-- rows (insert-only growth: visibility map and freezing). auth_nonces stays small (rows live as
-- long as the nonce window) but every row is deleted by the purge: 5 %. Settings only: no rewrite,
-- a SHARE UPDATE EXCLUSIVE lock for an instant. They take effect only where autovacuum is on.
ALTER TABLE payments SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE notifications SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01);
ALTER TABLE auth_nonces SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 1000);

-- +goose Down
ALTER TABLE payments RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_analyze_scale_factor, autovacuum_vacuum_insert_scale_factor);
ALTER TABLE notifications RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_analyze_scale_factor, autovacuum_vacuum_insert_scale_factor);
ALTER TABLE auth_nonces RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
