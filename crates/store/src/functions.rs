//! Functions and their code: the aggregate that the control plane registers, updates and runs.

use std::time::SystemTime;

use async_trait::async_trait;
use nova_api::Function;

use crate::StoreError;

/// Function metadata and code, by name and by code hash.
///
/// Code is stored by its hash, once however many functions use it, and goes when the last
/// function or version using it does. Each insert and replace also records the function's new
/// state as its version (read through [`crate::VersionStore`]) in the same transaction, and a
/// delete removes the function's versions. Errors about a function carry
/// [`crate::Kind::Function`].
#[async_trait]
pub trait FunctionStore: Send + Sync + 'static {
    /// Adds a new function and its code. Fails with `AlreadyExists` if the name is taken.
    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError>;

    /// Replaces a function if its stored version is still `expected_version` (else `Conflict`,
    /// or `NotFound` when there is none); new code is stored when given.
    async fn replace_function(
        &self,
        function: &Function,
        code: Option<&[u8]>,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// The function called `name`, if there is one.
    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError>;

    /// Functions sorted by name.
    async fn list_functions(&self, query: &ListQuery) -> Result<Vec<Function>, StoreError>;

    /// Removes a function and its versions; `false` if there was none. Code no function or
    /// version uses any more goes too.
    async fn delete_function(&self, name: &str) -> Result<bool, StoreError>;

    /// The code whose hash is `hash`, if a function or a version uses it.
    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Paging and filtering for [`FunctionStore::list_functions`].
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Substring of the name, case-insensitive.
    pub search: Option<String>,
    /// Functions per page at most.
    pub limit: u32,
    /// Functions to skip, in name order.
    pub offset: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            search: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Now, as RFC 3339 with milliseconds: how a [`Function`]'s times are written.
pub fn record_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
