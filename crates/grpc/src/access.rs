//! Who may call a worker. Two kinds of caller present a bearer credential in the
//! `authorization` metadata:
//!
//! - Nova, with the cluster token the worker was started with (`--token`): it may do anything;
//! - anyone with a Nova API key, when the worker reads Nova's keys (`--api-keys-from`): Invoke,
//!   InvokeAsync and Prewarm need the `invoke` scope, GetMetrics and ListInvocations `read`,
//!   Evict `admin`.
//!
//! Health answers everyone, so load balancers and Nova's health checks need nothing. With
//! neither configured the worker serves every caller that reaches its port (it binds loopback
//! by default). With keys but no token, calls are let through until the first key exists, as on
//! Nova's HTTP API (unless `require_auth`); with a token, a credential is always required.

use std::sync::Arc;

use nova_keys::{Denied, KeySource, Scope, Verifier};
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

/// A worker's admission rules.
#[derive(Clone, Default)]
pub struct Access {
    token: Option<[u8; 32]>,
    keys: Option<Verifier>,
}

impl Access {
    /// Every caller is served.
    pub fn open() -> Access {
        Access::default()
    }

    /// Callers must present `token` or, with `keys`, an API key with the call's scope.
    pub fn new(
        token: Option<&str>,
        keys: Option<Arc<dyn KeySource>>,
        require_auth: bool,
    ) -> Access {
        Access {
            token: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            keys: keys.map(|source| Verifier::new(source, require_auth || token.is_some())),
        }
    }

    /// Whether anything is checked at all.
    pub fn is_open(&self) -> bool {
        self.token.is_none() && self.keys.is_none()
    }

    /// Admits `request` for a call that needs `scope`, or says why not.
    pub async fn admit<T>(&self, request: &Request<T>, scope: Scope) -> Result<(), Status> {
        if self.is_open() {
            return Ok(());
        }
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let bearer = authorization.and_then(|v| v.strip_prefix("Bearer "));
        if let (Some(expected), Some(presented)) = (&self.token, bearer)
            && same_token(expected, presented)
        {
            return Ok(());
        }
        match &self.keys {
            Some(keys) => keys
                .check(authorization, scope)
                .await
                .map(|_| ())
                .map_err(status_of),
            None if bearer.is_none() => Err(Status::unauthenticated(
                "this worker requires the cluster token",
            )),
            None => Err(Status::unauthenticated("wrong cluster token")),
        }
    }
}

fn same_token(expected: &[u8; 32], presented: &str) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let diff = expected
        .iter()
        .zip(&digest)
        .fold(0u8, |a, (x, y)| a | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn status_of(denied: Denied) -> Status {
    let message = denied.to_string();
    match denied {
        Denied::Unauthenticated(_) => Status::unauthenticated(message),
        Denied::Forbidden { .. } => Status::permission_denied(message),
        Denied::Unavailable(_) => Status::unavailable(message),
    }
}
