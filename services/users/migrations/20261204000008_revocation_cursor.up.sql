-- The revocation feed is read by a cursor over the ids of the transactions
-- that ended sessions, not by their clocks: a transaction's `now()` is when
-- it began, so one that committed late could fall behind a reader's
-- timestamp and never be seen. xid8 never wraps.
ALTER TABLE sessions ADD COLUMN revoked_xid xid8;
-- Ended before there was a cursor: listed to every reader from the start.
UPDATE sessions SET revoked_xid = '1'::xid8 WHERE revoked_at IS NOT NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_has_xid
    CHECK ((revoked_at IS NULL) = (revoked_xid IS NULL));
CREATE INDEX sessions_revoked_xid_idx ON sessions (revoked_xid) WHERE revoked_xid IS NOT NULL;
