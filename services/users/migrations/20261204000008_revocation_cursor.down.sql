DROP INDEX sessions_revoked_xid_idx;
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_has_xid;
ALTER TABLE sessions DROP COLUMN revoked_xid;
