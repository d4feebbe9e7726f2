//! Aliases of functions: names that point at a version (and optionally send a share of the
//! calls to a second one), so that callers name `live` and an operator moves it.

use async_trait::async_trait;
use nova_api::FunctionAlias;

use crate::StoreError;

/// The aliases of functions.
///
/// An alias only ever points at versions that exist: [`AliasStore::put_alias`] refuses one that
/// names a missing version, in the transaction that writes it. Versions are never deleted on
/// their own, so a version (and its code) an alias points at stays; deleting the function
/// deletes its aliases with its versions.
#[async_trait]
pub trait AliasStore: Send + Sync + 'static {
    /// Writes `alias` (of `alias.function`), its timestamps set by the store: `created_at` kept
    /// when it replaces one. With `replace` false an existing alias of that name is
    /// `AlreadyExists` ([`crate::Kind::Alias`]). `NotFound` ([`crate::Kind::Function`]) without
    /// the function; `NotFound` ([`crate::Kind::Version`], named by the number) when a version it
    /// points at does not exist. Returns the alias as stored.
    async fn put_alias(
        &self,
        alias: &FunctionAlias,
        replace: bool,
    ) -> Result<FunctionAlias, StoreError>;

    /// The alias `name` of `function`, if there is one.
    async fn get_alias(
        &self,
        function: &str,
        name: &str,
    ) -> Result<Option<FunctionAlias>, StoreError>;

    /// The function's aliases by name. Empty when there is no such function.
    async fn list_aliases(&self, function: &str) -> Result<Vec<FunctionAlias>, StoreError>;

    /// Deletes the alias; whether there was one.
    async fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError>;
}
