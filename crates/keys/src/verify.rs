//! Checking a presented key. The records are cached for a few seconds and refreshed off the
//! request path (the first call after the cache ages starts a refresh and is served from the
//! old copy), so a key made or revoked by one process reaches the others within about
//! [`REFRESH`]. When the source cannot be read, the last copy keeps serving for up to
//! [`STALE_LIMIT`]: an outage of the store does not lock every caller out, and no key can be
//! revoked meanwhile anyway (revoking writes to that store); expiry is still checked on the clock.
//!
//! Who may call without a key is the [`Anonymous`] policy: by default only a store where no key
//! has ever existed is open, so a key that expires, or the last key revoked or deleted, closes the
//! API rather than opening it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use comet_util::now_ms;

use async_trait::async_trait;
use thiserror::Error;

use crate::key::{ApiKeyRecord, Scope, split};

/// How long a copy of the records is trusted before a refresh.
pub const REFRESH: Duration = Duration::from_secs(5);
/// How long a copy keeps serving while refreshes fail.
pub const STALE_LIMIT: Duration = Duration::from_secs(600);
/// How long reading the records, or waiting for another caller's read, may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the records come from.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, SourceError>;
    /// Whether a key has ever existed (a durable mark in the store that deleting keys does not
    /// remove).
    async fn keys_required(&self) -> Result<bool, SourceError>;
}

/// When a call without a key is let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anonymous {
    /// Never (`--require-auth`).
    Never = 0,
    /// Until the first key is made; after that never again, whatever becomes of the keys. The
    /// default: a fresh install works and its operator can create the first admin key.
    UntilFirstKey = 1,
    /// Whenever no key is active: the operator's explicit choice (`--allow-anonymous`), e.g. to
    /// recover after every key has expired.
    WhileNoActiveKey = 2,
}

/// The source could not be read; the text says why.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Why a call is refused.
#[derive(Debug, Error)]
pub enum Denied {
    /// No usable key: HTTP 401, gRPC UNAUTHENTICATED.
    #[error("{0}: send 'Authorization: Bearer <API key>'")]
    Unauthenticated(&'static str),
    /// A good key without the scope: HTTP 403, gRPC PERMISSION_DENIED.
    #[error("API key '{key}' lacks the '{scope}' scope")]
    Forbidden { key: String, scope: &'static str },
    /// The keys cannot be read and no recent copy is at hand: HTTP 503, gRPC UNAVAILABLE.
    #[error("cannot check API keys: {0}")]
    Unavailable(String),
}

struct Snapshot {
    /// When these records were read; `None`: never.
    loaded: Option<Instant>,
    /// When a refresh was last started, successful or not.
    tried: Instant,
    /// Why the last refresh failed, if it did.
    error: Option<String>,
    keys: Arc<Keys>,
}

/// The records by id, and until when (ms) at least one of them is active, worked out once per
/// read so that a call's check does not walk every key.
#[derive(Default)]
struct Keys {
    by_id: HashMap<String, ApiKeyRecord>,
    active_until: Option<i64>,
    /// A key has existed.
    required: bool,
}

impl Keys {
    fn new(records: Vec<ApiKeyRecord>, required: bool) -> Keys {
        let active_until = records
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.expires_at.unwrap_or(i64::MAX))
            .max();
        Keys {
            required: required || !records.is_empty(),
            by_id: records.into_iter().map(|k| (k.id.clone(), k)).collect(),
            active_until,
        }
    }

    fn any_active(&self, now: i64) -> bool {
        self.active_until.is_some_and(|until| until > now)
    }

    /// Whether a call without a key may pass under `policy` at `now`.
    fn open(&self, policy: Anonymous, now: i64) -> bool {
        match policy {
            Anonymous::Never => false,
            Anonymous::UntilFirstKey => !self.required,
            Anonymous::WhileNoActiveKey => !self.any_active(now),
        }
    }
}

impl Snapshot {
    fn usable(&self) -> bool {
        self.loaded.is_some_and(|l| l.elapsed() < STALE_LIMIT)
    }
}

struct Inner {
    source: Arc<dyn KeySource>,
    /// An [`Anonymous`] as its index; settable after construction (at start-up).
    anonymous: AtomicU8,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held by the one refresh under way.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

/// Checks bearer keys against a [`KeySource`]. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl Verifier {
    /// Until the first key exists calls are let through, unless `require_auth`.
    pub fn new(source: Arc<dyn KeySource>, require_auth: bool) -> Verifier {
        let anonymous = match require_auth {
            true => Anonymous::Never,
            false => Anonymous::UntilFirstKey,
        };
        Verifier::with_policy(source, anonymous)
    }

