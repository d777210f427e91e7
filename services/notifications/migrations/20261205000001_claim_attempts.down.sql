DROP INDEX processed_events_processed_idx;
ALTER TABLE notifications DROP COLUMN push;
ALTER TABLE notifications DROP CONSTRAINT notifications_settled_unclaimed;
ALTER TABLE notifications DROP COLUMN send_started_at;
ALTER TABLE notifications DROP COLUMN attempt;
