-- Small facts about this store that every daemon sharing it must agree on, by name:
-- keys_required (an API key has existed: the API stays closed without one), cache_mac_key (what
-- authenticates the function entries daemons keep in Redis) and master_key_check (proves a
-- daemon's master key is the one the secrets are encrypted under). Written insert-if-absent.
CREATE TABLE nova_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO nova_settings (name, value)
SELECT 'keys_required', '1' WHERE EXISTS (SELECT 1 FROM api_keys);