    /// Calls without a key are let through as `anonymous` says.
    pub fn with_policy(source: Arc<dyn KeySource>, anonymous: Anonymous) -> Verifier {
        Verifier {
            inner: Arc::new(Inner {
                source,
                anonymous: AtomicU8::new(anonymous as u8),
                current: RwLock::new(None),
                refreshing: Arc::new(tokio::sync::Mutex::new(())),
            }),
        }
    }

    /// Checks an `Authorization` value (`Bearer nova_…`) against what a call needs. `Ok(Some(name))`
    /// names the key when one was required and given; `Ok(None)`: no key needed.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        scope: Scope,
    ) -> Result<Option<String>, Denied> {
        self.check_key(authorization.and_then(|h| h.strip_prefix("Bearer ")), scope)
            .await
    }

    /// Checks a presented key (`nova_…`, however the caller sent it) against what a call needs;
    /// the key's name as [`Verifier::check`].
    pub async fn check_key(
        &self,
        presented: Option<&str>,
        scope: Scope,
    ) -> Result<Option<String>, Denied> {
        let keys = self.snapshot().await?;
        let now = now_ms();
        if keys.keys.open(self.policy(), now) {
            return Ok(None);
        }
        let (id, secret) = presented
            .ok_or(Denied::Unauthenticated("an API key is required"))
            .and_then(|k| split(k).ok_or(Denied::Unauthenticated("malformed API key")))?;
        let key = keys
            .keys
            .by_id
            .get(id)
            .filter(|k| k.matches(secret))
            .ok_or(Denied::Unauthenticated("unknown API key"))?;
        if !key.active(now) {
            return Err(Denied::Unauthenticated("the API key is revoked or expired"));
        }
        if key.grants(scope) {
            Ok(Some(key.name.clone()))
        } else {
            Err(Denied::Forbidden {
                key: key.name.clone(),
                scope: scope.as_str(),
            })
        }
    }

    /// When calls without a key are let through.
    pub fn policy(&self) -> Anonymous {
        match self.inner.anonymous.load(Ordering::Relaxed) {
            0 => Anonymous::Never,
            1 => Anonymous::UntilFirstKey,
            _ => Anonymous::WhileNoActiveKey,
        }
    }

    /// Changes the policy (meant for start-up, before calls arrive).
    pub fn set_policy(&self, anonymous: Anonymous) {
        self.inner
            .anonymous
            .store(anonymous as u8, Ordering::Relaxed);
    }

