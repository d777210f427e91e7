-- Every status an order took, and when: written by the database itself on
-- every insert and status change, so no code path can skip it. The order's
-- timeline (placed = pending, confirmed, shipped, delivered, cancelled)
-- comes from here. A checkout that never completed is deleted with its rows.
CREATE TABLE order_history (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX order_history_by_order ON order_history (order_id, id);

CREATE FUNCTION record_order_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO order_history (order_id, status) VALUES (NEW.id, NEW.status);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER orders_status_history
    AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION record_order_status();

-- Orders from before the history: placed when created, and their current
-- status as of their last change.
INSERT INTO order_history (order_id, status, at)
    SELECT id, 'pending', created_at FROM orders;
INSERT INTO order_history (order_id, status, at)
    SELECT id, status, updated_at FROM orders WHERE status <> 'pending';
