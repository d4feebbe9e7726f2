//! The daemon's one link to Redis, for everything several daemons share through it: rate-limit
//! buckets and the function cache. One multiplexed connection serves every caller at once; each
//! command has a short deadline, and a failure tells the caller to fall back (to its own buckets,
//! to the database) rather than wait. A command that fails drops the connection, so the next one
//! connects afresh (a restarted Redis is picked up at once); while connecting fails, a new try is
//! made at most once per [`RECONNECT_EVERY`], so an unreachable Redis costs callers nothing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, RedisError};

/// Redis may take this long per command before the caller falls back.
pub const TIMEOUT: Duration = Duration::from_millis(100);
/// While Redis cannot be reached, a new connection is tried at most this often.
pub const RECONNECT_EVERY: Duration = Duration::from_secs(1);

pub struct SharedRedis {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// When connecting last failed.
    last_failure: Mutex<Option<Instant>>,
}

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("redis: {0}")]
    Failed(#[from] RedisError),
    #[error("redis did not answer within {} ms", TIMEOUT.as_millis())]
    TimedOut,
    #[error("redis is unreachable; retrying every {}s", RECONNECT_EVERY.as_secs())]
    Waiting,
}

impl SharedRedis {
    /// `url`: `redis://[:password@]host:port/db`. Nothing is connected yet.
    pub fn new(url: &str) -> Result<SharedRedis, String> {
        Ok(SharedRedis {
            client: redis::Client::open(url).map_err(|e| format!("redis URL: {e}"))?,
            connection: tokio::sync::Mutex::new(None),
            last_failure: Mutex::new(None),
        })
    }

    /// Runs `command` within [`TIMEOUT`].
    pub async fn query<T: FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisUnavailable> {
        let mut connection = self.connection().await?;
        let result = tokio::time::timeout(TIMEOUT, command.query_async(&mut connection)).await;
        self.settle(result).await
    }

    /// Runs a script (by its digest, loading it when Redis does not know it) within [`TIMEOUT`].
    pub async fn script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, RedisUnavailable> {
        let mut connection = self.connection().await?;
        let result = tokio::time::timeout(TIMEOUT, invocation.invoke_async(&mut connection)).await;
        self.settle(result).await
    }

    /// A command's outcome; on failure the connection is dropped so the next command connects
    /// afresh. An error Redis answered with (a script error, a wrong type) keeps it.
    async fn settle<T>(
        &self,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, RedisUnavailable> {
        let error = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if e.kind() == redis::ErrorKind::ResponseError => {
                return Err(RedisUnavailable::Failed(e));
            }
            Ok(Err(e)) => RedisUnavailable::Failed(e),
            Err(_) => RedisUnavailable::TimedOut,
        };
        *self.connection.lock().await = None;
        Err(error)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, RedisUnavailable> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let recently_failed =
            comet_util::lock(&self.last_failure).is_some_and(|at| at.elapsed() < RECONNECT_EVERY);
        if recently_failed {
            return Err(RedisUnavailable::Waiting);
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT);
        let connected = tokio::time::timeout(
            TIMEOUT * 2,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        let failure = match connected {
            Ok(Ok(connection)) => {
                *comet_util::lock(&self.last_failure) = None;
                *slot = Some(connection.clone());
                return Ok(connection);
            }
            Ok(Err(e)) => RedisUnavailable::Failed(e),
            Err(_) => RedisUnavailable::TimedOut,
        };
        *comet_util::lock(&self.last_failure) = Some(Instant::now());
        Err(failure)
    }
}
