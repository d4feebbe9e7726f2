-- One row naming this store, so what daemons keep about it elsewhere (a cache in a Redis that
-- other deployments may share) is kept under its name. The id is written by the first daemon.
CREATE TABLE store_identity (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id        TEXT NOT NULL
);
