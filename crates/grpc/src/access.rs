//! Who may call a worker. Two kinds of caller present a bearer credential in the
//! `authorization` metadata:
//!
//! - Nova, with the cluster token the worker was started with (`--token`): it may do anything;
//! - anyone with a Nova API key, when the worker reads Nova's keys (`--api-keys-from`):
//!   GetMetrics and ListInvocations need `read`; Invoke, Prewarm and Evict need
//!   `admin`, because those calls carry the function's definition and code: whoever may send
//!   them may deploy code, which on Nova's API is the admin's right too.
//!
//! The check runs on the request's headers, before its body (up to 64 MiB) is read, by
//! [`Guarded`], which wraps the service. Health answers everyone, so load balancers and Nova's
//! health checks need nothing. With
//! neither configured the worker serves every caller that reaches its port (it binds loopback
//! by default). With keys but no token, calls are let through until the first key exists, as on
//! Nova's HTTP API (unless `require_auth`); with a token, a credential is always required.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use nova_keys::{Denied, KeySource, Scope, Verifier};
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;

/// A worker's admission rules.
#[derive(Clone, Default)]
pub struct Access {
    token: Option<[u8; 32]>,
    keys: Option<Verifier>,
}

impl Access {
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

    /// Admits a call that needs `scope` and presents `authorization` (the header's value), or
    /// says why not.
    pub async fn admit(&self, authorization: Option<&str>, scope: Scope) -> Result<(), Status> {
        if self.is_open() {
            return Ok(());
        }
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
                .map_err(|denied| status_of(denied, scope)),
            None if bearer.is_none() => Err(Status::unauthenticated(
                "this worker requires the cluster token",
            )),
            None => Err(Status::unauthenticated("wrong cluster token")),
        }
    }
}

/// The scope a method needs (`None`: open), from the request's path.
fn scope_of(path: &str) -> Option<Scope> {
    match path.rsplit('/').next() {
        Some("Health") => None,
        Some("GetMetrics" | "ListInvocations") => Some(Scope::Read),
        // Invoke, Prewarm, Evict, and whatever else a client may call (InvokeAsync is gone).
        _ => Some(Scope::Admin),
    }
}

/// A gRPC service behind [`Access`]: calls it refuses never reach the service, nor have their
/// bodies read.
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    access: Access,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, access: Access) -> Guarded<S> {
        Guarded { inner, access }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The service made ready goes with this call; a clone stays for the next one.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let access = self.access.clone();
        Box::pin(async move {
            if let Some(scope) = scope_of(request.uri().path()) {
                let authorization = request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                if let Err(status) = access.admit(authorization, scope).await {
                    return Ok(status.into_http());
                }
            }
            inner.call(request).await
        })
    }
}

fn same_token(expected: &[u8; 32], presented: &str) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    comet_util::same_bytes(expected, &digest)
}

fn status_of(denied: Denied, scope: Scope) -> Status {
    let message = denied.to_string();
    match denied {
        Denied::Unauthenticated(_) => Status::unauthenticated(message),
        Denied::Forbidden { .. } if scope == Scope::Admin => Status::permission_denied(format!(
            "{message}: calls that carry a function's code need an admin key (or Nova's token)"
        )),
        Denied::Forbidden { .. } => Status::permission_denied(message),
        Denied::Unavailable(_) => Status::unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_but_health_needs_a_scope() {
        let scope = |m: &str| scope_of(&format!("/nova.v1.DataPlane/{m}"));
        assert_eq!(scope("Health"), None);
        assert_eq!(scope("GetMetrics"), Some(Scope::Read));
        assert_eq!(scope("ListInvocations"), Some(Scope::Read));
        for m in [
            "Invoke",
            "InvokeAsync",
            "Prewarm",
            "Evict",
            "SomethingNew",
            "",
        ] {
            assert_eq!(scope(m), Some(Scope::Admin), "{m}");
        }
    }
}
