-- Functions choose their network: none (loopback only, the default) or host.
ALTER TABLE functions ADD COLUMN network TEXT NOT NULL DEFAULT 'none';
