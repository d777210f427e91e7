DROP TABLE oauth_used_states;
