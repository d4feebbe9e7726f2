//! The cluster client's side of a worker's [`Access`](crate::access::Access): the shared token
//! (or an API key) sent with every call as `authorization: Bearer <token>`.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

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
