//! Telling other daemons that a function changed. Each daemon caches resolved specs so a warm call
//! touches no database; with Redis configured, an update, a delete or a secret change is
//! published on one channel and every other daemon drops its cached spec and its warm instances
//! of that function. A daemon that misses messages while Redis is away resubscribes and clears
//! its whole cache, since it cannot know what it missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::shared_redis::{RedisUnavailable, SharedRedis};

const CHANNEL: &str = "nova:functions";
/// A message that means "anything may have changed".
pub const EVERYTHING: &str = "*";

/// Tells every daemon on `redis` that `function` changed. `origin` names the sender: a daemon
/// ignores messages with its own.
pub async fn publish(
    redis: &SharedRedis,
    origin: &str,
    function: &str,
) -> Result<(), RedisUnavailable> {
    let mut publish = redis::cmd("PUBLISH");
    publish.arg(CHANNEL).arg(format!("{origin}|{function}"));
    redis.query::<i64>(&publish).await.map(|_| ())
}

pub struct Broadcast {
    /// For publishing: the daemon's shared link.
    redis: Arc<SharedRedis>,
    /// For listening, which takes a connection of its own.
    client: redis::Client,
    /// Tells this daemon's own messages from the others'.
    origin: String,
}

impl Broadcast {
    pub fn new(url: &str, redis: Arc<SharedRedis>) -> Result<Broadcast, String> {
        Ok(Broadcast {
            redis,
            client: redis::Client::open(url).map_err(|e| format!("redis URL: {e}"))?,
            origin: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    /// Publishes that `function` changed (best effort: a failure is logged).
    pub async fn publish(&self, function: &str) {
        if let Err(e) = publish(&self.redis, &self.origin, function).await {
            tracing::warn!(error = %e, function, "could not tell other daemons about a change");
        }
    }

    /// Names of functions other daemons changed ([`EVERYTHING`] after a reconnection), for as
    /// long as the receiver lives.
    pub fn subscribe(self: &Arc<Self>) -> mpsc::UnboundedReceiver<String> {
        let (changes, received) = mpsc::unbounded_channel();
        let this = self.clone();
        std::thread::Builder::new()
            .name("nova-invalidation".into())
            .spawn(move || this.listen(&changes))
            .ok();
        received
    }

    fn listen(&self, changes: &mpsc::UnboundedSender<String>) {
        let mut first = true;
        while !changes.is_closed() {
            if let Ok(mut connection) = self
                .client
                .get_connection_with_timeout(Duration::from_secs(1))
            {
                let mut pubsub = connection.as_pubsub();
                if pubsub.subscribe(CHANNEL).is_ok() {
                    // Whatever happened while we were not listening is unknown.
                    if !first && changes.send(EVERYTHING.to_string()).is_err() {
                        return;
                    }
                    first = false;
                    let _ = pubsub.set_read_timeout(Some(Duration::from_secs(1)));
                    loop {
                        match pubsub.get_message() {
                            Ok(message) => {
                                let payload: String = message.get_payload().unwrap_or_default();
                                if let Some((origin, name)) = payload.split_once('|')
                                    && origin != self.origin
                                    && changes.send(name.to_string()).is_err()
                                {
                                    return;
                                }
                            }
                            Err(e) if e.is_timeout() => {
                                if changes.is_closed() {
                                    return;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
