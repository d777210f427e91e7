ALTER TABLE stock_reservations ADD COLUMN released_at TIMESTAMPTZ;
UPDATE stock_reservations s SET released_at = r.updated_at
FROM reservations r WHERE r.order_id = s.order_id AND r.status IN ('released', 'expired');
CREATE INDEX stock_reservations_held_idx ON stock_reservations (order_id) WHERE released_at IS NULL;
ALTER TABLE stock_reservations DROP CONSTRAINT stock_reservations_order_fk;
DROP TABLE reservations;
