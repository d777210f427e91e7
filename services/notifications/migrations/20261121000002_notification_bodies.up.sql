-- What was (or should have been) sent, so an admin can retry a failed email
-- exactly as it was rendered; and the event it came from.
ALTER TABLE notifications ADD COLUMN event_id UUID REFERENCES processed_events (event_id);
ALTER TABLE notifications ADD COLUMN body_html TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN body_text TEXT NOT NULL DEFAULT '';
CREATE INDEX notifications_created_idx ON notifications (created_at DESC, id DESC);
