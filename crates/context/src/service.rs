//! The exchange's rules, whatever the transport: tokens, expiry, and what each call answers.
//!
//! Calls answer a JSON `value` for the reply envelope. As in the original, a write or delete
//! refused for the entry's sake (wrong tokens, no such entry) is not an HTTP error: the value
//! carries `{"error": …}`; a read that finds nothing or presents the wrong read token gets `{}`,
//! so a reader learns nothing about what exists. Tokens that break the rules are a 400, as the
//! original answers them (clients such as neuca-guest-tools look only at the status), and a
//! write past a quota is a 507. Unlike the original, writing over an existing entry needs its
//! write token, and deleting one needs both of its tokens.

use std::sync::Arc;
use std::time::Duration;

use comet_util::now_ms;

use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::config::ContextConfig;
use crate::entry::{Entry, EntryId};
use crate::store::{ContextStore, Quota, Selection, StoreError};

/// Refusals that are HTTP errors (the protocol's own refusals are values).
#[derive(Debug, Error)]
pub enum ContextError {
    #[error("missing query parameter '{0}'")]
    Missing(&'static str),
    #[error("a client certificate is required to {0}")]
    CertificateRequired(&'static str),
    #[error("the body must be UTF-8 text (JSON)")]
    NotText,
    #[error("'{0}' may not contain a NUL character")]
    Nul(&'static str),
    #[error("the body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The tokens break the rules (equal, too short, too weak).
    #[error("{0}")]
    Tokens(String),
    /// The write would take the context or the store past a quota.
    #[error(transparent)]
    Quota(Quota),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ContextError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Quota(q) => ContextError::Quota(q),
            other => ContextError::Store(other),
        }
    }
}

/// The original's answer to a write whose read token is its write token.
pub const SAME_TOKENS: &str = "Invalid tokens: read and write token cannot be the same";

/// The query parameters, spelled as the original's clients send them.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Params {
    #[serde(rename = "contextID")]
    pub context_id: Option<String>,
    pub family: Option<String>,
    #[serde(rename = "Key")]
    pub key: Option<String>,
    #[serde(rename = "readToken")]
    pub read_token: Option<String>,
    #[serde(rename = "writeToken")]
    pub write_token: Option<String>,
}

fn required(value: &Option<String>, name: &'static str) -> Result<String, ContextError> {
    match value {
        Some(v) if v.contains('\0') => Err(ContextError::Nul(name)),
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(ContextError::Missing(name)),
    }
}

impl Params {
    fn entry_id(&self) -> Result<EntryId, ContextError> {
        Ok(EntryId {
            context_id: required(&self.context_id, "contextID")?,
            family: required(&self.family, "family")?,
            key: required(&self.key, "Key")?,
        })
    }
}

/// What the caller proved beyond its tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    /// A verified client certificate was presented.
    pub has_certificate: bool,
}

pub struct Exchange {
    store: Arc<dyn ContextStore>,
    /// Entries unused for twice this long are gone.
    expire: Option<Duration>,
    min_token_length: usize,
    strong_tokens: bool,
    /// Creating and deleting need a client certificate.
    certificates_required: bool,
}

/// The original COMET's strength rule.
fn strong(token: &str) -> bool {
    token.len() >= 8
        && token.chars().any(|c| c.is_ascii_digit())
        && token.chars().any(|c| c.is_lowercase())
        && token.chars().any(|c| c.is_uppercase())
        && !token.chars().any(char::is_whitespace)
}

/// The `value` of a reply, already serialized (an enumerate of a big slice is written straight
/// from the entries, with no tree of JSON values in between).
pub type Reply = Box<RawValue>;

fn reply(value: &impl Serialize) -> Reply {
    // Serializing our own types and plain JSON values cannot fail.
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

fn error(message: impl Into<String>) -> Reply {
    reply(&json!({ "error": message.into() }))
}

fn success(what: &str) -> Reply {
    reply(&json!({ "Success": what }))
}

/// An `enumerateScope` value.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listing<'a> {
    context_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<&'a str>,
    entries: Vec<Listed<'a>>,
}

#[derive(Serialize)]
struct Listed<'a> {
    /// Only when the listing spans families.
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<&'a str>,
    key: &'a str,
    value: &'a str,
}

impl Exchange {
    pub fn new(store: Arc<dyn ContextStore>, config: &ContextConfig) -> Exchange {
        Exchange {
            store,
            expire: config.record_expire_time.filter(|e| !e.is_zero()),
            min_token_length: config.min_token_length.max(1),
            strong_tokens: config.strong_tokens,
            certificates_required: config.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        }
    }

    pub fn store(&self) -> &Arc<dyn ContextStore> {
        &self.store
    }

    /// Entries last used before this are expired (none without an expire time).
    fn alive_since(&self, now: i64) -> i64 {
        self.expire
            .map_or(i64::MIN, |e| now - 2 * e.as_millis() as i64)
    }

    fn alive(&self, entry: &Entry, now: i64) -> bool {
        entry.last_access >= self.alive_since(now)
    }

    /// Reads refresh entries at most this often, so a busy family is not rewritten on every
    /// read: a read keeps an entry for at least 2 × expire − expire/64.
    fn touch_every(&self) -> i64 {
        self.expire
            .map_or(0, |e| (e.as_millis() as i64 / 64).max(1))
    }

