-- Stock held for an order. Reserving takes the units out of
-- products.stock_quantity at once (so what is listed can still be bought);
-- releasing puts them back. One row per order line; the primary key makes
-- reserving idempotent per order id.
CREATE TABLE stock_reservations (
    order_id      BIGINT NOT NULL,
    product_id    BIGINT NOT NULL REFERENCES products (id),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    -- The name and price at the moment of reserving: the order's snapshot.
    product_name  TEXT NOT NULL,
    product_price NUMERIC(12, 2) NOT NULL CHECK (product_price > 0),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    released_at   TIMESTAMPTZ,
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX stock_reservations_held_idx ON stock_reservations (order_id) WHERE released_at IS NULL;
