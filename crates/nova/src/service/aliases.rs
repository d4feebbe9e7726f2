//! Aliases of functions: setting, reading and deleting them, and resolving the version a call
//! through one runs.
//!
//! An alias names a version and optionally a second one with the percentage of calls it takes
//! (a canary). Each call through a weighted alias rolls a fast thread-local RNG, so calls split
//! by the weights without any shared counter. Aliases are cached by `function:alias` like specs,
//! so a warm call through one touches no database; a change here forgets the function's aliases
//! and tells other daemons (`function` + [`ALIASES_CHANGED`] on the broadcast), which forget
//! theirs without evicting any instance.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use nova_api::{AliasError, FunctionAlias};
use nova_store::{Kind, StoreError};
use serde::Deserialize;
use thiserror::Error;

use super::{Functions, ServiceError};

/// Appended to a function's name on the broadcast when its aliases (only) changed. No function
/// name contains `:`, so older daemons take it for a function that does not exist.
pub const ALIASES_CHANGED: &str = ":aliases";

/// Why an alias operation failed, beside the function's own errors.
#[derive(Debug, Error)]
pub enum AliasFailure {
    /// A name, version, weight or description that can never be valid.
    #[error(transparent)]
    Invalid(#[from] AliasError),
    /// The alias would point at a version that does not exist.
    #[error(
        "function '{function}' has no version {version}: an alias points at existing versions (nova versions {function})"
    )]
    NoVersion { function: String, version: String },
    /// No alias by that name.
    #[error("function '{function}' has no alias '{alias}'")]
    NotFound { function: String, alias: String },
}

/// What `PATCH /functions/{name}/aliases/{alias}` changes; absent fields stay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasPatch {
    /// The version that takes the calls.
    pub version: Option<u64>,
    /// The weighted second version (`{}` removes it).
    pub routing: Option<BTreeMap<u64, u8>>,
    /// Free text.
    pub description: Option<String>,
}

/// Aliases read from the store, by `function:alias`.
#[derive(Default)]
pub(super) struct AliasCache(RwLock<HashMap<String, Arc<FunctionAlias>>>);

impl AliasCache {
    fn get(&self, function: &str, alias: &str) -> Option<Arc<FunctionAlias>> {
        comet_util::read(&self.0)
            .get(&key(function, alias))
            .cloned()
    }

    fn put(&self, alias: Arc<FunctionAlias>) {
        let key = key(&alias.function, &alias.name);
        comet_util::write(&self.0).insert(key, alias);
    }

    /// Forgets the aliases of `function`.
    pub(super) fn forget(&self, function: &str) {
        comet_util::write(&self.0).retain(|k, _| !super::versions::is_key_of(k, function));
    }

    pub(super) fn clear(&self) {
        comet_util::write(&self.0).clear();
    }
}

fn key(function: &str, alias: &str) -> String {
    format!("{function}:{alias}")
}

/// The function whose aliases a broadcast message says changed, if it says that.
pub(super) fn changed(message: &str) -> Option<&str> {
    message.strip_suffix(ALIASES_CHANGED)
}

impl Functions {
    /// The function's aliases by name. `NotFound` when there is no such function.
    pub async fn aliases(&self, name: &str) -> Result<Vec<FunctionAlias>, ServiceError> {
        let aliases = self.inner.aliases.list_aliases(name).await?;
        if aliases.is_empty() {
            self.get(name).await?;
        }
        Ok(aliases)
    }

    /// The alias `alias` of the function.
    pub async fn alias(&self, name: &str, alias: &str) -> Result<FunctionAlias, ServiceError> {
        match self.inner.aliases.get_alias(name, alias).await? {
            Some(found) => Ok(found),
            None => {
                self.get(name).await?;
                Err(no_alias(name, alias))
            }
        }
    }

