//! Nova, the control plane: functions as users register them, stored in a [`store::Store`],
//! served over HTTP ([`http`]), driven by the `nova` CLI ([`cli`]), and run by Comet's executor.
//!
//! [`service::Functions`] is the core: every front end (HTTP handler, local CLI) turns a request
//! into one of its methods, and it knows nothing of either.

pub mod apikeys;
pub mod code;
pub mod config;
pub mod daemon;
pub mod http;
pub mod invalidation;
pub mod logs;
pub mod ratelimit;
pub mod secrets;
pub mod service;
pub mod shared_redis;
pub mod store;
