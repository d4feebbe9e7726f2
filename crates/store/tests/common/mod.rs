//! What the store's tests share: the Postgres to run against and a fresh database on it.

#![allow(dead_code)]

use sqlx::Connection as _;

/// The Postgres server the tests use: `NOVA_TEST_PG_DSN`, else this machine's (`scripts/services.sh`
/// starts it). A test that cannot reach it fails: CI runs these on both databases.
pub fn pg_dsn() -> String {
    std::env::var("NOVA_TEST_PG_DSN")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

/// A database of its own on the tests' Postgres, for a test that needs a fresh store: no
/// tables, no API keys ever made, no settings. Dropped when the guard goes.
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

impl FreshDatabase {
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
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let (admin, sql) = (
            self.admin.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        // Drop may run inside a runtime: the statement gets a thread and a runtime of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(execute(&admin, &sql));
        })
        .join();
    }
}
