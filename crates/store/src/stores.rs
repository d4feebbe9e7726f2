//! One database's aggregates, handed out each as the trait its users need.

use std::sync::Arc;

use crate::{
    AliasStore, FunctionStore, KeyStore, LogStore, PackageStore, QueueStore, ScheduleStore,
    SecretStore, SettingStore, VersionStore,
};

/// Every aggregate of one store, each behind its own trait: how a deployment hands a store to
/// the services, each of which keeps only the parts it uses.
///
/// [`Stores::of`] takes them all from one store (so one [`crate::Breaker`] guards them all); a
/// decorator that concerns one aggregate then replaces just that field, as Nova's daemon puts its
/// Redis cache over `functions`.
#[derive(Clone)]
pub struct Stores {
    /// Functions and their code.
    pub functions: Arc<dyn FunctionStore>,
    /// The versions of functions (read and published; written as functions change).
    pub versions: Arc<dyn VersionStore>,
    /// The aliases of functions.
    pub aliases: Arc<dyn AliasStore>,
    /// Invocation logs.
    pub logs: Arc<dyn LogStore>,
    /// API keys.
    pub keys: Arc<dyn KeyStore>,
    /// Encrypted secrets.
    pub secrets: Arc<dyn SecretStore>,
    /// The store's settings.
    pub settings: Arc<dyn SettingStore>,
    /// The queue of async invocations.
    pub queue: Arc<dyn QueueStore>,
    /// The schedules of functions.
    pub schedules: Arc<dyn ScheduleStore>,
    /// Packages of classes and functions.
    pub packages: Arc<dyn PackageStore>,
}

impl Stores {
    /// Every aggregate from `store`, one shared instance behind all of them.
    pub fn of<S>(store: S) -> Stores
    where
        S: FunctionStore
            + VersionStore
            + AliasStore
            + LogStore
            + KeyStore
            + SecretStore
            + SettingStore
            + QueueStore
            + ScheduleStore
            + PackageStore,
    {
        let store = Arc::new(store);
        Stores {
            functions: store.clone(),
            versions: store.clone(),
            aliases: store.clone(),
            logs: store.clone(),
            keys: store.clone(),
            secrets: store.clone(),
            settings: store.clone(),
            queue: store.clone(),
            schedules: store.clone(),
            packages: store,
        }
    }
}
