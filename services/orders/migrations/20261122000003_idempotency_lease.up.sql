-- A claim on an `Idempotency-Key` is a lease: a request that died (timed
-- out, client gone, process killed) leaves its key unfinished, and a retry
-- takes it over once the lease has run out instead of waiting for ever.
ALTER TABLE idempotency_keys ADD COLUMN claimed_until TIMESTAMPTZ NOT NULL DEFAULT now();
-- Set in the transaction that confirms the order: a retry after a lost
-- commit acknowledgement finds the order instead of placing a second one.
ALTER TABLE idempotency_keys ADD COLUMN order_id BIGINT;
-- Old keys are pruned by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
