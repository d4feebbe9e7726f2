//! API keys: who may read, invoke or administer. A key is `nova_<id>_<secret>`; the store keeps
//! the id, the scopes and a SHA-256 digest of the secret, compared in constant time. Until the
//! first key exists (and without `--require-auth`) the API is open, so a fresh install works and
//! its operator can create the first admin key. Keys are cached for a few seconds, so a key made
//! or revoked on one daemon reaches daemons sharing its store within that time.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::logs::now_ms;
use crate::store::{ApiKeyRecord, Store, StoreError};

/// How long a daemon trusts its copy of the keys.
const REFRESH: Duration = Duration::from_secs(5);

/// What a key may do; `admin` includes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Invoke,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Invoke => "invoke",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s.trim() {
            "read" => Ok(Scope::Read),
            "invoke" => Ok(Scope::Invoke),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown scope '{other}': use read, invoke or admin"
            )),
        }
    }
}

#[derive(Debug, Error)]
pub enum AuthError {
    /// 401.
    #[error("{0}: send 'Authorization: Bearer <API key>'")]
    Unauthenticated(&'static str),
    /// 403.
    #[error("API key '{key}' lacks the '{scope}' scope")]
    Forbidden { key: String, scope: &'static str },
    #[error("invalid API key request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Snapshot {
    loaded: Instant,
    by_id: HashMap<String, ApiKeyRecord>,
    any_active: bool,
}

pub struct ApiKeys {
    store: Arc<dyn Store>,
    require_auth: bool,
    cache: RwLock<Option<Arc<Snapshot>>>,
}

/// A new key, whose secret is shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && std::hint::black_box(
            a.bytes()
                .zip(b.bytes())
                .fold(0u8, |acc, (x, y)| acc | (x ^ y)),
        ) == 0
}

fn active(k: &ApiKeyRecord, now: i64) -> bool {
    k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now)
}

impl ApiKeys {
    pub fn new(store: Arc<dyn Store>, require_auth: bool) -> ApiKeys {
        ApiKeys {
            store,
            require_auth,
            cache: RwLock::new(None),
        }
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        if let Some(s) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && s.loaded.elapsed() < REFRESH
        {
            return Ok(s.clone());
        }
        self.reload().await
    }

    async fn reload(&self) -> Result<Arc<Snapshot>, StoreError> {
        let keys = self.store.list_api_keys().await?;
        let now = now_ms();
        let snapshot = Arc::new(Snapshot {
            loaded: Instant::now(),
            any_active: keys.iter().any(|k| active(k, now)),
            by_id: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
        });
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Checks an `Authorization` header against what a route needs; the key's name when one
    /// was required and given.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        scope: Scope,
    ) -> Result<Option<String>, AuthError> {
        let keys = self.snapshot().await?;
        if !keys.any_active && !self.require_auth {
            return Ok(None);
        }
        let presented = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(AuthError::Unauthenticated("an API key is required"))?;
        let (id, secret) = presented
            .trim()
            .strip_prefix("nova_")
            .and_then(|rest| rest.split_once('_'))
            .ok_or(AuthError::Unauthenticated("malformed API key"))?;
        let key = keys
            .by_id
            .get(id)
            .ok_or(AuthError::Unauthenticated("unknown API key"))?;
        if !same(&digest(secret), &key.digest) {
            return Err(AuthError::Unauthenticated("unknown API key"));
        }
        if !active(key, now_ms()) {
            return Err(AuthError::Unauthenticated(
                "the API key is revoked or expired",
            ));
        }
        let scopes: Vec<Scope> = key
            .scopes
            .split(',')
            .filter_map(|s| s.parse().ok())
            .collect();
        if scopes.contains(&Scope::Admin) || scopes.contains(&scope) {
            Ok(Some(key.name.clone()))
        } else {
            Err(AuthError::Forbidden {
                key: key.name.clone(),
                scope: scope.as_str(),
            })
        }
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
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = now_ms();
        let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        names.dedup();
        let record = ApiKeyRecord {
            id: id.clone(),
            name: name.to_string(),
            digest: digest(&secret),
            scopes: names.join(","),
            created_at: now,
            expires_at: ttl.map(|t| now + t.as_millis() as i64),
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        self.reload().await?;
        Ok(CreatedKey {
            key: format!("nova_{id}_{secret}"),
            record,
        })
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyRecord>, AuthError> {
        Ok(self.store.list_api_keys().await?)
    }

    pub async fn revoke(&self, name: &str) -> Result<bool, AuthError> {
        let done = self.store.revoke_api_key(name, now_ms()).await?;
        self.reload().await?;
        Ok(done)
    }

    pub async fn delete(&self, name: &str) -> Result<bool, AuthError> {
        let done = self.store.delete_api_key(name).await?;
        self.reload().await?;
        Ok(done)
    }
}
