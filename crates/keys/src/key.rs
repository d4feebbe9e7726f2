//! What a key is: its scopes, its stored record, and how a new one is made.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Re-exported from `comet-util`, the one home of constant-time comparison.
pub use comet_util::same_bytes;

/// What a key may do; `admin` includes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Invoke,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Invoke => "invoke",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s.trim() {
            "read" => Ok(Scope::Read),
            "invoke" => Ok(Scope::Invoke),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown scope '{other}': use read, invoke or admin"
            )),
        }
    }
}

/// An API key as stored: never the secret, only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public part of the key (`nova_<id>_<secret>`), used to find it.
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret part.
    #[serde(skip_serializing, default)]
    pub digest: String,
    /// Comma-separated: read, invoke, admin.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiKeyRecord {
    /// Neither revoked nor expired at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now_ms)
    }

    /// Whether the key grants `scope` (admin grants everything).
    pub fn grants(&self, scope: Scope) -> bool {
        self.scopes
            .split(',')
            .filter_map(|s| s.parse::<Scope>().ok())
            .any(|s| s == Scope::Admin || s == scope)
    }

    /// Whether `secret` is this key's, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        same_bytes(digest(secret).as_bytes(), self.digest.as_bytes())
    }
}

/// A new key: the whole key, to be shown once, and the record to store.
#[derive(Debug, Clone)]
pub struct MintedKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

/// Makes a key named `name` with `scopes`, created at `now_ms`, living `ttl` (forever: `None`).
pub fn mint(name: &str, scopes: &[Scope], ttl: Option<Duration>, now_ms: i64) -> MintedKey {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    // 256 random bits from two v4 UUIDs (the OS's CSPRNG through `fast-rng`'s seeding).
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let record = ApiKeyRecord {
        id: id.clone(),
        name: name.to_string(),
        digest: digest(&secret),
        scopes: names.join(","),
        created_at: now_ms,
        expires_at: ttl.map(|t| now_ms.saturating_add(t.as_millis() as i64)),
        revoked_at: None,
    };
    MintedKey {
        key: format!("nova_{id}_{secret}"),
        record,
    }
}

/// The id and secret of a presented key, if it has the shape of one.
pub(crate) fn split(presented: &str) -> Option<(&str, &str)> {
    presented
        .trim()
        .strip_prefix("nova_")
        .and_then(|rest| rest.split_once('_'))
        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_matches_its_record_and_nothing_else() {
        let minted = mint("ci", &[Scope::Invoke, Scope::Read, Scope::Invoke], None, 1);
        let (id, secret) = split(&minted.key).expect("shape");
        assert_eq!(id, minted.record.id);
        assert!(minted.record.matches(secret));
        assert!(!minted.record.matches(&secret[1..]));
        assert!(!minted.record.matches(""));
        assert_eq!(minted.record.scopes, "invoke,read");
        assert!(!minted.key.contains(&minted.record.digest));
    }

    #[test]
    fn scopes_expiry_and_revocation() {
        let mut r = mint("x", &[Scope::Read], Some(Duration::from_secs(1)), 1_000).record;
        assert!(r.grants(Scope::Read) && !r.grants(Scope::Invoke) && !r.grants(Scope::Admin));
        assert!(r.active(1_999) && !r.active(2_000));
        r.expires_at = None;
        r.revoked_at = Some(5);
        assert!(!r.active(0));
        r.scopes = "admin".into();
        assert!(r.grants(Scope::Invoke) && r.grants(Scope::Read));
    }

    #[test]
    fn malformed_keys_have_no_parts() {
        for bad in [
            "",
            "nova_",
            "nova__x",
            "nova_id_",
            "key_id_secret",
            "nova-id-secret",
        ] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
