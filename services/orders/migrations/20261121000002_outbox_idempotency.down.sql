DROP TABLE idempotency_keys;
DROP TABLE outbox;
DROP INDEX orders_pending_idx;
DROP INDEX orders_release_pending_idx;
ALTER TABLE orders DROP COLUMN stock_released_at;
ALTER TABLE orders DROP COLUMN user_email;