    /// Reads the records now (after this process changed them).
    pub async fn refresh(&self) -> Result<(), Denied> {
        let Ok(_one) = tokio::time::timeout(LOAD_TIMEOUT, self.inner.refreshing.lock()).await
        else {
            return Err(Denied::Unavailable("the key store does not answer".into()));
        };
        self.inner.load().await.map(|_| ())
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, Denied> {
        if let Some(s) = self.inner.current()
            && s.usable()
        {
            if s.tried.elapsed() >= REFRESH {
                self.refresh_in_background();
            }
            return Ok(s);
        }
        let Ok(_one) = tokio::time::timeout(LOAD_TIMEOUT, self.inner.refreshing.lock()).await
        else {
            return Err(Denied::Unavailable("the key store does not answer".into()));
        };
        match self.inner.current() {
            // Loaded by another caller while this one waited.
            Some(s) if s.usable() => Ok(s),
            // Failed a moment ago: say so at once rather than queue behind another attempt.
            Some(s) if s.tried.elapsed() < REFRESH => Err(Denied::Unavailable(
                s.error.clone().unwrap_or_else(|| "no recent copy".into()),
            )),
            _ => self.inner.load().await,
        }
    }

    fn refresh_in_background(&self) {
        let Ok(one) = self.inner.refreshing.clone().try_lock_owned() else {
            return; // one is under way
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _one = one;
            let _ = inner.load().await;
        });
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Snapshot>> {
        comet_util::read(&self.current).clone()
    }

    fn set(&self, snapshot: Arc<Snapshot>) {
        *comet_util::write(&self.current) = Some(snapshot);
    }

    /// Reads the records; on failure keeps the old ones (marking the attempt, so the next try
    /// waits [`REFRESH`]) and says why.
    async fn load(&self) -> Result<Arc<Snapshot>, Denied> {
        let both = async {
            let required = self.source.keys_required().await?;
            Ok((self.source.api_keys().await?, required))
        };
        let read = tokio::time::timeout(LOAD_TIMEOUT, both).await;
        let read = read.unwrap_or_else(|_| {
            Err(SourceError(format!(
                "no answer within {}s",
                LOAD_TIMEOUT.as_secs()
            )))
        });
        match read {
            Ok((keys, required)) => {
                let now = Instant::now();
                let snapshot = Arc::new(Snapshot {
                    loaded: Some(now),
                    tried: now,
                    error: None,
                    keys: Arc::new(Keys::new(keys, required)),
                });
                self.set(snapshot.clone());
                Ok(snapshot)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read API keys; the last copy serves while recent");
                let old = self.current();
                self.set(Arc::new(Snapshot {
                    loaded: old.as_ref().and_then(|o| o.loaded),
                    tried: Instant::now(),
                    error: Some(e.0.clone()),
                    keys: old.map(|o| o.keys.clone()).unwrap_or_default(),
                }));
                Err(Denied::Unavailable(e.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::key::mint;

    /// Records in memory that can be made unreadable, as a store outage.
    #[derive(Default)]
    struct Records {
        keys: Mutex<Vec<ApiKeyRecord>>,
        down: Mutex<bool>,
        /// The store's mark that a key has existed.
        marked: Mutex<bool>,
    }

    #[async_trait]
    impl KeySource for Records {
        async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, SourceError> {
            if *self.down.lock().unwrap() {
                return Err(SourceError("connection refused".into()));
            }
            Ok(self.keys.lock().unwrap().clone())
        }

        async fn keys_required(&self) -> Result<bool, SourceError> {
            if *self.down.lock().unwrap() {
                return Err(SourceError("connection refused".into()));
            }
            Ok(*self.marked.lock().unwrap())
        }
    }

    fn bearer(key: &str) -> String {
        format!("Bearer {key}")
    }

    #[tokio::test]
    async fn open_until_a_key_exists_then_scopes_decide() {
        let records = Arc::new(Records::default());
        let verifier = Verifier::new(records.clone(), false);
        assert_eq!(verifier.check(None, Scope::Admin).await.unwrap(), None);

        let reader = mint("reader", &[Scope::Read], None, now_ms());
        let admin = mint("root", &[Scope::Admin], None, now_ms());
        records
            .keys
            .lock()
            .unwrap()
            .extend([reader.record.clone(), admin.record.clone()]);
        verifier.refresh().await.unwrap();

        let denied = verifier.check(None, Scope::Read).await.unwrap_err();
        assert!(matches!(denied, Denied::Unauthenticated(_)), "{denied}");
        let denied = verifier
            .check(Some("Bearer nova_x"), Scope::Read)
            .await
            .unwrap_err();
        assert!(matches!(
            denied,
            Denied::Unauthenticated("malformed API key")
        ));
        let forged = format!("{}0", bearer(&reader.key));
        let denied = verifier
            .check(Some(&forged), Scope::Read)
            .await
            .unwrap_err();
        assert!(matches!(denied, Denied::Unauthenticated("unknown API key")));
        let r = verifier
            .check(Some(&bearer(&reader.key)), Scope::Read)
            .await;
        assert_eq!(r.unwrap().as_deref(), Some("reader"));
        let denied = verifier
            .check(Some(&bearer(&reader.key)), Scope::Invoke)
            .await
            .unwrap_err();
        assert!(matches!(denied, Denied::Forbidden { .. }), "{denied}");
        let r = verifier
            .check(Some(&bearer(&admin.key)), Scope::Invoke)
            .await;
        assert_eq!(r.unwrap().as_deref(), Some("root"));
    }

    #[test]
    fn keys_are_active_until_the_last_unrevoked_one_expires() {
        let mut revoked = mint("gone", &[Scope::Read], None, 0).record;
        revoked.revoked_at = Some(1);
        let brief = mint(
            "brief",
            &[Scope::Read],
            Some(std::time::Duration::from_secs(1)),
            0,
        );
        assert!(!Keys::new(vec![revoked.clone()], true).any_active(0));
        let keys = Keys::new(vec![revoked.clone(), brief.record], true);
        assert!(keys.any_active(999) && !keys.any_active(1_000));
        let forever = mint("forever", &[Scope::Read], None, 0).record;
        assert!(Keys::new(vec![revoked, forever], true).any_active(i64::MAX - 1));
    }

    /// Issue 13, point 1: a key that expires, or the last key revoked or deleted, must not open
    /// the API again; only the operator's explicit policy does.
    #[tokio::test]
    async fn the_api_stays_closed_once_a_key_has_existed() {
        let records = Arc::new(Records::default());
        let closed = Verifier::new(records.clone(), false);
        let recovering = Verifier::with_policy(records.clone(), Anonymous::WhileNoActiveKey);
        let mut admin = mint("root", &[Scope::Admin], None, now_ms());
        admin.record.expires_at = Some(now_ms() - 1);
        records.keys.lock().unwrap().push(admin.record.clone());
        *records.marked.lock().unwrap() = true;
        for v in [&closed, &recovering] {
            v.refresh().await.unwrap();
        }
        assert!(matches!(
            closed.check(None, Scope::Read).await,
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            closed.check(Some(&bearer(&admin.key)), Scope::Read).await,
            Err(Denied::Unauthenticated(_))
        ));
        assert_eq!(recovering.check(None, Scope::Admin).await.unwrap(), None);

        // Revoked, then deleted: the mark keeps it closed.
        records.keys.lock().unwrap()[0].expires_at = None;
        records.keys.lock().unwrap()[0].revoked_at = Some(1);
        closed.refresh().await.unwrap();
        assert!(closed.check(None, Scope::Read).await.is_err());
        assert!(
            closed
                .check(Some(&bearer(&admin.key)), Scope::Read)
                .await
                .is_err()
        );
        records.keys.lock().unwrap().clear();
        closed.refresh().await.unwrap();
        assert!(closed.check(None, Scope::Read).await.is_err());
        // Keys without the mark (written by an older Nova) count as well.
        *records.marked.lock().unwrap() = false;
        records.keys.lock().unwrap().push(admin.record.clone());
        closed.refresh().await.unwrap();
        assert!(closed.check(None, Scope::Read).await.is_err());
    }

    #[tokio::test]
    async fn a_key_may_come_bare() {
        let records = Arc::new(Records::default());
        let reader = mint("reader", &[Scope::Read], None, now_ms());
        records.keys.lock().unwrap().push(reader.record.clone());
        let verifier = Verifier::new(records, false);
        let r = verifier.check_key(Some(&reader.key), Scope::Read).await;
        assert_eq!(r.unwrap().as_deref(), Some("reader"));
        assert!(verifier.check_key(None, Scope::Read).await.is_err());
    }

    #[tokio::test]
    async fn require_auth_refuses_even_with_no_keys() {
        let verifier = Verifier::new(Arc::new(Records::default()), true);
        assert!(matches!(
            verifier.check(None, Scope::Read).await,
            Err(Denied::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn an_unreadable_store_is_bridged_by_the_last_copy_but_not_without_one() {
        let records = Arc::new(Records::default());
        *records.down.lock().unwrap() = true;
        let cold = Verifier::new(records.clone(), false);
        assert!(matches!(
            cold.check(None, Scope::Read).await,
            Err(Denied::Unavailable(_))
        ));

        *records.down.lock().unwrap() = false;
        let invoker = mint("ci", &[Scope::Invoke], None, now_ms());
        records.keys.lock().unwrap().push(invoker.record.clone());
        let warm = Verifier::new(records.clone(), false);
        warm.refresh().await.unwrap();
        *records.down.lock().unwrap() = true;
        assert!(matches!(warm.refresh().await, Err(Denied::Unavailable(_))));
        let r = warm.check(Some(&bearer(&invoker.key)), Scope::Invoke).await;
        assert_eq!(
            r.unwrap().as_deref(),
            Some("ci"),
            "the last copy still serves"
        );
        assert!(matches!(
            warm.check(None, Scope::Invoke).await,
            Err(Denied::Unauthenticated(_))
        ));
    }
}
