//! Bearer tokens with scopes. Tokens come from configuration; only their SHA-256 digests are
//! kept, and a presented token is compared against every digest in constant time, so neither
//! the token's length nor its first differing byte shows in the response time.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::TokenConfig;

/// What a token may do. `admin` includes reading and writing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    KvRead,
    KvWrite,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::KvRead => "kv-read",
            Scope::KvWrite => "kv-write",
            Scope::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::KvRead => 1,
            Scope::KvWrite => 2,
            Scope::Admin => 4,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// 401: no token, or one that matches no configured token.
    #[error("missing or invalid bearer token: send 'Authorization: Bearer <token>'")]
    Unauthenticated,
    /// 403: a valid token without the scope the route needs.
    #[error("token '{token}' lacks the '{scope}' scope")]
    Forbidden { token: String, scope: &'static str },
    #[error("token '{0}': {1}")]
    Config(String, String),
}

struct Token {
    name: String,
    digest: [u8; 32],
    scopes: u8,
}

/// The configured tokens.
pub struct Tokens {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|t| t.name.as_str()).collect();
        f.debug_struct("Tokens").field("names", &names).finish()
    }
}

impl Tokens {
    /// Reads the configured tokens (from the file or their environment variables).
    pub fn from_config(configs: &[TokenConfig]) -> Result<Tokens, AuthError> {
        let mut tokens = Vec::with_capacity(configs.len());
        for c in configs {
            let secret = match (&c.token, &c.token_env) {
                (Some(t), None) => t.clone(),
                (None, Some(var)) => std::env::var(var).map_err(|_| {
                    AuthError::Config(
                        c.name.clone(),
                        format!("environment variable {var} is not set"),
                    )
                })?,
                _ => {
                    return Err(AuthError::Config(
                        c.name.clone(),
                        "set exactly one of token and token_env".into(),
                    ));
                }
            };
            if secret.len() < 16 {
                return Err(AuthError::Config(
                    c.name.clone(),
                    "a token must be at least 16 characters".into(),
                ));
            }
            if c.scopes.is_empty() {
                return Err(AuthError::Config(c.name.clone(), "no scopes".into()));
            }
            tokens.push(Token {
                name: c.name.clone(),
                digest: Sha256::digest(secret.as_bytes()).into(),
                scopes: c.scopes.iter().fold(0, |bits, s| bits | s.bit()),
            });
        }
        Ok(Tokens { tokens })
    }

    /// True when no token is configured: every route is open.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Checks an `Authorization` header value against the scope a route needs.
    pub fn check(&self, authorization: Option<&[u8]>, scope: Scope) -> Result<(), AuthError> {
        if self.is_open() {
            return Ok(());
        }
        let presented = authorization
            .and_then(|h| h.strip_prefix(b"Bearer "))
            .ok_or(AuthError::Unauthenticated)?;
        let digest: [u8; 32] = Sha256::digest(presented.trim_ascii()).into();
        // Look at every token, whichever matches, so the time does not tell which one did.
        let mut found: Option<&Token> = None;
        for token in &self.tokens {
            if comet_util::same_bytes(&token.digest, &digest) {
                found = Some(token);
            }
        }
        let token = found.ok_or(AuthError::Unauthenticated)?;
        if token.scopes & (scope.bit() | Scope::Admin.bit()) == 0 {
            return Err(AuthError::Forbidden {
                token: token.name.clone(),
                scope: scope.as_str(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str, scopes: &[Scope]) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            token: Some(secret.into()),
            token_env: None,
            scopes: scopes.to_vec(),
        }
    }

    #[test]
    fn scopes_and_statuses() {
        let tokens = Tokens::from_config(&[
            token("reader", "reader-secret-0123456789", &[Scope::KvRead]),
            token("admin", "admin-secret-0123456789", &[Scope::Admin]),
        ])
        .unwrap();
        let reader = Some(&b"Bearer reader-secret-0123456789"[..]);
        assert_eq!(tokens.check(reader, Scope::KvRead), Ok(()));
        assert!(matches!(
            tokens.check(reader, Scope::KvWrite),
            Err(AuthError::Forbidden { .. })
        ));
        let admin = Some(&b"Bearer admin-secret-0123456789"[..]);
        assert_eq!(tokens.check(admin, Scope::KvWrite), Ok(()));
        assert_eq!(
            tokens.check(None, Scope::KvRead),
            Err(AuthError::Unauthenticated)
        );
        let wrong = Some(&b"Bearer reader-secret-012345678"[..]);
        assert_eq!(
            tokens.check(wrong, Scope::KvRead),
            Err(AuthError::Unauthenticated)
        );
        let basic = Some(&b"Basic cmVhZGVy"[..]);
        assert_eq!(
            tokens.check(basic, Scope::KvRead),
            Err(AuthError::Unauthenticated)
        );
    }

    #[test]
    fn bad_token_configs_are_refused() {
        assert!(Tokens::from_config(&[token("short", "abc", &[Scope::Admin])]).is_err());
        assert!(Tokens::from_config(&[token("none", "0123456789abcdefg", &[])]).is_err());
        let both = TokenConfig {
            token_env: Some("X".into()),
            ..token("both", "0123456789abcdefg", &[Scope::Admin])
        };
        assert!(Tokens::from_config(&[both]).is_err());
        assert!(Tokens::from_config(&[]).unwrap().is_open());
    }
}
