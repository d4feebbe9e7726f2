//! A read-through cache of function metadata in Redis, shared by every daemon on it: a daemon
//! whose own spec cache is cold (just started, or told by another daemon that a function
//! changed) reads the function from Redis rather than from the database. It decorates the one
//! aggregate it concerns, [`FunctionStore`]; logs, keys and secrets never pass through it.
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
//!
//! Redis is not trusted: whoever can write to it could otherwise make a daemon run other code
//! (another code hash, `network: host`) or block updates with a high version. Every entry carries
//! an HMAC-SHA256 under a key the daemons keep in the store (the `cache_mac_key` setting), over
//! the entry's Redis key, version and record. An entry that does not verify is deleted, logged
//! with its key, counted, never used, and the database answers instead; writers replace it
//! whatever version it claims.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nova_api::Function;
use nova_store::{FunctionStore, ListQuery, SettingStore, StoreError};
use sha2::{Digest, Sha256};

use crate::shared_redis::SharedRedis;

/// How long an entry lives.
const TTL: Duration = Duration::from_secs(300);
/// How long a tombstone blocks fills of a deleted function.
const TOMBSTONE_TTL: Duration = Duration::from_secs(30);
const TOMBSTONE: &str = "deleted";
/// How often names whose write missed Redis are retried.
const RETRY_PENDING: Duration = Duration::from_secs(1);

/// The setting holding the key that authenticates entries (hex of 32 random bytes).
pub const MAC_KEY_SETTING: &str = "cache_mac_key";
/// How often a writer re-reads an entry that changed under it before giving up (and leaving the
/// name to the repair loop).
const WRITE_ATTEMPTS: usize = 3;

/// Sets KEYS[1] to ARGV[2] (for ARGV[3] ms) if it still holds ARGV[1] ('' for nothing); deletes
/// it when ARGV[2] is ''. The caller read and judged the entry it replaces: Redis cannot.
const SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
";

pub struct RedisCached<S> {
    inner: S,
    /// `nova:<store identity>:function:`: deployments sharing a Redis keep apart.
    prefix: Arc<str>,
    redis: Arc<SharedRedis>,
    swap: redis::Script,
    mac: Mac,
    /// Entries refused because they did not verify.
    rejected: Arc<AtomicU64>,
    /// Functions whose cache entry may be stale because a write could not reach Redis.
    pending: Arc<Mutex<HashSet<String>>>,
}

/// HMAC-SHA256 (RFC 2104) under the daemons' cache key.
#[derive(Clone)]
struct Mac {
    key: [u8; 64],
}

impl Mac {
    fn new(secret: &[u8]) -> Mac {
        let mut key = [0u8; 64];
        if secret.len() > key.len() {
            key[..32].copy_from_slice(&Sha256::digest(secret));
        } else {
            key[..secret.len()].copy_from_slice(secret);
        }
        Mac { key }
    }

