//! The database as a whole, apart from any aggregate in it.

use async_trait::async_trait;

use crate::StoreError;

/// What is asked of the database itself rather than of one kind of record: whether it answers
/// and what it is called.
///
/// Its own trait, not part of [`crate::FunctionStore`] or any other aggregate's: the
/// [`crate::Breaker`] probes a database (not a table) until it answers, and the identity names a
/// deployment (every daemon sharing the store) for whatever keys shared services by it, such as
/// Nova's function cache in Redis. Putting either on an aggregate's trait would make every
/// decorator of that aggregate forward them, and give callers of the others no way to ask.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Whether the database answers at all.
    async fn ping(&self) -> Result<(), StoreError>;

    /// This store's name, the same for every daemon sharing it; made on first use.
    async fn identity(&self) -> Result<String, StoreError>;
}
