//! API keys in Nova: made, listed, changed, revoked and deleted in the store, and checked at the
//! door by a [`nova_keys::Verifier`] over the same store. Until the first key exists (and without
//! `--require-auth`) the API is open, so a fresh install works and its operator can create the
//! first admin key; once a key has existed it stays closed, even when every key has expired or
//! was revoked or deleted, unless the operator opens it with `--allow-anonymous`. A key made or
//! revoked on one daemon reaches the daemons (and comet workers) sharing its store within a few
//! seconds; on this daemon at once.
//!
//! Records keep Unix milliseconds; what leaves the process ([`ApiKeyView`]) carries RFC 3339.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nova_keys::{KeySource, SourceError, Verifier};
use nova_store::{KeyStore, StoreError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use nova_keys::{Anonymous, ApiKeyRecord, Denied, Scope};

use crate::logs::{now_ms, rfc3339};

#[derive(Debug, Error)]
pub enum AuthError {
    /// 401, 403 or 503.
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("invalid API key request: {0}")]
    Invalid(String),
    #[error("no API key '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store as the verifier's source of records.
struct StoreKeys(Arc<dyn KeyStore>);

#[async_trait]
impl KeySource for StoreKeys {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, SourceError> {
        self.0
            .list_api_keys()
            .await
            .map_err(|e| SourceError(e.to_string()))
    }

    async fn keys_required(&self) -> Result<bool, SourceError> {
        self.0
            .keys_required()
            .await
            .map_err(|e| SourceError(e.to_string()))
    }
}

pub struct ApiKeys {
    store: Arc<dyn KeyStore>,
    verifier: Verifier,
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// A key as the API shows it: never its secret or digest; times in RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// Comma-separated: read, invoke, admin.
    pub scopes: String,
    pub created_at: String,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
    pub status: KeyStatus,
    /// Whether the key is usable now (the original Nova's field).
    pub enabled: bool,
}

impl ApiKeyView {
    pub fn of(record: &ApiKeyRecord, now_ms: i64) -> ApiKeyView {
        let status = if record.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if record.active(now_ms) {
            KeyStatus::Active
        } else {
            KeyStatus::Expired
        };
        ApiKeyView {
            id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
            created_at: rfc3339(record.created_at),
            expires_at: record.expires_at.map(rfc3339),
            revoked_at: record.revoked_at.map(rfc3339),
            status,
            enabled: status == KeyStatus::Active,
        }
    }
}

/// A new key, whose secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKeyView,
}

/// What `PATCH /apikeys/{name}` may change (the original Nova's CLI sends `name` and `scopes`,
/// its API `enabled`).
#[derive(Debug, Clone, Default)]
pub struct KeyChange {
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    /// false: revoke now; true: lift a revocation.
    pub enabled: Option<bool>,
}

impl ApiKeys {
    pub fn new(store: Arc<dyn KeyStore>, require_auth: bool) -> ApiKeys {
        ApiKeys {
            verifier: Verifier::new(Arc::new(StoreKeys(store.clone())), require_auth),
            store,
        }
    }

    /// Lets calls without a key through while no key is active, even if keys existed before
    /// (`--allow-anonymous`); set at start-up. `--require-auth` wins over it.
    pub fn allow_anonymous(&self) {
        if self.verifier.policy() != Anonymous::Never {
            self.verifier.set_policy(Anonymous::WhileNoActiveKey);
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

    /// Checks a bare presented key (from `X-API-Key`, `Authorization: Bearer|ApiKey`).
    pub async fn check_key(
        &self,
        key: Option<&str>,
        scope: Scope,
    ) -> Result<Option<String>, AuthError> {
        Ok(self.verifier.check_key(key, scope).await?)
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
        let now = now_ms();
        let minted = nova_keys::mint(name, scopes, ttl, now);
        self.store.insert_api_key(&minted.record).await?;
        self.refresh().await;
        Ok(CreatedKey {
            key: minted.key,
            record: ApiKeyView::of(&minted.record, now),
        })
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyView>, AuthError> {
        let now = now_ms();
        let keys = self.store.list_api_keys().await?;
        Ok(keys.iter().map(|k| ApiKeyView::of(k, now)).collect())
    }

    /// Renames, rescopes, revokes or re-enables the key `name`.
    pub async fn update(&self, name: &str, change: &KeyChange) -> Result<ApiKeyView, AuthError> {
        let mut key = self
            .store
            .list_api_keys()
            .await?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| AuthError::NotFound(name.to_string()))?;
        if let Some(new_name) = &change.name {
            nova_api::validate_name(new_name).map_err(|e| AuthError::Invalid(e.to_string()))?;
            key.name = new_name.clone();
        }
        if let Some(scopes) = &change.scopes {
            if scopes.is_empty() {
                return Err(AuthError::Invalid("give at least one scope".into()));
            }
            let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            key.scopes = names.join(",");
        }
        let now = now_ms();
        match change.enabled {
            Some(false) if key.revoked_at.is_none() => key.revoked_at = Some(now),
            Some(true) => key.revoked_at = None,
            _ => {}
        }
        if !self.store.update_api_key(&key).await? {
            return Err(AuthError::NotFound(name.to_string()));
        }
        self.refresh().await;
        Ok(ApiKeyView::of(&key, now))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_carry_rfc3339_and_a_status() {
        let mut r = nova_keys::mint("k", &[Scope::Read], Some(Duration::from_secs(1)), 0).record;
        let v = ApiKeyView::of(&r, 10);
        assert_eq!(v.created_at, "1970-01-01T00:00:00.000Z");
        assert_eq!(v.expires_at.as_deref(), Some("1970-01-01T00:00:01.000Z"));
        assert_eq!((v.status, v.enabled), (KeyStatus::Active, true));
        assert_eq!(ApiKeyView::of(&r, 1_000).status, KeyStatus::Expired);
        r.revoked_at = Some(5);
        let v = ApiKeyView::of(&r, 10);
        assert_eq!((v.status, v.enabled), (KeyStatus::Revoked, false));
        let json = serde_json::to_value(&v).expect("json");
        assert_eq!(json["status"], "revoked");
        assert!(json.get("digest").is_none());
    }
}