    /// Writes `alias`: creates it, or with `replace` also replaces one of that name (a taken
    /// name is a conflict otherwise). Every version it names must exist.
    pub async fn set_alias(
        &self,
        alias: FunctionAlias,
        replace: bool,
    ) -> Result<FunctionAlias, ServiceError> {
        alias
            .validate()
            .map_err(|e| ServiceError::Alias(e.into()))?;
        let stored = match self.inner.aliases.put_alias(&alias, replace).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound {
                kind: Kind::Version,
                name: version,
            }) => {
                return Err(ServiceError::Alias(AliasFailure::NoVersion {
                    function: alias.function,
                    version,
                }));
            }
            Err(e @ StoreError::AlreadyExists { .. }) => {
                return Err(ServiceError::Conflict(format!(
                    "{e} (of function '{}'): PUT /functions/{}/aliases/{} replaces it",
                    alias.function, alias.function, alias.name
                )));
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(
            function = %stored.function, alias = %stored.name, version = stored.version,
            routing = ?stored.routing, "alias set"
        );
        self.aliases_changed(&stored.function);
        Ok(stored)
    }

    /// Changes what `patch` gives of an existing alias.
    pub async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        patch: AliasPatch,
    ) -> Result<FunctionAlias, ServiceError> {
        let mut current = self.alias(name, alias).await?;
        if let Some(version) = patch.version {
            current.version = version;
        }
        if let Some(routing) = patch.routing {
            current.routing = routing;
        }
        if let Some(description) = patch.description {
            current.description = description;
        }
        self.set_alias(current, true).await
    }

    /// Deletes the alias; its versions stay.
    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<(), ServiceError> {
        if !self.inner.aliases.delete_alias(name, alias).await? {
            self.get(name).await?;
            return Err(no_alias(name, alias));
        }
        tracing::info!(function = %name, alias = %alias, "alias deleted");
        self.aliases_changed(name);
        Ok(())
    }

    /// The version a call through `alias` runs: its own, or its weighted one with the weight's
    /// probability. Cached, so a warm call reads no database.
    pub(super) async fn alias_version(&self, name: &str, alias: &str) -> Result<u64, ServiceError> {
        let found = match self.inner.alias_cache.get(name, alias) {
            Some(found) => found,
            None => {
                let Some(found) = self.inner.aliases.get_alias(name, alias).await? else {
                    return Err(ServiceError::NoQualifier {
                        function: name.to_string(),
                        qualifier: alias.to_string(),
                    });
                };
                let found = Arc::new(found);
                self.inner.alias_cache.put(found.clone());
                found
            }
        };
        Ok(pick(&found))
    }

    fn aliases_changed(&self, name: &str) {
        self.inner.alias_cache.forget(name);
        self.announce(&format!("{name}{ALIASES_CHANGED}"));
    }
}

/// One call's version through `alias`, by a roll of the thread's RNG.
pub fn pick(alias: &FunctionAlias) -> u64 {
    if alias.routing.is_empty() {
        alias.version
    } else {
        alias.pick(fastrand::u8(0..100))
    }
}

fn no_alias(function: &str, alias: &str) -> ServiceError {
    ServiceError::Alias(AliasFailure::NotFound {
        function: function.to_string(),
        alias: alias.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 resolutions of a 90/10 alias split within ±3 points of the weights (and so do
    /// other weights).
    #[test]
    fn weighted_aliases_split_calls_by_their_weights() {
        for percent in [10u8, 25, 50, 90] {
            let alias = FunctionAlias {
                function: "f".into(),
                name: "live".into(),
                version: 3,
                routing: BTreeMap::from([(4, percent)]),
                description: String::new(),
                created_at: String::new(),
                updated_at: String::new(),
            };
            let calls = 10_000;
            let to_four = (0..calls).filter(|_| pick(&alias) == 4).count();
            let share = to_four as f64 * 100.0 / calls as f64;
            assert!(
                (share - f64::from(percent)).abs() <= 3.0,
                "{percent}% asked, {share}% went to version 4"
            );
        }
    }

    #[test]
    fn broadcast_messages_of_aliases() {
        assert_eq!(changed("f:aliases"), Some("f"));
        assert_eq!(changed("f"), None);
    }
}
