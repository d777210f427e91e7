-- Every change to a product is announced when its transaction commits, so
-- each replica drops its in-memory copy (platform::cache). Stock changes
-- from reservations, expiries and admins all pass through here.
CREATE FUNCTION announce_product_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('products_changed', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('products_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('products_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER products_announce_change
    AFTER INSERT OR UPDATE OR DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION announce_product_change();

CREATE TRIGGER products_announce_truncate
    AFTER TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION announce_product_change();
