-- +goose Up
-- The retention purge (notify.retention, run by serve's sweeper) deletes delivered notifications
-- whose delivery is older than the retention, oldest delivery first, 1,000 per transaction. No
-- other index orders delivered notifications by delivered_at: notifications_created would make
-- every pass step again over every old notification that is kept (dead ones wait for a replay
-- and are never purged), a cost that grows with history. This partial index holds delivered
-- notifications only (the rows the purge may delete), so a pass reads the rows it deletes and
-- no others; it is as bounded as the table it indexes.
CREATE INDEX notifications_delivered ON notifications (delivered_at) WHERE status = 'delivered';

-- +goose Down
DROP INDEX notifications_delivered;
