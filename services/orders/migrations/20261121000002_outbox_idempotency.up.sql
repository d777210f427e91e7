-- The owner's email travels with the order's events.
ALTER TABLE orders ADD COLUMN user_email TEXT NOT NULL DEFAULT '';
-- Set once the stock of a cancelled order is back at the products service;
-- a background task retries until it is.
ALTER TABLE orders ADD COLUMN stock_released_at TIMESTAMPTZ;
CREATE INDEX orders_release_pending_idx ON orders (id)
    WHERE status = 'cancelled' AND stock_released_at IS NULL;
CREATE INDEX orders_pending_idx ON orders (created_at) WHERE status = 'pending';

-- Transactional outbox: events are written with the change that caused them
-- and published to the bus by a relay, so none is lost or sent early.
CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    event_id        UUID NOT NULL UNIQUE,
    event_type      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    published_at    TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished_idx ON outbox (next_attempt_at, id) WHERE published_at IS NULL;

-- `Idempotency-Key` per user: the first result is stored and replayed.
CREATE TABLE idempotency_keys (
    user_id      BIGINT NOT NULL,
    key          TEXT NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash TEXT NOT NULL,
    -- NULL while the first request is still running.
    status_code  INTEGER,
    response     TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
