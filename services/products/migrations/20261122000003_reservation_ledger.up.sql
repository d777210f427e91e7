-- Reservations as a ledger: one row per order says where its hold stands.
--   held → confirmed | released | expired;  confirmed → released (cancelled).
-- A release that arrives before its reservation (the orders service gave up
-- waiting) leaves a `released` row without lines, so the late reservation is
-- refused instead of holding stock that no order references. Holds never
-- confirmed expire at `expires_at` and their stock comes back.
CREATE TABLE reservations (
    order_id   BIGINT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released', 'expired')),
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX reservations_held_expiry_idx ON reservations (expires_at) WHERE status = 'held';

-- Earlier reservations were never confirmed explicitly: an unreleased one
-- belonged to a confirmed order.
INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
SELECT order_id,
       CASE WHEN bool_or(released_at IS NOT NULL) THEN 'released' ELSE 'confirmed' END,
       min(created_at), min(created_at), now()
FROM stock_reservations GROUP BY order_id;

ALTER TABLE stock_reservations
    ADD CONSTRAINT stock_reservations_order_fk FOREIGN KEY (order_id) REFERENCES reservations (order_id);
DROP INDEX stock_reservations_held_idx;
ALTER TABLE stock_reservations DROP COLUMN released_at;
