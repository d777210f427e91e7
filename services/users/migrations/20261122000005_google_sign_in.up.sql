-- Sign-in with Google: each `state` completes at most once, whatever the
-- replica, so a replayed callback is refused. Pruned after a day (a state
-- cookie lives ten minutes).
CREATE TABLE oauth_used_states (
    state   TEXT PRIMARY KEY CHECK (char_length(state) BETWEEN 16 AND 200),
    used_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
