-- Accounts. Emails are stored lower-case; email and username are unique.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL CHECK (email = lower(email) AND position('@' IN email) > 1),
    username      TEXT NOT NULL CHECK (char_length(username) BETWEEN 3 AND 50),
    -- NULL for accounts that only sign in with Google.
    password_hash TEXT,
    role          TEXT NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    google_sub    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_google_sub_key UNIQUE (google_sub)
);
