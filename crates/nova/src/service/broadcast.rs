//! What daemons sharing a store tell one another through Redis about functions (the
//! [`crate::invalidation::Broadcast`]): a change here is announced; a change elsewhere makes this
//! daemon forget what it cached, and stop instances only when they cannot be used any more.

use super::{Functions, aliases};

/// What a daemon broadcasts after changing a function (`NAME:updated`), apart from a deletion
/// (`NAME`): the others forget its spec but keep its instances.
pub(super) const UPDATED: &str = ":updated";

impl Functions {
    /// Another daemon changed `name` (or, for `*`, anything): forget and stop what is stale.
    /// An update (`name:updated`) made a new version, whose calls get a pool of their own, so
    /// only the spec is forgotten: the old version's instances stay warm for calls that name it
    /// and go at the idle TTL, as on the daemon that made it. A deletion stops them.
    pub(super) async fn changed_elsewhere(&self, name: &str) {
        if let Some(function) = aliases::changed(name) {
            self.inner.alias_cache.forget(function);
            return;
        }
        if let Some(function) = name.strip_suffix(UPDATED) {
            self.forget_spec(function);
            return;
        }
        if name == crate::invalidation::EVERYTHING {
            let names: Vec<String> = (self.read_specs().keys())
                .filter(|k| !k.contains(':'))
                .cloned()
                .collect();
            self.write_specs().clear();
            self.inner.alias_cache.clear();
            for name in names {
                self.inner.dataplane.evict(&name).await;
            }
        } else {
            self.forget_spec(name);
            self.inner.dataplane.evict(name).await;
        }
    }

    pub(super) fn announce(&self, name: &str) {
        if let Some(broadcast) = &self.inner.broadcast {
            let (broadcast, name) = (broadcast.clone(), name.to_string());
            tokio::spawn(async move { broadcast.publish(&name).await });
        }
    }
}
