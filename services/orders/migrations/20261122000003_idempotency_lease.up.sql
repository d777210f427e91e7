-- A claim on an `Idempotency-Key` is a lease: a request that died (timed
-- out, client gone, process killed) leaves its key unfinished, and a retry
-- takes it over once the lease has run out instead of waiting for ever.
ALTER TABLE idempotency_keys ADD COLUMN claimed_until TIMESTAMPTZ NOT NULL DEFAULT now();
-- Old keys are pruned by age.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
