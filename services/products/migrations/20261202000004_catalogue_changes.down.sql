DROP TRIGGER products_announce_truncate ON products;
DROP TRIGGER products_announce_change ON products;
DROP FUNCTION announce_product_change();
