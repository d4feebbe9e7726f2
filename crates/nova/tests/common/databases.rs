//! A database of its own on this machine's Postgres (`NOVA_TEST_PG_DSN`, else the shared `test`
//! database's server) for a test that needs a fresh store: no tables, no API keys ever made, no
//! master key check value. Dropped when the guard goes.

use sqlx::Connection as _;

pub struct FreshDatabase {
    /// Connects to the new database.
    pub dsn: String,
    name: String,
    admin: String,
}

fn admin_dsn() -> String {
    std::env::var("NOVA_TEST_PG_DSN")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
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
        let admin = admin_dsn();
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

impl FreshDatabase {
    /// [`FreshDatabase::create`] for a test without a runtime.
    pub fn create_blocking() -> FreshDatabase {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(FreshDatabase::create())
        })
        .join()
        .expect("create a database")
    }
}

/// Daemons sharing a store must share its secrets' master key: writes one into `dir` and
/// returns the config file section that names it.
pub fn master_key_config(dir: &std::path::Path) -> String {
    use base64::Engine as _;
    let path = dir.join("shared-master.key");
    let key: [u8; 32] = *uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .copied()
        .collect::<Vec<u8>>()
        .first_chunk()
        .expect("32 bytes");
    std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode(key))
        .expect("write the master key");
    format!("secrets:\n  master_key_file: {}\n", path.display())
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
