DROP INDEX notifications_event_idx;
ALTER TABLE notifications DROP COLUMN claimed_until;
UPDATE notifications SET status = 'failed', error_message = 'Interrupted while sending'
WHERE status = 'sending';
ALTER TABLE notifications DROP CONSTRAINT notifications_failed_has_error;
ALTER TABLE notifications ADD CONSTRAINT notifications_check
    CHECK (status = 'sent' OR error_message IS NOT NULL);
ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('sent', 'failed'));
