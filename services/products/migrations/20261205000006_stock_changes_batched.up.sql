-- Stock moved by checkouts (reserve, release, expiry) changes many times a
-- second. A NOTIFY in those transactions would make each commit wait for
-- PostgreSQL's one notification lock, so they set `shop.changes_announced`
-- to 'app' and the service announces the rows itself, in batches, once
-- they commit (platform::cache). Every other change is still announced
-- here.
CREATE OR REPLACE FUNCTION announce_product_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('products_changed', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('products_changed', OLD.id::text);
    ELSIF TG_OP = 'UPDATE'
        AND current_setting('shop.changes_announced', true) = 'app' THEN
        NULL;
    ELSE
        PERFORM pg_notify('products_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
