-- Development only: the generated token-signing key, kept so tokens survive a
-- restart. Production passes JWT_PRIVATE_KEY and this table stays empty.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
