-- What was sent (or failed to send), and which events were already handled:
-- delivery is at least once, so a repeated event_id must be a no-op.
CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('order_confirmation', 'order_status_update')),
    recipient_email TEXT NOT NULL,
    subject         TEXT NOT NULL,
    order_id        BIGINT,
    user_id         BIGINT,
    status          TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    error_message   TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (status = 'sent' OR error_message IS NOT NULL)
);

CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at DESC);

CREATE TABLE processed_events (
    event_id     UUID PRIMARY KEY,
    event_type   TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
