//! Function versions: every state a function has been in, kept immutable, so that an old one can
//! be read and run again.

use async_trait::async_trait;
use nova_api::FunctionVersion;

use crate::StoreError;

/// The versions of functions, newest first.
///
/// Versions are written by the [`crate::FunctionStore`] itself, in the transaction that changes
/// the function: inserting one records version 1, each replace records the new version, and
/// deleting a function deletes its versions. This trait reads them and describes them. A
/// version's code is kept as long as the version is.
#[async_trait]
pub trait VersionStore: Send + Sync + 'static {
    /// The function's versions, newest first, `query.limit` from `query.offset`. Empty when there
    /// is no such function.
    async fn list_versions(
        &self,
        function: &str,
        query: &VersionQuery,
    ) -> Result<Vec<FunctionVersion>, StoreError>;

    /// Version `number` of the function, if there is one.
    async fn get_version(
        &self,
        function: &str,
        number: u64,
    ) -> Result<Option<FunctionVersion>, StoreError>;

    /// Publishes the function's current state with `description`: the version of its current
    /// number, recorded now if it is not yet (a function written before versions were kept),
    /// with the description set if it had none. A version already described keeps its
    /// description. `NotFound` ([`crate::Kind::Function`]) when there is no such function.
    async fn publish_version(
        &self,
        function: &str,
        description: &str,
    ) -> Result<FunctionVersion, StoreError>;
}

/// Paging for [`VersionStore::list_versions`].
#[derive(Debug, Clone)]
pub struct VersionQuery {
    /// Versions per page at most.
    pub limit: u32,
    /// Versions to skip, newest first.
    pub offset: u32,
}

impl Default for VersionQuery {
    fn default() -> Self {
        VersionQuery {
            limit: 100,
            offset: 0,
        }
    }
}
