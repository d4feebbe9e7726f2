//! Versions of functions: listing and reading them, publishing one, and resolving the version a
//! call's qualifier names (a number, `$LATEST`, or the version an alias picks) into the spec the
//! data plane runs.
//!
//! Every register and every update records the function's new state as a version (the store
//! does it in the same transaction), so the newest version is always the function as it is now.
//! `publish` therefore describes the current version rather than copying it: if that version has
//! no description it gets this one, and either way it is returned; nothing is duplicated.

use std::sync::Arc;

use nova_api::{FunctionSpec, FunctionVersion, Qualifier};
use nova_store::VersionQuery;

use super::{Functions, ServiceError};

/// Longest description of a version, in characters (Lambda's limit).
pub const MAX_DESCRIPTION: usize = 256;

impl Functions {
    /// The function's versions, newest first. `NotFound` when there is no such function.
    pub async fn versions(
        &self,
        name: &str,
        query: &VersionQuery,
    ) -> Result<Vec<FunctionVersion>, ServiceError> {
        let versions = self.inner.versions.list_versions(name, query).await?;
        if versions.is_empty() {
            // No such function, or a page past its versions.
            self.get(name).await?;
        }
        Ok(versions)
    }

    /// Version `number` of the function.
    pub async fn version(&self, name: &str, number: u64) -> Result<FunctionVersion, ServiceError> {
        match self.inner.versions.get_version(name, number).await? {
            Some(version) => Ok(version),
            None => {
                self.get(name).await?;
                Err(ServiceError::NoVersion {
                    function: name.to_string(),
                    version: number,
                })
            }
        }
    }

    /// Publishes the function as it is now with `description` (see the module's doc for why
    /// this never copies a version).
    pub async fn publish(
        &self,
        name: &str,
        description: &str,
    ) -> Result<FunctionVersion, ServiceError> {
        let length = description.chars().count();
        if length > MAX_DESCRIPTION {
            return Err(ServiceError::LongDescription(length));
        }
        let version = self
            .inner
            .versions
            .publish_version(name, description)
            .await?;
        tracing::info!(function = %name, version = version.function.version, "published");
        Ok(version)
    }

    /// The version a call naming `qualifier` runs now (through a weighted alias, one roll of
    /// its weights).
    pub async fn version_of(&self, name: &str, qualifier: &Qualifier) -> Result<u64, ServiceError> {
        let latest = self.spec(name).await?;
        Ok(match qualifier {
            Qualifier::Latest => latest.version,
            Qualifier::Version(n) => *n,
            Qualifier::Alias(alias) => self.alias_version(name, alias).await?,
        })
    }

    /// The spec of the version `qualifier` names (an alias's: the version it picks), and whether
    /// it is the newest one.
    pub(super) async fn resolve(
        &self,
        name: &str,
        qualifier: &Qualifier,
    ) -> Result<(Arc<FunctionSpec>, bool), ServiceError> {
        let latest = self.spec(name).await?;
        let number = match qualifier {
            Qualifier::Latest => return Ok((latest, true)),
            Qualifier::Version(n) => *n,
            Qualifier::Alias(alias) => self.alias_version(name, alias).await?,
        };
        if number == latest.version {
            return Ok((latest, true));
        }
        let key = versioned_key(name, number);
        if let Some(spec) = self.read_specs().get(&key) {
            return Ok((spec.clone(), false));
        }
        let version = self.version(name, number).await?;
        let code = self.code_bytes(&version.function.code_hash).await?;
        let spec = Arc::new(self.resolved(&version.function, code.into()).await?);
        self.write_specs().insert(key, spec.clone());
        Ok((spec, false))
    }
}

/// Where the resolved spec of an old version is kept beside the newest ones (which are kept by
/// name): `name:number`, which no function name can be.
pub(super) fn versioned_key(name: &str, number: u64) -> String {
    format!("{name}:{number}")
}

/// Whether a key of the spec cache is one of `name`'s (its newest or a version).
pub(super) fn is_key_of(key: &str, name: &str) -> bool {
    key.strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}
