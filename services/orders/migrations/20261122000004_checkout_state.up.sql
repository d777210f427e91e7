-- Checkout as a persisted state machine:
--   pending ──(stock reserved and confirmed at the products service)──▶ confirmed
--   pending ──(payment declined)──▶ cancelled (stock released)
--   pending ──(failed, timed out, or found stale by the repair loop)──▶ abandoned
-- An abandoned checkout can no longer be confirmed; its stock is released
-- (leaving a mark that refuses a late reservation) and the row removed.
ALTER TABLE orders ADD COLUMN abandoned_at TIMESTAMPTZ;
ALTER TABLE orders ADD CONSTRAINT orders_abandoned_only_pending
    CHECK (abandoned_at IS NULL OR status = 'pending');
-- A lease taken by the replica repairing this order; another replica's
-- repair pass skips it until then.
ALTER TABLE orders ADD COLUMN repair_after TIMESTAMPTZ;
-- Admins list orders by status.
CREATE INDEX orders_status_created_idx ON orders (status, created_at DESC, id DESC);

-- Outbox rows are leased to one relay while it publishes them (no
-- transaction is held across the broker call), and give up after a maximum
-- number of attempts: `dead`, logged and listed for an operator.
ALTER TABLE outbox ADD COLUMN leased_until TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN dead_at TIMESTAMPTZ;
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE published_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead_idx ON outbox (id) WHERE dead_at IS NOT NULL;
