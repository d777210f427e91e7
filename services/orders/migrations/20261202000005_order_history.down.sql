DROP TRIGGER orders_status_history ON orders;
DROP FUNCTION record_order_status();
DROP TABLE order_history;