    /// The MAC of `parts`, each preceded by its length (so no two lists of parts sign alike).
    fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let lengths: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        let message: Vec<&[u8]> = lengths
            .iter()
            .zip(parts)
            .flat_map(|(length, part)| [length.as_slice(), part])
            .collect();
        self.hmac(&message)
    }

    /// HMAC-SHA256 of the concatenation of `message`.
    fn hmac(&self, message: &[&[u8]]) -> [u8; 32] {
        let pad = |byte: u8| self.key.map(|k| k ^ byte);
        let mut inner = Sha256::new();
        inner.update(pad(0x36));
        for piece in message {
            inner.update(piece);
        }
        let mut outer = Sha256::new();
        outer.update(pad(0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }

    /// `v<version>|<hex mac>|<json>` for the entry at `key`.
    fn entry(&self, key: &str, function: &Function) -> Option<String> {
        let json = serde_json::to_string(function).ok()?;
        let version = function.version.to_string();
        let mac = self.sign(&[key.as_bytes(), version.as_bytes(), json.as_bytes()]);
        Some(format!("v{version}|{}|{json}", hex::encode(mac)))
    }

    /// What an entry at `key` holds.
    fn open(&self, key: &str, entry: &str) -> Entry {
        if entry == TOMBSTONE {
            return Entry::Tombstone;
        }
        let parsed = entry.strip_prefix('v').and_then(|rest| {
            let (version, rest) = rest.split_once('|')?;
            let (mac, json) = rest.split_once('|')?;
            let expected = self.sign(&[key.as_bytes(), version.as_bytes(), json.as_bytes()]);
            let given = hex::decode(mac).ok()?;
            if !comet_util::same_bytes(&expected, &given) {
                return None;
            }
            let function: Function = serde_json::from_str(json).ok()?;
            (function.version.to_string() == version).then_some(function)
        });
        parsed.map_or(Entry::Bad, |f| Entry::Function(Box::new(f)))
    }
}

/// An entry as read from Redis.
enum Entry {
    Function(Box<Function>),
    Tombstone,
    /// Not written by a daemon holding the key: forged or corrupt.
    Bad,
}

impl<S: FunctionStore> RedisCached<S> {
    /// Caches the functions of `inner`, in a store whose [`nova_store::Database::identity`] is
    /// `identity`;
    /// entries are authenticated under `mac_key` (see [`mac_key`]).
    pub fn new(
        inner: S,
        identity: &str,
        redis: Arc<SharedRedis>,
        mac_key: &[u8],
    ) -> RedisCached<S> {
        let cache = RedisCached {
            inner,
            prefix: format!("nova:{identity}:function:").into(),
            redis,
            swap: redis::Script::new(SWAP),
            mac: Mac::new(mac_key),
            rejected: Arc::new(AtomicU64::new(0)),
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
                let names: Vec<String> = comet_util::lock(&pending).iter().cloned().collect();
                for name in names {
                    if repair(&redis, &prefix, &name).await {
                        comet_util::lock(&pending).remove(&name);
                    }
                }
            }
        });
    }

    fn missed(&self, name: &str, error: impl std::fmt::Display) {
        tracing::warn!(function = name, %error, "function cache in redis not updated; retrying");
        comet_util::lock(&self.pending).insert(name.to_string());
    }

    /// How many entries did not verify and were dropped, since start.
    pub fn rejected_entries(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    fn reject(&self, key: &str, entry: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            key,
            bytes = entry.len(),
            "dropping a function cache entry in redis that does not verify (forged or corrupt); \
             reading the database instead"
        );
    }

    /// Replaces `current` (as read) at `key` with `value` ('' deletes); whether it was still
    /// there to replace.
    async fn swap(
        &self,
        key: &str,
        current: Option<&str>,
        value: &str,
    ) -> Result<bool, crate::shared_redis::RedisUnavailable> {
        let mut invocation = self.swap.prepare_invoke();
        invocation
            .key(key)
            .arg(current.unwrap_or(""))
            .arg(value)
            .arg(TTL.as_millis() as u64);
        Ok(self.redis.script::<i64>(&invocation).await? == 1)
    }

    /// After a committed insert or replace: stores the record unless an authentic higher
    /// version is there (two daemons' writes may reach Redis out of order).
    async fn stored(&self, function: &Function) {
        let key = self.key(&function.name);
        let Some(value) = self.mac.entry(&key, function) else {
            return;
        };
        for _ in 0..WRITE_ATTEMPTS {
            let current = match self
                .redis
                .query::<Option<String>>(&redis::Cmd::get(&key))
                .await
            {
                Ok(current) => current,
                Err(e) => return self.missed(&function.name, e),
            };
            if let Some(current) = &current {
                match self.mac.open(&key, current) {
                    Entry::Function(f) if f.version > function.version => return,
                    Entry::Bad => self.reject(&key, current),
                    _ => {}
                }
            }
            match self.swap(&key, current.as_deref(), &value).await {
                Ok(true) => return,
                Ok(false) => continue, // changed meanwhile: judge the new one
                Err(e) => return self.missed(&function.name, e),
            }
        }
        self.missed(&function.name, "the entry kept changing");
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
        let key = self.key(&function.name);
        let Some(value) = self.mac.entry(&key, function) else {
            return;
        };
        let mut set = redis::Cmd::set(key, value);
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
impl<S: FunctionStore> FunctionStore for RedisCached<S> {
    async fn get_function(&self, name: &str) -> Result<Option<Function>, StoreError> {
        let key = self.key(name);
        if let Ok(Some(cached)) = self
            .redis
            .query::<Option<String>>(&redis::Cmd::get(&key))
            .await
        {
            match self.mac.open(&key, &cached) {
                Entry::Function(function) => return Ok(Some(*function)),
                Entry::Tombstone => {}
                Entry::Bad => {
                    self.reject(&key, &cached);
                    // Only that entry: one a writer stored meanwhile stays.
                    if let Err(e) = self.swap(&key, Some(&cached), "").await {
                        self.missed(name, e);
                    }
                }
            }
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
}

/// The key that authenticates cache entries: made by the first daemon and kept in the store, so
/// every daemon sharing the store (and no one who can only reach Redis) holds it.
pub async fn mac_key(settings: &dyn SettingStore) -> Result<Vec<u8>, StoreError> {
    use aes_gcm::aead::{KeyInit as _, OsRng};
    // 32 bytes from the operating system's generator.
    let fresh = hex::encode(aes_gcm::Aes256Gcm::generate_key(OsRng));
    let stored = settings.init_setting(MAC_KEY_SETTING, &fresh).await?;
    hex::decode(stored.trim())
        .ok()
        .filter(|k| k.len() >= 16)
        .ok_or_else(|| StoreError::Corrupt(format!("setting {MAC_KEY_SETTING} is not a key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_hmac_sha256() {
        // RFC 4231, test cases 2 and 6 (a key longer than a block).
        let mac = Mac::new(b"Jefe");
        assert_eq!(
            hex::encode(mac.hmac(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long = Mac::new(&[0xaa; 131]);
        assert_eq!(
            hex::encode(long.hmac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_ne!(mac.sign(&[b"ab", b"c"]), mac.sign(&[b"a", b"bc"]));
    }

    #[test]
    fn only_entries_made_with_the_key_are_believed() {
        let function = nova_api::Function {
            id: "1".into(),
            name: "f".into(),
            runtime: nova_api::Runtime::Python,
            handler: "main.handler".into(),
            mode: nova_api::Mode::Process,
            network: nova_api::Network::None,
            memory_mb: 128,
            timeout_s: 30,
            min_replicas: 0,
            max_replicas: 1,
            instance_concurrency: 1,
            env_vars: Default::default(),
            limits: Default::default(),
            version: 2,
            code_hash: "abc".into(),
            code_size: 3,
            created_at: comet_util::rfc3339(0),
            updated_at: comet_util::rfc3339(0),
        };
        let mac = Mac::new(b"0123456789abcdef0123456789abcdef");
        let entry = mac.entry("k", &function).expect("entry");
        assert!(matches!(mac.open("k", &entry), Entry::Function(f) if f.version == 2));
        assert!(
            matches!(mac.open("other", &entry), Entry::Bad),
            "bound to its key"
        );
        assert!(matches!(
            Mac::new(b"another key").open("k", &entry),
            Entry::Bad
        ));
        let forged = entry.replacen("v2|", "v99|", 1);
        assert!(matches!(mac.open("k", &forged), Entry::Bad));
        let json = serde_json::to_string(&function).expect("json");
        assert!(matches!(mac.open("k", &format!("v2|{json}")), Entry::Bad));
        assert!(matches!(mac.open("k", TOMBSTONE), Entry::Tombstone));
    }
}
