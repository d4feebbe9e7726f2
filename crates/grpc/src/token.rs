//! A shared token between Nova and its workers: with one configured, a worker refuses every call
//! that does not carry it (`authorization: Bearer <token>`, compared in constant time), and the
//! cluster client sends it with every call.

use sha2::{Digest, Sha256};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Checks calls on the worker.
#[derive(Clone)]
pub struct RequireToken {
    digest: Option<[u8; 32]>,
}

impl RequireToken {
    /// `None`: every caller that reaches the port is served (the default binds loopback only).
    pub fn new(token: Option<&str>) -> RequireToken {
        RequireToken {
            digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }
}

impl Interceptor for RequireToken {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = self.digest else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("this worker requires the cluster token"))?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let diff = expected
            .iter()
            .zip(&digest)
            .fold(0u8, |a, (x, y)| a | (x ^ y));
        if std::hint::black_box(diff) == 0 {
            Ok(request)
        } else {
            Err(Status::unauthenticated("wrong cluster token"))
        }
    }
}

/// Adds the token to calls from the cluster client.
#[derive(Clone)]
pub struct SendToken {
    value: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl SendToken {
    pub fn new(token: Option<&str>) -> Result<SendToken, String> {
        let value = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| "the cluster token must be printable ASCII".to_string())?,
            ),
            None => None,
        };
        Ok(SendToken { value })
    }
}

impl Interceptor for SendToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.value {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
