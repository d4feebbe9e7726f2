//! Buckets in Redis, shared by every daemon on the same Redis. One Lua script refills and takes
//! atomically, on Redis's clock, so the shared limit is never exceeded.
//!
//! A round trip to Redis costs about as much as a whole warm invocation, so a daemon does not
//! make one per call when the limit is high: it takes a small batch of tokens at once (what the
//! limit allows in [`LEASE`], at most an eighth of the burst) and spends them locally, fetching
//! the next batch in the background when half is spent. Unspent tokens lapse after [`LEASE`]:
//! a daemon holds at most that much of the rate that another could have used, and never lets
//! more through than Redis granted. Low limits (under one token per lease) take one token per
//! call, exactly as without batching. A refusal is remembered until the next token is due (at
//! most a lease), so a flood of calls over the limit does not become a flood of round trips. When Redis cannot be reached, calls are limited by this
//! daemon's own buckets meanwhile (with a warning), and by Redis again once it answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Limit, LocalLimiter, RateLimiter};
use crate::shared_redis::{RedisUnavailable, SharedRedis};

/// How long a batch of tokens may be spent locally.
pub const LEASE: Duration = Duration::from_millis(50);
/// The least wait a refusal names.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// Takes up to ARGV[3] tokens; returns {granted, wait_ms until the next token if none}.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local granted = math.min(wanted, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, wait}
";

/// Tokens granted by Redis and not yet spent.
struct Batch {
    tokens: u64,
    until: Instant,
    /// A background fetch for this bucket is under way.
    fetching: bool,
    /// Redis refused: until the first instant, calls are refused without asking again and told
    /// to retry at the second (when Redis said the next token is due).
    refused: Option<(Instant, Instant)>,
}

/// What the local batch can do for a call.
enum Local {
    Spent,
    Refused(Duration),
    AskRedis,
}

pub struct RedisLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Arc<SharedRedis>,
    script: redis::Script,
    batches: Mutex<HashMap<String, Batch>>,
    fallback: LocalLimiter,
    failures: AtomicU64,
    /// Scripts run, for tests and metrics.
    round_trips: AtomicU64,
}

/// Tokens to take per round trip: what the limit allows in a lease, at most an eighth of the
/// burst (so that several daemons holding batches leave most of the burst to each other), at
/// least one.
pub fn batch_size(limit: Limit) -> u64 {
    let per_lease = (limit.rate * LEASE.as_secs_f64()).floor();
    per_lease.min((limit.burst / 8.0).floor()).max(1.0) as u64
}

impl RedisLimiter {
    pub fn new(redis: Arc<SharedRedis>) -> RedisLimiter {
        RedisLimiter {
            inner: Arc::new(Inner {
                redis,
                script: redis::Script::new(TAKE),
                batches: Mutex::new(HashMap::new()),
                fallback: LocalLimiter::default(),
                failures: AtomicU64::new(0),
                round_trips: AtomicU64::new(0),
            }),
        }
    }

    /// How many times Redis was asked for tokens.
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// Spends a local token if one is there, starting a background fetch when half the batch is
    /// gone; refuses at once while Redis's last refusal holds.
    fn spend_local(&self, bucket: &str, limit: Limit) -> Local {
        let size = batch_size(limit);
        let now = Instant::now();
        let mut batches = comet_util::lock(&self.inner.batches);
        let Some(batch) = batches.get_mut(bucket) else {
            return Local::AskRedis;
        };
        if let Some((until, retry_at)) = batch.refused {
            if until > now {
                return Local::Refused(retry_at.saturating_duration_since(now).max(MIN_WAIT));
            }
            batch.refused = None;
        }
        if batch.tokens == 0 || batch.until <= now {
            return Local::AskRedis;
        }
        batch.tokens -= 1;
        if size > 1 && batch.tokens <= size / 2 && !batch.fetching {
            batch.fetching = true;
            let (inner, bucket) = (self.inner.clone(), bucket.to_string());
            tokio::spawn(async move {
                let granted = inner
                    .fetch(&bucket, limit, size)
                    .await
                    .map_or(0, |(g, _)| g);
                inner.add(&bucket, granted);
            });
        }
        Local::Spent
    }
}

impl Inner {
    /// Asks Redis for up to `wanted` tokens: (granted, wait if none).
    async fn fetch(
        &self,
        bucket: &str,
        limit: Limit,
        wanted: u64,
    ) -> Result<(u64, Duration), RedisUnavailable> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("nova:ratelimit:{bucket}"))
            .arg(limit.rate)
            .arg(limit.burst)
            .arg(wanted);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let answer: (u64, u64) = match self.redis.script(&invocation).await {
            // A connection that went stale (Redis restarted) fails once and reconnects.
            Err(RedisUnavailable::Failed(_)) => self.redis.script(&invocation).await?,
            other => other?,
        };
        Ok((answer.0, Duration::from_millis(answer.1.max(1))))
    }

    /// Adds `granted` tokens to a bucket's batch, valid for a fresh lease.
    fn add(&self, bucket: &str, granted: u64) {
        let mut batches = comet_util::lock(&self.batches);
        let batch = Inner::batch(&mut batches, bucket);
        batch.fetching = false;
        if granted > 0 {
            let now = Instant::now();
            batch.tokens = if batch.until > now {
                batch.tokens + granted
            } else {
                granted
            };
            batch.until = now + LEASE;
        }
    }

    /// Remembers Redis's refusal for `wait` (at most a lease).
    fn refused(&self, bucket: &str, wait: Duration) {
        let mut batches = comet_util::lock(&self.batches);
        let now = Instant::now();
        Inner::batch(&mut batches, bucket).refused = Some((now + wait.min(LEASE), now + wait));
    }

    fn batch<'a>(batches: &'a mut HashMap<String, Batch>, bucket: &str) -> &'a mut Batch {
        batches.entry(bucket.to_string()).or_insert(Batch {
            tokens: 0,
            until: Instant::now(),
            fetching: false,
            refused: None,
        })
    }

    fn fell_back(&self, error: &RedisUnavailable) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(%error, failures = n, "redis unavailable: rate limits are this daemon's own meanwhile");
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn take(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        match self.spend_local(bucket, limit) {
            Local::Spent => return Ok(()),
            Local::Refused(wait) => return Err(wait),
            Local::AskRedis => {}
        }
        match self.inner.fetch(bucket, limit, batch_size(limit)).await {
            Ok((0, wait)) => {
                self.inner.refused(bucket, wait);
                Err(wait)
            }
            Ok((granted, _)) => {
                // One for this call, the rest for the next ones.
                self.inner.add(bucket, granted - 1);
                Ok(())
            }
            Err(e) => {
                self.inner.fell_back(&e);
                self.inner.fallback.take_now(bucket, limit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_a_lease_of_the_rate_within_an_eighth_of_the_burst() {
        let limit = |rate: f64, burst: f64| Limit { rate, burst };
        assert_eq!(
            batch_size(limit(1.0 / 60.0, 3.0)),
            1,
            "low limits: one token a call"
        );
        assert_eq!(batch_size(limit(100.0, 100.0)), 5);
        assert_eq!(batch_size(limit(2000.0, 200.0)), 25, "capped by the burst");
        assert_eq!(batch_size(limit(1e6, 1e6)), 50_000);
        assert_eq!(batch_size(limit(1000.0, 2.0)), 1);
    }
}
