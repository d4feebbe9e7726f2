//! A read-through cache of function metadata in Redis, shared by every daemon on it: a daemon
//! whose own spec cache is cold (just started, or told by another daemon that a function
//! changed) reads the function from Redis rather than from the database.
//!
//! Keeping it right under concurrent writers:
//! - a miss is filled with `SET NX`, so a reader that fetched an old row never overwrites what
//!   a writer stored meanwhile;
//! - a writer stores the new record after its commit with a script that refuses to replace a
//!   higher version (two daemons' writes may reach Redis out of order);
//! - a delete leaves a short-lived tombstone, so a reader that fetched the row before the delete
//!   cannot put it back; a tombstone is never trusted as an answer, only as a block on fills;
//! - a write that cannot reach Redis leaves the name pending; once Redis answers again the entry
//!   is deleted and every daemon told to drop the function (the change's own announcement may
//!   have reached them while the stale entry was still there to be read).
//!
//! Entries live [`TTL`] at most. Any Redis failure falls through to the database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nova_api::Function;

use super::{ApiKeyRecord, InvocationLog, ListQuery, LogQuery, SecretRecord, Store, StoreError};
use crate::shared_redis::SharedRedis;

/// How long an entry lives.
const TTL: Duration = Duration::from_secs(300);
/// How long a tombstone blocks fills of a deleted function.
const TOMBSTONE_TTL: Duration = Duration::from_secs(30);
const TOMBSTONE: &str = "deleted";
/// How often names whose write missed Redis are retried.
const RETRY_PENDING: Duration = Duration::from_secs(1);

/// Stores `v<version>|<json>` unless a higher version is there (a tombstone is version 0).
const WRITE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^v(%d+)|'))
  if version and version > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

pub struct RedisCached<S> {
    inner: S,
    /// `nova:<store identity>:function:`: deployments sharing a Redis keep apart.
    prefix: Arc<str>,
    redis: Arc<SharedRedis>,
    write: redis::Script,
    /// Functions whose cache entry may be stale because a write could not reach Redis.
    pending: Arc<Mutex<HashSet<String>>>,
}

fn entry(function: &Function) -> Option<String> {
    serde_json::to_string(function)
        .ok()
        .map(|json| format!("v{}|{json}", function.version))
}

/// The function in an entry; `None` for a tombstone or anything unreadable.
fn parse(entry: &str) -> Option<Function> {
    let (_, json) = entry.strip_prefix('v')?.split_once('|')?;
    serde_json::from_str(json).ok()
}

impl<S: Store> RedisCached<S> {
    /// Caches the functions of `inner`, a store whose [`Store::identity`] is `identity`.
    pub fn new(inner: S, identity: &str, redis: Arc<SharedRedis>) -> RedisCached<S> {
        let cache = RedisCached {
            inner,
            prefix: format!("nova:{identity}:function:").into(),
            redis,
            write: redis::Script::new(WRITE),
            pending: Arc::new(Mutex::new(HashSet::new())),
        };
        cache.spawn_retries();
        cache
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Deletes the entries of names whose writes missed Redis, once it answers.
    fn spawn_retries(&self) {
        let (redis, pending) = (self.redis.clone(), Arc::downgrade(&self.pending));
        let prefix = self.prefix.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_PENDING).await;
                let Some(pending) = pending.upgrade() else {
                    return; // the store is gone
                };
                let names: Vec<String> = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .cloned()
                    .collect();
                for name in names {
                    if repair(&redis, &prefix, &name).await {
                        pending
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&name);
                    }
                }
            }
        });
    }

    fn missed(&self, name: &str, error: impl std::fmt::Display) {
        tracing::warn!(function = name, %error, "function cache in redis not updated; retrying");
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
    }

    /// After a committed insert or replace.
    async fn stored(&self, function: &Function) {
        let Some(value) = entry(function) else { return };
        let mut invocation = self.write.prepare_invoke();
        invocation
            .key(self.key(&function.name))
            .arg(function.version)
            .arg(value)
            .arg(TTL.as_millis() as u64);
        if let Err(e) = self.redis.script::<i64>(&invocation).await {
            self.missed(&function.name, e);
        }
    }

    /// After a committed delete.
    async fn deleted(&self, name: &str) {
        let mut set = redis::Cmd::set(self.key(name), TOMBSTONE);
        set.arg("PX").arg(TOMBSTONE_TTL.as_millis() as u64);
        if let Err(e) = self.redis.query::<()>(&set).await {
            self.missed(name, e);
        }
    }

    /// After a miss read from the database.
    async fn fill(&self, function: &Function) {
        let Some(value) = entry(function) else { return };
        let mut set = redis::Cmd::set(self.key(&function.name), value);
        set.arg("NX").arg("PX").arg(TTL.as_millis() as u64);
        // Best effort: a failed fill only means the next reader asks the database too.
        let _ = self.redis.query::<Option<String>>(&set).await;
    }
}

