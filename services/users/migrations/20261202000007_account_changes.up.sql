-- Every change to an account is announced when its transaction commits, so
-- each replica drops its in-memory copy of `/users/me` (platform::cache). Profile
-- and role changes, deactivation and Google links all pass through here.
CREATE FUNCTION announce_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('users_changed', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('users_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('users_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_announce_change
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION announce_user_change();

CREATE TRIGGER users_announce_truncate
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION announce_user_change();
