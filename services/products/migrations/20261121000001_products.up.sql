-- The catalogue. Constraints are the last line of defence for every rule the
-- code relies on: prices positive, stock never negative, SKUs unique and upper-case.
CREATE TABLE products (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT NOT NULL CHECK (char_length(name) BETWEEN 3 AND 200),
    description    TEXT CHECK (description IS NULL OR char_length(description) <= 1000),
    price          NUMERIC(12, 2) NOT NULL CHECK (price > 0),
    stock_quantity INTEGER NOT NULL CHECK (stock_quantity >= 0),
    sku            TEXT NOT NULL CHECK (char_length(sku) BETWEEN 3 AND 50 AND sku = upper(sku)),
    category       TEXT CHECK (category IS NULL OR char_length(category) <= 100),
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_key UNIQUE (sku)
);

CREATE INDEX products_category_idx ON products (category);
CREATE INDEX products_created_at_idx ON products (created_at DESC);
