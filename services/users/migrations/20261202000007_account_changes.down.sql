DROP TRIGGER users_announce_truncate ON users;
DROP TRIGGER users_announce_change ON users;
DROP FUNCTION announce_user_change();
