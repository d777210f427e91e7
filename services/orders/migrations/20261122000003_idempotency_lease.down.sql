DROP INDEX idempotency_keys_created_idx;
ALTER TABLE idempotency_keys DROP COLUMN order_id;
ALTER TABLE idempotency_keys DROP COLUMN claimed_until;
