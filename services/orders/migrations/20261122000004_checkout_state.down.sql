DROP INDEX outbox_dead_idx;
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (next_attempt_at, id) WHERE published_at IS NULL;
ALTER TABLE outbox DROP COLUMN dead_at;
ALTER TABLE outbox DROP COLUMN leased_until;
DROP INDEX orders_status_created_idx;
ALTER TABLE orders DROP COLUMN repair_after;
ALTER TABLE orders DROP CONSTRAINT orders_abandoned_only_pending;
ALTER TABLE orders DROP COLUMN abandoned_at;
