//! Assembling the platform (store + backend + executor) and serving the HTTP API until shutdown.

use std::future::Future;
use std::sync::Arc;

use comet::DataPlane;
use comet::local::LocalConfig;
use comet_kv::Kv;
use nova_store::{Breaker, Database as _, SqlStore, StoreError, Stores};
use thiserror::Error;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Settings;
use crate::ratelimit::RateLimits;
use crate::service::{Functions, Parts};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Local(#[from] comet::local::LocalError),
    #[error("cannot reach the data plane: {0}")]
    Remote(#[from] comet_grpc::ClientError),
    #[error("cannot open the KV service: {0}")]
    KvTask(String),
    #[error("{0}")]
    Redis(String),
    #[error("cannot open the KV service: {0}")]
    Kv(#[from] comet_kv::OpenError),
    #[error(transparent)]
    MasterKey(#[from] crate::secrets::SecretError),
}

/// Opens the store, starts the data plane and builds every part of the application once, in
/// the order they need each other; the last step is a struct literal, so a part cannot be
/// forgotten or added to a service that is already shared.
///
/// One store, one circuit breaker in front of it (so an outage seen through any aggregate fails
/// every call fast), and with Redis the function cache in front of the functions alone; each part
/// gets the aggregate it uses.
///
/// `daemon` turns on what only a long-running process wants: keeping `min_replicas` warm, the
/// idle-TTL sweeper, logs, rate limits, the Redis cache and the broadcast of changes.
pub async fn assemble(settings: &Settings, daemon: bool) -> Result<AppState, StartError> {
    let data_dir = &settings.data_dir;
    comet_plumbing::lifecycle::private_dir(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let store = match &settings.pg_dsn {
        Some(dsn) => SqlStore::postgres(dsn).await?,
        None => SqlStore::sqlite(&settings.database_path()).await?,
    };
    let dataplane = dataplane(settings, daemon)?;
    // One link to Redis for the function cache, the rate limits and the broadcast (only the
    // daemon: a one-off CLI run neither caches nor limits).
    let redis = match (&settings.redis_url, daemon) {
        (Some(url), true) => Some(Arc::new(
            crate::shared_redis::SharedRedis::new(url).map_err(StartError::Redis)?,
        )),
        _ => None,
    };
    let store = Breaker::new(store);
    let mut stores = Stores::of(store.clone());
    if let Some(redis) = &redis {
        let identity = store.identity().await?;
        let mac_key = crate::redis_cache::mac_key(&store).await?;
        stores.functions = Arc::new(crate::redis_cache::RedisCached::new(
            store,
            &identity,
            redis.clone(),
            &mac_key,
        ));
    }
    // Only the daemon keeps logs and limits: a one-off CLI run has no one to limit.
    let logger = (daemon && settings.logs_enabled).then(|| {
        Arc::new(crate::logs::Logger::start(
            stores.logs.clone(),
            settings.log_retention,
        ))
    });
    let limits = match (settings.per_key_limit, settings.per_function_limit) {
        (None, None) => RateLimits::default(),
        _ if !daemon => RateLimits::default(),
        (per_key, per_function) => {
            let limiter: Arc<dyn crate::ratelimit::RateLimiter> = match &redis {
                Some(redis) => Arc::new(crate::ratelimit::RedisLimiter::new(redis.clone())),
                None => Arc::new(crate::ratelimit::LocalLimiter::default()),
            };
            RateLimits {
                per_key,
                per_function,
                limiter: Some(limiter),
            }
        }
    };
    let secrets = secrets(settings, &stores, daemon).await?;
    let keys = crate::apikeys::ApiKeys::new(stores.keys.clone(), settings.require_auth);
    if settings.allow_anonymous && !settings.require_auth {
        keys.allow_anonymous();
    }
    let broadcast = match (&settings.redis_url, redis) {
        (Some(url), Some(redis)) => {
            Some(crate::invalidation::Broadcast::new(url, redis).map_err(StartError::Redis)?)
        }
        _ => None,
    };
    let functions = Functions::new(Parts {
        store: stores.functions.clone(),
        versions: stores.versions.clone(),
        aliases: stores.aliases.clone(),
        logs: stores.logs.clone(),
        secret_store: stores.secrets.clone(),
        dataplane,
        prewarm: daemon,
        logger: logger.clone(),
        secrets: secrets.clone(),
        broadcast,
    });
    let queue = crate::queue::Queue::new(
        stores.queue.clone(),
        functions.clone(),
        settings.async_queue.clone(),
        // SQLite writes one transaction at a time; Postgres takes a few side by side.
        if settings.pg_dsn.is_some() { 4 } else { 1 },
    );
    Ok(AppState {
        queue,
        schedules: crate::schedule::Schedules::new(stores.schedules.clone(), functions.clone()),
        functions,
        keys: Arc::new(keys),
        secrets,
        logger,
        limits,
    })
}

/// The data plane: an executor in this process, or comet workers over gRPC.
fn dataplane(settings: &Settings, daemon: bool) -> Result<Arc<dyn DataPlane>, StartError> {
    if settings.comet_endpoints.is_empty() {
        let executor = comet::local::executor(&LocalConfig {
            data_dir: settings.data_dir.clone(),
            agent: settings.agent.clone(),
            python: settings.python.clone(),
            isolation: settings.isolation.clone(),
            idle_ttl: settings.idle_ttl,
            daemon,
        })?;
        return Ok(Arc::new(comet::Embedded::new(executor, "embedded")));
    }
    tracing::info!(endpoints = ?settings.comet_endpoints, "data plane: comet over gRPC");
    Ok(Arc::new(comet_grpc::Cluster::connect_with_token(
        &settings.comet_endpoints,
        settings.comet_timeout,
        settings
            .comet_token
            .as_ref()
            .map(crate::config::Hidden::as_str),
    )?))
}

/// The secrets, under a master key that must be the one the store's secrets are under: a daemon
/// with another on a shared store refuses to start; otherwise it goes on without secrets.
async fn secrets(
    settings: &Settings,
    stores: &Stores,
    daemon: bool,
) -> Result<Option<Arc<crate::secrets::Secrets>>, StartError> {
    let shared = settings.pg_dsn.is_some();
    let master_key = crate::secrets::load_master_key(
        settings
            .master_key
            .as_ref()
            .map(crate::config::Hidden::as_str),
        settings.master_key_file.as_deref(),
        &settings.data_dir,
    );
    let checked = match master_key {
        Ok(key) => crate::secrets::check_master_key(
            stores.secrets.as_ref(),
            stores.settings.as_ref(),
            &key,
            shared,
        )
        .await
        .map(|()| key),
        Err(e) => Err(e),
    };
    match checked {
        Ok(key) => Ok(Some(Arc::new(crate::secrets::Secrets::new(
            stores.secrets.clone(),
            key.key,
        )))),
        Err(e @ crate::secrets::SecretError::WrongMasterKey { .. }) if daemon && shared => {
            Err(e.into())
        }
        Err(crate::secrets::SecretError::Store(e)) if daemon => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "secrets are unavailable");
            Ok(None)
        }
    }
}

/// Opens the KV databases the daemon serves embedded (only the daemon: a database has one
/// writer process).
pub async fn open_kv(settings: &Settings) -> Result<Arc<Kv>, StartError> {
    let config = settings.kv.clone();
    let kv = tokio::task::spawn_blocking(move || Kv::open(config))
        .await
        .map_err(|e| StartError::KvTask(e.to_string()))??;
    Ok(Arc::new(kv))
}

/// Serves the API (and the KV routes, when given) on `listener` until `shutdown` resolves, then
/// stops every instance; with the default limits and Host/Origin checks (tests use this).
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    kv: Option<Arc<Kv>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let guard = comet_httpd::GuardConfig {
        check_host: true,
        json_bodies: true,
        raw_body_prefixes: vec!["/databases/".into()],
        ..Default::default()
    };
    serve_with(
        listener,
        app,
        kv,
        comet_httpd::Limits::default(),
        guard,
        shutdown,
    )
    .await
}

/// [`serve`] with the daemon's settings: timeouts, the connection cap and the drain, and which
/// Host names and Origins are let in (see `comet_httpd`).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    kv: Option<Arc<Kv>>,
    limits: comet_httpd::Limits,
    guard: comet_httpd::GuardConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Err(e) = state.functions.prewarm_all().await {
        tracing::warn!(error = %e, "could not pre-warm functions");
    }
    let _kv_background = kv
        .as_ref()
        .map(comet_kv::spawn_background)
        .map(comet_util::AbortOnDrop);
    let app = crate::http::router(state.clone(), kv);
    let app = comet_httpd::BrowserGuard::new(guard).layer(app);
    // The queue's dispatcher runs in the daemon only, over the same service as the HTTP calls.
    let dispatcher = crate::queue::dispatcher::Dispatcher::start(state.queue.clone());
    // So does the scheduler, firing ticks into that queue.
    let scheduler = crate::schedule::Scheduler::start(state.schedules.store(), state.queue.clone());
    let served = comet_httpd::serve(listener, app, limits, shutdown).await;
    scheduler.stop().await;
    dispatcher.stop().await;
    state.functions.dataplane().shutdown().await;
    if let Some(logger) = &state.logger {
        logger.flush().await;
    }
    served
}
