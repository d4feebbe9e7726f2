//! What the tests of the store and of its users share (the `testing` feature): the Postgres
//! server they run against and a database of their own on it.

use sqlx::Connection as _;

/// The Postgres server the tests use: `NOVA_TEST_PG_DSN`, else this machine's shared `test`
/// database (`scripts/services.sh` starts it). A test that cannot reach it fails: CI runs the
/// store's tests on both databases.
pub fn pg_dsn() -> String {
    std::env::var("NOVA_TEST_PG_DSN")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

/// A database of its own on the tests' Postgres, for a test that needs a fresh store: no
/// tables, no API keys ever made, no settings, no master key check value. Dropped when the guard
/// goes.
pub struct FreshDatabase {
    /// Connects to the new database.
    pub dsn: String,
    name: String,
    admin: String,
}

async fn execute(dsn: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(dsn)
        .await
        .unwrap_or_else(|e| panic!("connect to Postgres: {e}"));
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// Runs the future `make` makes to its end on a thread and a runtime of its own, so that it can
/// be waited for from anywhere, inside a runtime or not.
fn on_own_runtime<T: Send + 'static, F: std::future::Future<Output = T>>(
    make: impl FnOnce() -> F + Send + 'static,
) -> std::thread::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(make())
    })
    .join()
}

impl FreshDatabase {
    /// Creates the database; panics when the server cannot be reached.
    pub async fn create() -> FreshDatabase {
        let admin = pg_dsn();
        let name = format!("nova_t_{}", uuid::Uuid::new_v4().simple());
        execute(&admin, &format!("CREATE DATABASE {name}")).await;
        let (server, _) = admin.rsplit_once('/').expect("a DSN with a database");
        FreshDatabase {
            dsn: format!("{server}/{name}"),
            name,
            admin,
        }
    }

    /// [`FreshDatabase::create`] for a test without a runtime.
    pub fn create_blocking() -> FreshDatabase {
        on_own_runtime(FreshDatabase::create).expect("create a database")
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (admin, sql) = (
            self.admin.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        // Drop may run inside a runtime: the statement gets a thread and a runtime of its own.
        let _ = on_own_runtime(move || async move { execute(&admin, &sql).await });
    }
}
