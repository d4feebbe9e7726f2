//! A function's pools, one per version, side by side.
//!
//! A call runs exactly the spec it carries: its version's pool, made on first use. A newer
//! version never stops an older one's instances, since an alias or a pinned caller may still
//! route to it; the idle TTL reclaims them, and an old version's pool goes with its last
//! instance. Only the newest version seen keeps `min_replicas` warm. `max_replicas` holds per
//! version: it is a setting of the version, like its memory. The same version number with other
//! code (a function deleted and registered again while an evict could not reach this process)
//! replaces that version's spec in its pool, and the pools of the versions above it go: they
//! belonged to the function that no longer exists.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use comet_sandbox::Backend;
use nova_api::FunctionSpec;

use super::{Pool, Tallies};
use crate::error::InvokeError;
use crate::executor::{PoolStats, lock};

pub(crate) struct Versions {
    name: String,
    tallies: Arc<Tallies>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pools: BTreeMap<u64, Arc<Pool>>,
    /// The code hash of every version seen, kept after its pool goes so that a replaced spec is
    /// still noticed (a few bytes per version).
    hashes: BTreeMap<u64, String>,
    /// Set by [`Versions::prewarm`]: the daemon keeps the newest version at `min_replicas`.
    managed: bool,
    closed: bool,
}

impl State {
    /// The newest version seen.
    fn newest(&self) -> Option<u64> {
        self.hashes.last_key_value().map(|(v, _)| *v)
    }
}

impl Versions {
    pub fn new(name: &str) -> Versions {
        Versions {
            name: name.to_string(),
            tallies: Arc::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// The pool of `spec`'s version, made if there is none. Pools of a function replaced under
    /// this one are stopped before it returns.
    pub async fn pool(&self, spec: &Arc<FunctionSpec>) -> Result<Arc<Pool>, InvokeError> {
        let (pool, gone) = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(InvokeError::ShuttingDown);
            }
            let version = spec.version;
            let replaced = st
                .hashes
                .get(&version)
                .is_some_and(|hash| *hash != spec.code_hash);
            let gone = if replaced {
                st.hashes.split_off(&(version + 1));
                st.pools.split_off(&(version + 1))
            } else {
                BTreeMap::new()
            };
            st.hashes.insert(version, spec.code_hash.clone());
            let newest = st.newest() == Some(version);
            let managed = st.managed;
            let pool = st.pools.entry(version).or_insert_with(|| {
                let pool = Pool::sharing(&self.name, self.tallies.clone());
                if managed && newest {
                    pool.manage();
                }
                Arc::new(pool)
            });
            (pool.clone(), gone)
        };
        if !gone.is_empty() {
            tracing::info!(function = %self.name, version = spec.version, "replaced: newer versions' instances stop");
        }
        for pool in gone.into_values() {
            pool.close().await;
        }
        Ok(pool)
    }

    /// Starts instances of `spec` until `min_replicas` exist, if it is the newest version seen
    /// (an older one is not kept warm).
    pub async fn prewarm(
        &self,
        spec: &Arc<FunctionSpec>,
        backend: &Arc<dyn Backend>,
    ) -> Result<usize, InvokeError> {
        let older = lock(&self.state)
            .newest()
            .is_some_and(|newest| spec.version < newest);
        if older {
            return Ok(0);
        }
        let pool = self.pool(spec).await?;
        lock(&self.state).managed = true;
        pool.prewarm(spec, backend).await
    }

    /// Stops idle instances unused for `ttl` (the newest version keeps `min_replicas`), tops the
    /// newest version up to `min_replicas` when the daemon manages it, and forgets the pools of
    /// old versions that have no instance left and no caller holding them.
    pub async fn sweep(&self, now: Instant, ttl: Duration, backend: &Arc<dyn Backend>) {
        let (pools, newest) = {
            let st = lock(&self.state);
            let pools: Vec<(u64, Arc<Pool>)> =
                st.pools.iter().map(|(v, p)| (*v, p.clone())).collect();
            (pools, st.newest())
        };
        for (version, pool) in &pools {
            pool.sweep(now, ttl, Some(*version) == newest).await;
        }
        let newest_pool = pools
            .into_iter()
            .find(|(v, _)| Some(*v) == newest)
            .map(|(_, p)| p);
        if let Some(pool) = newest_pool
            && let Some(spec) = pool.spec_needing_replicas()
            && let Err(e) = pool.prewarm(&spec, backend).await
        {
            tracing::warn!(function = %spec.name, error = %e, "could not keep min_replicas warm");
        }
        let mut st = lock(&self.state);
        let newest = st.newest();
        // Held only by this map (under its lock no one can take it): no call is about to use it.
        st.pools.retain(|version, pool| {
            Some(*version) == newest || Arc::strong_count(pool) > 1 || !pool.is_empty()
        });
    }

    /// Stops every version's idle instances and refuses new calls; leased ones stop when
    /// released.
    pub async fn close(&self) {
        let pools = {
            let mut st = lock(&self.state);
            st.closed = true;
            std::mem::take(&mut st.pools)
        };
        for pool in pools.into_values() {
            pool.close().await;
        }
    }

    pub fn record(&self, success: bool) {
        self.tallies.record(success);
    }

    /// The function's figures: instances and idle ones of every version.
    pub fn stats(&self) -> PoolStats {
        let (instances, idle) = lock(&self.state)
            .pools
            .values()
            .map(|p| p.counts())
            .fold((0, 0), |(i, d), (pi, pd)| (i + pi, d + pd));
        self.tallies.stats(&self.name, instances, idle)
    }

    /// (version, instances, idle) of every version that has a pool, oldest first.
    #[cfg(test)]
    pub fn by_version(&self) -> Vec<(u64, usize, usize)> {
        lock(&self.state)
            .pools
            .iter()
            .map(|(v, p)| {
                let (instances, idle) = p.counts();
                (*v, instances, idle)
            })
            .collect()
    }
}
