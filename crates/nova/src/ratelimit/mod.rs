//! Token buckets that cap invocations per API key and per function. A bucket holds up to `burst`
//! tokens and refills at `rate` per second; a call takes one or is refused with the wait until
//! the next token (429 with Retry-After). In process by default ([`LocalLimiter`]); with Redis,
//! [`RedisLimiter`] shares the buckets among daemons.

mod shared;

pub use shared::RedisLimiter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// A limit: `rate` calls per second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub rate: f64,
    pub burst: f64,
}

impl Limit {
    /// `100/s`, `6000/m`, `10/s:50` (burst 50; default: one second's worth, at least 1).
    pub fn parse(text: &str) -> Result<Limit, String> {
        let (rate, burst) = match text.split_once(':') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (text, None),
        };
        let (count, per) = rate
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("'{text}': expected N/s or N/m, e.g. 100/s"))?;
        let count: f64 = count
            .trim()
            .parse()
            .map_err(|_| format!("'{text}': {count} is not a number"))?;
        let seconds = match per.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            other => return Err(format!("'{text}': unknown period '{other}'")),
        };
        if count <= 0.0 {
            return Err(format!("'{text}': the rate must be above zero"));
        }
        let rate = count / seconds;
        let burst = match burst {
            Some(b) => b
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("'{text}': burst {b} is not a number"))?,
            None => rate.max(1.0),
        };
        Ok(Limit {
            rate,
            burst: burst.max(1.0),
        })
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes a token from `bucket`, or says how long until one is there.
    async fn take(&self, bucket: &str, limit: Limit) -> Result<(), Duration>;
}

/// An invocation refused by a limit: which bucket, and how long until it has a token again.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("rate limit of {what} reached: retry in {} ms", retry_after.as_millis())]
pub struct RateLimited {
    /// The bucket: `key:<key id>` or `function:<name>`.
    pub what: String,
    pub retry_after: Duration,
}

/// Invocation limits per API key and per function (none by default).
#[derive(Clone, Default)]
pub struct RateLimits {
    pub per_key: Option<Limit>,
    pub per_function: Option<Limit>,
    pub limiter: Option<Arc<dyn RateLimiter>>,
}

impl RateLimits {
    /// The one place an invocation is counted against both limits: the calling key's (`None`: a
    /// call without a key, all such calls sharing one bucket), then the function's. A call the
    /// key's limit refuses takes nothing from the function's.
    pub async fn admit(&self, key: Option<&str>, function: &str) -> Result<(), RateLimited> {
        // With no limit set (the default) a call costs no bucket name.
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if let Some(limit) = self.per_key {
            let bucket = format!("key:{}", key.unwrap_or("(none)"));
            Self::take_token(limiter.as_ref(), bucket, limit).await?;
        }
        if let Some(limit) = self.per_function {
            let bucket = format!("function:{function}");
            Self::take_token(limiter.as_ref(), bucket, limit).await?;
        }
        Ok(())
    }

    async fn take_token(
        limiter: &dyn RateLimiter,
        bucket: String,
        limit: Limit,
    ) -> Result<(), RateLimited> {
        limiter
            .take(&bucket, limit)
            .await
            .map_err(|retry_after| RateLimited {
                what: bucket,
                retry_after,
            })
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets in this process's memory.
#[derive(Default)]
pub struct LocalLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl LocalLimiter {
    pub(crate) fn take_now(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = comet_util::lock(&self.buckets);
        let b = buckets.entry(bucket.to_string()).or_insert(Bucket {
            tokens: limit.burst,
            at: now,
        });
        let refill = now.duration_since(b.at).as_secs_f64() * limit.rate;
        b.tokens = (b.tokens + refill).min(limit.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / limit.rate))
        }
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn take(&self, bucket: &str, limit: Limit) -> Result<(), Duration> {
        self.take_now(bucket, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_buckets_refill() {
        assert_eq!(
            Limit::parse("10/s").unwrap(),
            Limit {
                rate: 10.0,
                burst: 10.0
            }
        );
        assert_eq!(
            Limit::parse("60/m:5").unwrap(),
            Limit {
                rate: 1.0,
                burst: 5.0
            }
        );
        for bad in ["10", "x/s", "10/d", "0/s", "10/s:y"] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
        let limiter = LocalLimiter::default();
        let limit = Limit {
            rate: 20.0,
            burst: 3.0,
        };
        for _ in 0..3 {
            assert!(limiter.take_now("k", limit).is_ok());
        }
        let wait = limiter.take_now("k", limit).unwrap_err();
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
        assert!(
            limiter.take_now("other", limit).is_ok(),
            "buckets are separate"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.take_now("k", limit).is_ok(), "refilled");
    }

    /// `admit` takes the key's token, then the function's; a refusal names its bucket and a key's
    /// refusal leaves the function's bucket alone.
    #[tokio::test]
    async fn admit_takes_both_limits_in_order() {
        let one = Limit {
            rate: 0.001,
            burst: 1.0,
        };
        let limits = RateLimits {
            per_key: Some(one),
            per_function: Some(Limit {
                rate: 0.001,
                burst: 2.0,
            }),
            limiter: Some(Arc::new(LocalLimiter::default())),
        };
        limits.admit(Some("a"), "f").await.expect("first call");
        let refused = limits.admit(Some("a"), "f").await.unwrap_err();
        assert_eq!(refused.what, "key:a");
        assert!(
            refused.retry_after > Duration::from_secs(100),
            "{refused:?}"
        );
        // Key a's refusal took nothing from f: b's call gets f's second token, c's finds none.
        limits
            .admit(Some("b"), "f")
            .await
            .expect("f's second token");
        let refused = limits.admit(Some("c"), "f").await.unwrap_err();
        assert_eq!(refused.what, "function:f");
        assert!(
            refused
                .to_string()
                .starts_with("rate limit of function:f reached")
        );
        // Calls without a key share one bucket.
        limits.admit(None, "g").await.expect("first anonymous call");
        assert_eq!(
            limits.admit(None, "h").await.unwrap_err().what,
            "key:(none)"
        );
        // No limiter: everything passes.
        let open = RateLimits::default();
        for _ in 0..10 {
            open.admit(Some("a"), "f").await.expect("unlimited");
        }
    }
}
