-- +goose Up
-- schedule_base: the attempt count at which the retry schedule (re)started; a replay sets it to
-- attempts, so a replayed notification gets the whole schedule again while attempts keeps counting.
-- replay_pending: the next attempt is an operator's replay and is recorded as manual.
ALTER TABLE notifications ADD COLUMN schedule_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN replay_pending BOOLEAN NOT NULL DEFAULT FALSE;
-- In-flight claims per merchant (the per-merchant concurrency cap); completion clears locked_until,
-- so this index holds only the notifications being delivered or abandoned by a dead worker.
CREATE INDEX notifications_leased ON notifications (merchant_id, locked_until) WHERE locked_until IS NOT NULL;
CREATE INDEX notifications_created ON notifications (created_at);
-- Claims read the due queue in (next_attempt_at, id) order: with id in the index a claim stops
-- after LIMIT rows instead of sorting every due notification.
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE status IN ('pending', 'failed');

-- +goose Down
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'failed');
DROP INDEX notifications_created;
DROP INDEX notifications_leased;
ALTER TABLE notifications DROP COLUMN replay_pending;
ALTER TABLE notifications DROP COLUMN schedule_base;
