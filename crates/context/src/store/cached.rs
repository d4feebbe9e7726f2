//! The embedded store: every entry in memory, ordered by address, in front of SQLite. Reads
//! (the bulk of the traffic: every VM enumerates its whole slice every round) never touch the
//! database; writes go to SQLite first and to memory once they are durable. Only one process
//! owns an embedded store, so memory is the truth; heads that share a store use Postgres
//! directly. The quotas are checked by the SQL store underneath: memory only takes what SQLite
//! accepted, so it is bounded by the store's byte limit.

use std::collections::BTreeMap;
use std::sync::RwLock;

use async_trait::async_trait;

use super::sql::SqlStore;
use super::{ContextStore, Selection, StoreError};
use crate::entry::{Entry, EntryId};

pub struct CachedStore {
    sql: SqlStore,
    entries: RwLock<BTreeMap<EntryId, Entry>>,
    /// Held across each change's SQL statement and its memory update, so memory always ends
    /// as the database does (SQLite takes one writer at a time anyway).
    writing: tokio::sync::Mutex<()>,
}

impl CachedStore {
    /// Loads every entry of `sql`.
    pub async fn load(sql: SqlStore) -> Result<CachedStore, StoreError> {
        let entries = sql
            .all()
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        Ok(CachedStore {
            sql,
            entries: RwLock::new(entries),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<EntryId, Entry>> {
        comet_util::read(&self.entries)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<EntryId, Entry>> {
        comet_util::write(&self.entries)
    }
}

/// The entries of `context_id` (of one family) in address order.
fn scan<'m>(
    map: &'m BTreeMap<EntryId, Entry>,
    context_id: &'m str,
    family: Option<&'m str>,
) -> impl Iterator<Item = &'m Entry> + 'm {
    let start = EntryId {
        context_id: context_id.to_string(),
        family: family.unwrap_or("").to_string(),
        key: String::new(),
    };
    map.range(start..).map(|(_, e)| e).take_while(move |e| {
        e.id.context_id == context_id && family.is_none_or(|f| e.id.family == f)
    })
}

#[async_trait]
impl ContextStore for CachedStore {
    async fn get(&self, id: &EntryId) -> Result<Option<Entry>, StoreError> {
        Ok(self.read().get(id).cloned())
    }

    async fn create(&self, entry: &Entry) -> Result<bool, StoreError> {
        let _one_writer = self.writing.lock().await;
        if self.read().contains_key(&entry.id) {
            return Ok(false);
        }
        let created = self.sql.create(entry).await?;
        if created {
            self.write().insert(entry.id.clone(), entry.clone());
        }
        Ok(created)
    }

    async fn update(&self, entry: &Entry) -> Result<bool, StoreError> {
        let _one_writer = self.writing.lock().await;
        let updated = self.sql.update(entry).await?;
        if updated && let Some(held) = self.write().get_mut(&entry.id) {
            held.value = entry.value.clone();
            held.last_access = entry.last_access;
        }
        Ok(updated)
    }

    async fn delete(
        &self,
        id: &EntryId,
        read_token: &str,
        write_token: &str,
    ) -> Result<bool, StoreError> {
        let _one_writer = self.writing.lock().await;
        let deleted = self.sql.delete(id, read_token, write_token).await?;
        if deleted {
            self.write().remove(id);
        }
        Ok(deleted)
    }

    async fn list(
        &self,
        context_id: &str,
        family: Option<&str>,
        read_token: &str,
    ) -> Result<Vec<Entry>, StoreError> {
        let map = self.read();
        Ok(scan(&map, context_id, family)
            .filter(|e| e.read_token == read_token)
            .cloned()
            .collect())
    }

    async fn touch(
        &self,
        scope: &Selection<'_>,
        now: i64,
        stale_before: i64,
    ) -> Result<(), StoreError> {
        let _one_writer = self.writing.lock().await;
        self.sql.touch(scope, now, stale_before).await?;
        let mut map = self.write();
        let ids: Vec<EntryId> = scan(&map, scope.context_id, scope.family)
            .filter(|e| {
                e.read_token == scope.read_token
                    && scope.key.is_none_or(|k| e.id.key == k)
                    && e.last_access < stale_before
                    && e.last_access >= scope.alive_since
            })
            .map(|e| e.id.clone())
            .collect();
        for id in ids {
            if let Some(e) = map.get_mut(&id) {
                e.last_access = now;
            }
        }
        Ok(())
    }

    async fn remove_idle(&self, before: i64) -> Result<u64, StoreError> {
        let _one_writer = self.writing.lock().await;
        let removed = self.sql.remove_idle(before).await?;
        self.write().retain(|_, e| e.last_access >= before);
        Ok(removed)
    }
}
