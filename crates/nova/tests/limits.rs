//! Shared rate limits against the real Redis: daemons batching tokens never let more through
//! than the limit allows, and ask Redis far less often than once a call.

use std::sync::Arc;
use std::time::Instant;

use nova::ratelimit::{Limit, RateLimiter, RedisLimiter};
use nova::shared_redis::SharedRedis;

fn limiter() -> RedisLimiter {
    let redis = SharedRedis::new("redis://127.0.0.1:6379/0").expect("redis url");
    RedisLimiter::new(Arc::new(redis))
}

/// On a multi-threaded runtime, as in the daemon, so background fetches run while calls go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_tokens_never_exceed_the_shared_limit() {
    let bucket = format!("test:{}", uuid::Uuid::new_v4().simple());
    let limit = Limit {
        rate: 2000.0,
        burst: 200.0,
    };
    let daemons = [limiter(), limiter()];
    let started = Instant::now();
    // Under the limit: tokens come in batches.
    for _ in 0..60 {
        for d in &daemons {
            assert!(d.take(&bucket, limit).await.is_ok());
        }
    }
    let round_trips = |ds: &[RedisLimiter]| ds.iter().map(|d| d.round_trips()).sum::<u64>();
    assert!(
        round_trips(&daemons) <= 10,
        "{} round trips for 120 calls",
        round_trips(&daemons)
    );

    // Over it: never more than the limit allows, and refusals mostly answered locally.
    let mut granted = 120u64;
    let attempts = 3000;
    for _ in 0..attempts / 2 {
        for d in &daemons {
            if d.take(&bucket, limit).await.is_ok() {
                granted += 1;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = limit.burst + limit.rate * elapsed;
    assert!(
        granted as f64 <= allowed + 1.0,
        "granted {granted}, the limit allows {allowed:.0} in {elapsed:.3}s"
    );
    assert!(granted > 200, "granted {granted}: the bucket refills");
    assert!(
        round_trips(&daemons) * 2 < attempts,
        "{} round trips for {attempts} calls",
        round_trips(&daemons)
    );
}

/// A low limit is exact: one token per call, straight from Redis.
#[tokio::test]
async fn a_low_shared_limit_is_exact() {
    let bucket = format!("test:{}", uuid::Uuid::new_v4().simple());
    let limit = Limit {
        rate: 1.0 / 60.0,
        burst: 3.0,
    };
    let (a, b) = (limiter(), limiter());
    let mut outcomes = Vec::new();
    for d in [&a, &b, &a, &b, &a] {
        outcomes.push(d.take(&bucket, limit).await.is_ok());
    }
    assert_eq!(outcomes, [true, true, true, false, false]);
    // Asked again at once, `a` answers from its memory of Redis's refusal: with the real wait
    // (about a minute for 1/m), not the few milliseconds until it would ask Redis again.
    let rounds = a.round_trips();
    let wait = a.take(&bucket, limit).await.expect_err("still refused");
    assert_eq!(a.round_trips(), rounds, "answered locally");
    assert!(wait > std::time::Duration::from_secs(30), "{wait:?}");
}
