-- +goose Up
-- Claims take each merchant's oldest due notifications, up to its free slots, one index probe per
-- merchant with waiting notifications: a merchant at its cap costs nothing however long its
-- backlog (the global due-order scan had to step over every row of such a merchant).
CREATE INDEX notifications_due_merchant ON notifications (merchant_id, next_attempt_at, id) WHERE status IN ('pending', 'failed');

-- +goose Down
DROP INDEX notifications_due_merchant;
