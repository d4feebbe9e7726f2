//! API keys in Nova: made, listed, revoked and deleted in the store, and checked at the door by
//! a [`nova_keys::Verifier`] over the same store. Until the first key exists (and without
//! `--require-auth`) the API is open, so a fresh install works and its operator can create the
//! first admin key. A key made or revoked on one daemon reaches the daemons (and comet workers)
//! sharing its store within a few seconds; on this daemon at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nova_keys::{KeySource, SourceError, Verifier};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use nova_keys::{ApiKeyRecord, Denied, Scope};

use crate::logs::now_ms;
use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum AuthError {
    /// 401, 403 or 503.
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("invalid API key request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store as the verifier's source of records.
struct StoreKeys(Arc<dyn Store>);

#[async_trait]
impl KeySource for StoreKeys {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, SourceError> {
        self.0
            .list_api_keys()
            .await
            .map_err(|e| SourceError(e.to_string()))
    }
}

pub struct ApiKeys {
    store: Arc<dyn Store>,
    verifier: Verifier,
}

/// A new key, whose secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>, require_auth: bool) -> ApiKeys {
        ApiKeys {
            verifier: Verifier::new(Arc::new(StoreKeys(store.clone())), require_auth),
            store,
        }
    }

    /// Checks an `Authorization` header against what a route needs; the key's name when one
    /// was required and given.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        scope: Scope,
    ) -> Result<Option<String>, AuthError> {
        Ok(self.verifier.check(authorization, scope).await?)
    }

    pub async fn create(
        &self,
        name: &str,
        scopes: &[Scope],
        ttl: Option<Duration>,
    ) -> Result<CreatedKey, AuthError> {
        nova_api::validate_name(name).map_err(|e| AuthError::Invalid(e.to_string()))?;
        if scopes.is_empty() {
            return Err(AuthError::Invalid("give at least one scope".into()));
        }
        let minted = nova_keys::mint(name, scopes, ttl, now_ms());
        self.store.insert_api_key(&minted.record).await?;
        self.refresh().await;
        Ok(CreatedKey {
            key: minted.key,
            record: minted.record,
        })
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, AuthError> {
        Ok(self.store.list_api_keys().await?)
    }

    pub async fn revoke(&self, name: &str) -> Result<bool, AuthError> {
        let done = self.store.revoke_api_key(name, now_ms()).await?;
        self.refresh().await;
        Ok(done)
    }

    pub async fn delete(&self, name: &str) -> Result<bool, AuthError> {
        let done = self.store.delete_api_key(name).await?;
        self.refresh().await;
        Ok(done)
    }

    /// The change is stored; if the store cannot be read back this moment, the verifier's
    /// regular refresh picks it up.
    async fn refresh(&self) {
        if let Err(e) = self.verifier.refresh().await {
            tracing::warn!(error = %e, "API keys changed but not yet reloaded");
        }
    }
}
