//! How every crate of ours opens a database through sqlx's Any driver (the `sql` feature, off by
//! default, so that a crate without a database compiles no driver): SQLite or Postgres by the
//! URL, a database that does not answer reported within seconds, and each new SQLite connection
//! set up with the caller's pragmas.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Opens a pool of at most `connections` on `url` (`sqlite://…` or `postgres://…`). Every new
/// connection to SQLite first runs each of `sqlite_pragmas` (`PRAGMA busy_timeout = 5000`, …);
/// Postgres connections are used as they come. Waiting for a connection fails after 5 seconds.
pub async fn open(
    url: &str,
    connections: u32,
    sqlite_pragmas: &'static [&'static str],
) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(connections)
        // A database that does not answer is reported within seconds, not minutes.
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if conn.backend_name() == "SQLite" {
                    for pragma in sqlite_pragmas {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_connections_run_the_pragmas() {
        let pool = open("sqlite::memory:", 1, &["PRAGMA busy_timeout = 1234"])
            .await
            .expect("open");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&pool)
            .await
            .expect("read");
        assert_eq!(timeout, 1234);
    }
}
