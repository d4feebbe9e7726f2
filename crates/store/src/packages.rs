//! Packages (seed 004): the classes and functions a developer applied, kept whole as they were
//! applied, so that `nova package get` shows them and objects find their classes.

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;

/// A package as stored. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageRecord {
    /// Its name, unique in the store.
    pub name: String,
    /// Its version, as written.
    pub version: Option<String>,
    /// The package itself (`nova_api::package::Package` as JSON).
    pub document: serde_json::Value,
    /// When it was first applied.
    pub created_at_ms: i64,
    /// When it was last applied.
    pub updated_at_ms: i64,
}

/// The packages of one store.
#[async_trait]
pub trait PackageStore: Send + Sync + 'static {
    /// Stores `package` (its `created_at_ms` kept from an earlier one of the same name); true
    /// when there was none.
    async fn put_package(&self, package: &PackageRecord) -> Result<bool, StoreError>;

    /// The package `name`, if there is one.
    async fn get_package(&self, name: &str) -> Result<Option<PackageRecord>, StoreError>;

    /// Every package, by name.
    async fn list_packages(&self) -> Result<Vec<PackageRecord>, StoreError>;

    /// Forgets the package `name`; false when there was none.
    async fn delete_package(&self, name: &str) -> Result<bool, StoreError>;
}
