//! The COMET context-exchange API that ORCA/ExoGENI and Chameleon VMs use to share hostnames,
//! SSH keys and instance data (users, interfaces, routes, scripts, storage) with the other VMs of
//! their slice. Existing clients (ORCA's controller, the Python `CometInterface`,
//! neuca-guest-tools) work against it unchanged.
//!
//! Outside in: [`http`] (the wire format) → [`service::Exchange`] (tokens, expiry) →
//! [`store::ContextStore`] (SQLite embedded, or Postgres shared by several heads). [`tls`] serves
//! any router over HTTPS, with optional client certificates.

pub mod config;
pub mod entry;
pub mod http;
pub mod service;
pub mod store;
pub mod tls;

use std::path::Path;
use std::sync::Arc;

pub use config::ContextConfig;
pub use service::Exchange;
use store::cached::CachedStore;
use store::sql::SqlStore;
use store::{ContextStore, StoreError};

/// Opens the configured store: `embedded` is SQLite at `<data_dir>/context.db`.
pub async fn open(config: &ContextConfig, data_dir: &Path) -> Result<Arc<Exchange>, OpenError> {
    let store: Arc<dyn ContextStore> = match config.store.as_str() {
        "embedded" => {
            let sql = SqlStore::sqlite(&data_dir.join("context.db"))
                .await?
                .with_limits(config.limits());
            Arc::new(CachedStore::load(sql).await?)
        }
        dsn if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") => {
            Arc::new(SqlStore::postgres(dsn).await?.with_limits(config.limits()))
        }
        other => return Err(OpenError::Store(other.to_string())),
    };
    Ok(Arc::new(Exchange::new(store, config)))
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("context.store must be 'embedded' or a postgres:// DSN, not '{0}'")]
    Store(String),
    #[error(transparent)]
    Database(#[from] StoreError),
}
