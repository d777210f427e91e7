-- Failed sign-ins, per account, to throttle password guessing. Shared by
-- every users replica; a successful sign-in clears the account's rows, and
-- rows older than a day are pruned.
CREATE TABLE login_failures (
    id        BIGSERIAL PRIMARY KEY,
    email     TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at DESC);
