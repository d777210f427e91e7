-- Per-address limits: a failed sign-in keeps the client's address, and
-- registration attempts are counted per address. Shared by every replica.
ALTER TABLE login_failures ADD COLUMN address INET;
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at DESC)
    WHERE address IS NOT NULL;
CREATE TABLE registration_attempts (
    id           BIGSERIAL PRIMARY KEY,
    address      INET NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX registration_attempts_address_idx ON registration_attempts (address, attempted_at DESC);