/// Deletes a possibly stale entry and tells every daemon to forget the function; whether both
/// happened.
async fn repair(redis: &SharedRedis, prefix: &str, name: &str) -> bool {
    if redis
        .query::<i64>(&redis::Cmd::del(format!("{prefix}{name}")))
        .await
        .is_err()
    {
        return false;
    }
    // An origin no daemon has, so every daemon (this one too) drops its copy.
    crate::invalidation::publish(redis, "cache-repair", name)
        .await
        .is_ok()
}

#[async_trait]
impl<S: Store> Store for RedisCached<S> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn identity(&self) -> Result<String, StoreError> {
        self.inner.identity().await
    }

    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError> {
        if let Ok(Some(cached)) = self
            .redis
            .query::<Option<String>>(&redis::Cmd::get(self.key(name)))
            .await
            && let Some(function) = parse(&cached)
        {
            return Ok(Some(function));
        }
        let function = self.inner.get_function(name).await?;
        if let Some(f) = &function {
            self.fill(f).await;
        }
        Ok(function)
    }

    async fn insert_function(&self, function: &Function, code: &[u8]) -> Result<(), StoreError> {
        self.inner.insert_function(function, code).await?;
        self.stored(function).await;
        Ok(())
    }

    async fn replace_function(
        &self,
        function: &Function,
        code: Option<&[u8]>,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        self.inner
            .replace_function(function, code, expected_version)
            .await?;
        self.stored(function).await;
        Ok(())
    }

    async fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self.inner.delete_function(name).await?;
        self.deleted(name).await;
        Ok(deleted)
    }

    async fn list_functions(&self, query: &ListQuery) -> Result<Vec<Function>, StoreError> {
        self.inner.list_functions(query).await
    }

    async fn get_code(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_code(hash).await
    }

    async fn insert_invocations(&self, logs: &[InvocationLog]) -> Result<(), StoreError> {
        self.inner.insert_invocations(logs).await
    }

    async fn list_invocations(&self, query: &LogQuery) -> Result<Vec<InvocationLog>, StoreError> {
        self.inner.list_invocations(query).await
    }

    async fn delete_invocations_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.inner.delete_invocations_before(before_ms).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_api_key(key).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.list_api_keys().await
    }

    async fn revoke_api_key(&self, name: &str, at_ms: i64) -> Result<bool, StoreError> {
        self.inner.revoke_api_key(name, at_ms).await
    }

    async fn delete_api_key(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_api_key(name).await
    }

    async fn put_secret(&self, secret: &SecretRecord) -> Result<(), StoreError> {
        self.inner.put_secret(secret).await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretRecord>, StoreError> {
        self.inner.get_secret(name).await
    }

    async fn list_secrets(&self) -> Result<Vec<SecretRecord>, StoreError> {
        self.inner.list_secrets().await
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_secret(name).await
    }
}
