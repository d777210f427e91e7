-- One picture per product, kept in the database so every replica serves the
-- same bytes. Only raster formats a browser shows as an image are taken; the
-- service checks the bytes against the type before writing.
CREATE TABLE product_images (
    product_id   BIGINT PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    content_type TEXT NOT NULL
        CHECK (content_type IN ('image/webp', 'image/avif', 'image/png', 'image/jpeg')),
    width        INTEGER NOT NULL CHECK (width BETWEEN 1 AND 8192),
    height       INTEGER NOT NULL CHECK (height BETWEEN 1 AND 8192),
    bytes        BYTEA NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 1000000),
    -- A fingerprint of the bytes: the picture's address carries it, so a
    -- browser may keep it for a year.
    digest       TEXT NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The formats are compressed already: kept out of line, never compressed again.
ALTER TABLE product_images ALTER COLUMN bytes SET STORAGE EXTERNAL;
