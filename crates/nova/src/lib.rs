//! Nova, the control plane: functions as users register them, kept in the metadata store of the
//! `nova-store` crate, served over HTTP ([`http`]), driven by the `nova` CLI ([`cli`]), and run by
//! Comet's executor.
//!
//! [`service::Functions`] is the core: every front end (HTTP handler, local CLI) turns a request
//! into one of its methods, and it knows nothing of either. Each part takes only the store trait
//! of the aggregate it works on: [`service::Functions`] a `FunctionStore`, [`logs`] a `LogStore`,
//! [`apikeys`] a `KeyStore`, [`secrets`] a `SecretStore` (and the `SettingStore` for the master
//! key's check value), [`queue`] a `QueueStore` (async invocations, run by the daemon's
//! dispatcher through [`service::Functions`]). [`daemon::assemble`] opens one store, puts one circuit breaker in front of
//! it and, with Redis, [`redis_cache`] in front of the functions alone.

pub mod apikeys;
pub mod app;
pub mod code;
pub mod config;
pub mod counters;
pub mod daemon;
pub mod http;
pub mod invalidation;
pub mod logs;
pub mod queue;
pub mod ratelimit;
pub mod redis_cache;
pub mod schedule;
pub mod secrets;
pub mod service;
pub mod shared_redis;
