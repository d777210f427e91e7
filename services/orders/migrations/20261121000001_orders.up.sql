-- Orders and their lines. A line's name and price are copied when the order
-- is placed, so later product changes never alter an existing order.
CREATE TABLE orders (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    total_amount NUMERIC(12, 2) NOT NULL CHECK (total_amount >= 0),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_items (
    id            BIGSERIAL PRIMARY KEY,
    order_id      BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id    BIGINT NOT NULL,
    product_name  TEXT NOT NULL,
    product_price NUMERIC(12, 2) NOT NULL CHECK (product_price > 0),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    subtotal      NUMERIC(12, 2) NOT NULL CHECK (subtotal = product_price * quantity),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT order_items_product_once UNIQUE (order_id, product_id)
);
