//! Schema migrations, embedded in the binary and applied in order at start-up.
//!
//! A small runner of our own rather than sqlx's macros: it needs no database at build time and
//! runs the same files on SQLite and Postgres.

/// Every migration, oldest first. Never edit one that has shipped; add a new one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "functions",
        include_str!("../migrations/0001_functions.sql"),
    ),
    (2, "network", include_str!("../migrations/0002_network.sql")),
    (
        3,
        "invocations",
        include_str!("../migrations/0003_invocations.sql"),
    ),
    (
        4,
        "api_keys",
        include_str!("../migrations/0004_api_keys.sql"),
    ),
    (5, "secrets", include_str!("../migrations/0005_secrets.sql")),
    (
        6,
        "store_identity",
        include_str!("../migrations/0006_store_identity.sql"),
    ),
    (
        7,
        "settings",
        include_str!("../migrations/0007_settings.sql"),
    ),
    (
        8,
        "versions",
        include_str!("../migrations/0008_versions.sql"),
    ),
    (9, "aliases", include_str!("../migrations/0009_aliases.sql")),
    (10, "async", include_str!("../migrations/0010_async.sql")),
    (
        11,
        "schedules",
        include_str!("../migrations/0011_schedules.sql"),
    ),
    (
        12,
        "async_configs",
        include_str!("../migrations/0012_async_configs.sql"),
    ),
    (
        13,
        "async_claim_indexes",
        include_str!("../migrations/0013_async_claim_indexes.sql"),
    ),
    (
        14,
        "packages",
        include_str!("../migrations/0014_packages.sql"),
    ),
];

/// The ledger of applied migrations, created before anything else.
pub const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS nova_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";