    /// The token rules, checked in the original's order with its messages where it has one.
    fn check_tokens(&self, read: &str, write: &str) -> Result<(), ContextError> {
        let refuse = |message: String| Err(ContextError::Tokens(message));
        if read == write {
            return refuse(SAME_TOKENS.into());
        }
        if read.len() < self.min_token_length || write.len() < self.min_token_length {
            return refuse(format!(
                "tokens must be at least {} characters",
                self.min_token_length
            ));
        }
        let rule = "at least 8 characters, with a digit, a lowercase and an uppercase letter, \
                    and no white space";
        if self.strong_tokens && !strong(read) {
            return refuse(format!("Read token not strong enough: it needs {rule}"));
        }
        if self.strong_tokens && !strong(write) {
            return refuse(format!("Write token not strong enough: it needs {rule}"));
        }
        Ok(())
    }

    /// `POST /writeScope`: create the entry, or replace its value with its write token.
    pub async fn write(
        &self,
        p: &Params,
        body: String,
        caller: Caller,
    ) -> Result<Reply, ContextError> {
        let id = p.entry_id()?;
        let read = required(&p.read_token, "readToken")?;
        let write = required(&p.write_token, "writeToken")?;
        if body.contains('\0') {
            return Err(ContextError::Nul("the body"));
        }
        self.check_tokens(&read, &write)?;
        let now = now_ms();
        let entry = Entry {
            id,
            read_token: read,
            write_token: write,
            value: body,
            last_access: now,
        };
        let existing = self.store.get(&entry.id).await?;
        match existing {
            Some(old) if self.alive(&old, now) => {
                if old.write_token != entry.write_token || old.read_token != entry.read_token {
                    return Ok(error("the tokens do not match this entry's"));
                }
                if self.store.update(&entry).await? {
                    return Ok(success("Record updated"));
                }
                Ok(error("the tokens do not match this entry's"))
            }
            expired => {
                if !caller.has_certificate && self.certificates_required {
                    return Err(ContextError::CertificateRequired("create an entry"));
                }
                if let Some(old) = expired {
                    // Expired but not swept yet: it is gone as far as anyone can tell.
                    self.store
                        .delete(&old.id, &old.read_token, &old.write_token)
                        .await?;
                }
                if self.store.create(&entry).await? {
                    Ok(success("Record created"))
                } else {
                    Ok(error("the entry was created by someone else just now"))
                }
            }
        }
    }

    /// `GET /readScope`: the entry, or `{}` when it is absent or the read token is wrong.
    pub async fn read(&self, p: &Params) -> Result<Reply, ContextError> {
        let id = p.entry_id()?;
        let read = required(&p.read_token, "readToken")?;
        let now = now_ms();
        let Some(entry) = self.store.get(&id).await? else {
            return Ok(reply(&json!({})));
        };
        if entry.read_token != read || !self.alive(&entry, now) {
            return Ok(reply(&json!({})));
        }
        self.keep_alive(
            &[&entry],
            Some(&id.family),
            Some(&id.key),
            &id.context_id,
            &read,
            now,
        )
        .await?;
        Ok(reply(&json!({
            "contextId": entry.id.context_id,
            "family": entry.id.family,
            "key": entry.id.key,
            "value": entry.value,
        })))
    }

    /// `GET /enumerateScope`: every entry of the context (of one family, if given) that the read
    /// token opens.
    pub async fn enumerate(&self, p: &Params) -> Result<Reply, ContextError> {
        let context_id = required(&p.context_id, "contextID")?;
        let read = required(&p.read_token, "readToken")?;
        let family = p.family.as_deref().filter(|f| !f.is_empty());
        let now = now_ms();
        let entries = self.store.list(&context_id, family, &read).await?;
        let alive: Vec<&Entry> = entries.iter().filter(|e| self.alive(e, now)).collect();
        self.keep_alive(&alive, family, None, &context_id, &read, now)
            .await?;
        let listing = Listing {
            context_id: &context_id,
            family,
            entries: alive
                .iter()
                .map(|e| Listed {
                    family: family.is_none().then_some(e.id.family.as_str()),
                    key: &e.id.key,
                    value: &e.value,
                })
                .collect(),
        };
        Ok(reply(&listing))
    }

    /// `DELETE /deleteScope`: with both of the entry's tokens (a wrong read token finds no
    /// entry, as in the original).
    pub async fn delete(&self, p: &Params, caller: Caller) -> Result<Reply, ContextError> {
        let id = p.entry_id()?;
        let read = required(&p.read_token, "readToken")?;
        let write = required(&p.write_token, "writeToken")?;
        if !caller.has_certificate && self.certificates_required {
            return Err(ContextError::CertificateRequired("delete an entry"));
        }
        if self.store.delete(&id, &read, &write).await? {
            Ok(success("Record deleted"))
        } else {
            Ok(error("no such entry, or its tokens do not match"))
        }
    }

    async fn keep_alive(
        &self,
        returned: &[&Entry],
        family: Option<&str>,
        key: Option<&str>,
        context_id: &str,
        read_token: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        if self.expire.is_none() {
            return Ok(());
        }
        let stale_before = now - self.touch_every();
        if returned.iter().any(|e| e.last_access < stale_before) {
            let selection = Selection {
                context_id,
                family,
                key,
                read_token,
                // Expired entries the sweeper has not removed yet stay expired.
                alive_since: self.alive_since(now),
            };
            self.store.touch(&selection, now, stale_before).await?;
        }
        Ok(())
    }

    /// Deletes expired entries, every half expire time, until the task is aborted.
    pub fn spawn_sweeper(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let expire = self.expire?;
        let exchange = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(expire / 2);
            loop {
                tick.tick().await;
                let before = exchange.alive_since(now_ms());
                match exchange.store.remove_idle(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "expired context entries"),
                    Err(e) => tracing::warn!(error = %e, "cannot remove expired context entries"),
                }
            }
        }))
    }
}
