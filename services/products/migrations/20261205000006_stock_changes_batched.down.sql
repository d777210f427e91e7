CREATE OR REPLACE FUNCTION announce_product_change() RETURNS trigger
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
