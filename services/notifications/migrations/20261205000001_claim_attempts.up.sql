-- Exactly one email per event. Every claim of a notification (the first, a
-- take-over, an admin's retry) bumps `attempt`, and only the holder of the
-- current attempt may start the SMTP exchange or record its outcome.
-- `send_started_at` is written, under the claim, just before the exchange
-- begins: a claim that ran out after that point may already have reached the
-- recipient, so it is settled as failed with an unknown outcome instead of
-- being sent again by the next delivery.
ALTER TABLE notifications ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE notifications ADD COLUMN send_started_at TIMESTAMPTZ;
UPDATE notifications SET claimed_until = NULL WHERE status <> 'sending' AND claimed_until IS NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_settled_unclaimed
    CHECK (status = 'sending' OR claimed_until IS NULL);
-- The toast announced with the notification, kept so that a listener that
-- stopped hearing the database can replay what it missed.
ALTER TABLE notifications ADD COLUMN push JSONB;
-- Retention finds old handled-event marks by time.
CREATE INDEX processed_events_processed_idx ON processed_events (processed_at);
