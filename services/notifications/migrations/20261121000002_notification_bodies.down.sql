DROP INDEX notifications_created_idx;
ALTER TABLE notifications DROP COLUMN body_text;
ALTER TABLE notifications DROP COLUMN body_html;
ALTER TABLE notifications DROP COLUMN event_id;
