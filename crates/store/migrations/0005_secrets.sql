-- Secrets, encrypted with AES-256-GCM under the master key (never stored here); the name is the
-- associated data, so a ciphertext cannot be moved to another name.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    nonce      BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
