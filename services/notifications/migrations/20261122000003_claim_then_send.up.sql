-- The consumer claims an event and records its notification as `sending` in
-- one short transaction, sends the email with no transaction open, then
-- records `sent` or `failed`. A claim whose handler died is taken over by
-- the message's next delivery once `claimed_until` has passed.
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('sending', 'sent', 'failed'));
ALTER TABLE notifications DROP CONSTRAINT notifications_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_failed_has_error
    CHECK (status <> 'failed' OR error_message IS NOT NULL);
ALTER TABLE notifications ADD COLUMN claimed_until TIMESTAMPTZ;
-- One notification per event.
CREATE UNIQUE INDEX notifications_event_idx ON notifications (event_id);
