//! The DataPlane service a comet daemon runs over its local data plane. Code arrives once per
//! worker and code hash and is kept in a bounded cache; calls that did not reach a handler are
//! answered with a status marked (metadata [`crate::failure::KEY`]) `not-run` or `busy`, which
//! tells a cluster client the call is safe to retry on another worker; a call whose code the
//! worker lacks is marked `code-missing`. Messages keep the same words as prefixes, for people.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use comet::{DataPlane, Embedded, InvokeError};
use nova_api::{InvokeRequest, code_hash};
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::access::{Access, Guarded};
use crate::convert;
use crate::failure::Failure;
use crate::proto::{self, data_plane_server};

/// Code kept per worker, in bytes (each function version's code once).
const CODE_CACHE_BYTES: usize = 1 << 30;
/// Most instances a prewarm may ask for.
const MAX_MIN_REPLICAS: u32 = 64;
/// Prefix of the FAILED_PRECONDITION message asking for the code (for people; clients read
/// the [`Failure::CodeMissing`] mark).
pub const CODE_MISSING: &str = "code-missing";
/// Prefix of messages of calls that never reached a handler (for people; clients read the
/// [`Failure::NotRun`] and [`Failure::Busy`] marks).
pub const NOT_RUN: &str = "not-run";

/// Each call runs the spec it carries: the executor keeps every version's pool apart and lets an
/// older version's instances go at the idle TTL. A function deleted and registered again while
/// an evict could not reach this worker starts over at version 1 with other code, and the
/// executor replaces that version (and drops the ones above it) when it sees it.
pub struct Service {
    local: Arc<Embedded>,
    codes: Mutex<CodeCache>,
}

#[derive(Default)]
struct CodeCache {
    blobs: HashMap<String, Arc<[u8]>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl CodeCache {
    fn get(&self, hash: &str) -> Option<Arc<[u8]>> {
        self.blobs.get(hash).cloned()
    }

    fn insert(&mut self, hash: String, code: Arc<[u8]>) {
        let size = code.len();
        if self.blobs.insert(hash.clone(), code).is_none() {
            self.order.push_back(hash);
            self.bytes += size;
        }
        while self.bytes > CODE_CACHE_BYTES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front()
                && let Some(code) = self.blobs.remove(&old)
            {
                self.bytes -= code.len();
            }
        }
    }
}

impl Service {
    pub fn new(local: Arc<Embedded>) -> Service {
        Service {
            local,
            codes: Mutex::new(CodeCache::default()),
        }
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, CodeCache> {
        comet_util::lock(&self.codes)
    }

    /// The spec of a call, with its code from the message (checked against its hash) or the
    /// cache; FAILED_PRECONDITION `code-missing` when neither has it.
    fn spec(
        &self,
        message: Option<proto::FunctionSpec>,
    ) -> Result<Arc<nova_api::FunctionSpec>, Status> {
        let mut m = message.ok_or_else(|| Status::invalid_argument("spec is required"))?;
        // The name becomes directory names and the env the handler's: check what Nova checks.
        nova_api::validate_name(&m.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        for key in m.env_vars.keys() {
            nova_api::validate_env_key(key).map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        if m.min_replicas > MAX_MIN_REPLICAS {
            return Err(Status::invalid_argument(format!(
                "min_replicas above {MAX_MIN_REPLICAS}"
            )));
        }
        let code: Arc<[u8]> = if m.code.is_empty() {
            self.codes().get(&m.code_hash).ok_or_else(|| {
                Failure::CodeMissing.mark(Status::failed_precondition(format!(
                    "{CODE_MISSING}: {}",
                    m.code_hash
                )))
            })?
        } else {
            let code: Arc<[u8]> = std::mem::take(&mut m.code).into();
            if code_hash(&code) != m.code_hash {
                return Err(Status::invalid_argument(
                    "the code does not match spec.code_hash",
                ));
            }
            self.codes().insert(m.code_hash.clone(), code.clone());
            code
        };
        Ok(Arc::new(convert::spec_from(m, code)?))
    }
}

/// How an invocation failure travels. `not-run` and `busy` mark what another worker may take (no handler
/// ran and the trouble is this worker's: busy, shutting down); UNAVAILABLE additionally says the
/// worker itself is going away. A function that cannot start is the function's problem, the same
/// on every worker: FAILED_PRECONDITION, not retried.
pub fn status_of(e: InvokeError) -> Status {
    let message = e.to_string();
    match e {
        InvokeError::Busy { .. } | InvokeError::Overloaded(_) => {
            Failure::Busy.mark(Status::resource_exhausted(format!("{NOT_RUN}: {message}")))
        }
        InvokeError::ShuttingDown
        | InvokeError::NoWorker
        | InvokeError::Unauthorized { .. }
        | InvokeError::Unavailable(_) => {
            Failure::NotRun.mark(Status::unavailable(format!("{NOT_RUN}: {message}")))
        }
        // The handler may have run: unavailable, but not to be retried elsewhere.
        InvokeError::WentAway { .. } => Status::unavailable(message),
        InvokeError::Start { .. } => Status::failed_precondition(message),
        InvokeError::Unsupported { .. } | InvokeError::Rejected(_) => {
            Status::invalid_argument(message)
        }
        InvokeError::Instance { .. }
        | InvokeError::Deadline { .. }
        | InvokeError::OutputNotUtf8
        | InvokeError::OutputNotJson(_)
        | InvokeError::Remote(_) => Status::internal(message),
    }
}

fn payload(bytes: Vec<u8>) -> Result<Box<RawValue>, Status> {
    let text = if bytes.is_empty() {
        "null".to_string()
    } else {
        String::from_utf8(bytes).map_err(|_| Status::invalid_argument("payload is not UTF-8"))?
    };
    RawValue::from_string(text)
        .map_err(|e| Status::invalid_argument(format!("payload is not JSON: {e}")))
}

fn request_id(given: String) -> String {
    if given.is_empty() {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        given
    }
}

#[tonic::async_trait]
impl data_plane_server::DataPlane for Service {
    async fn invoke(
        &self,
        request: Request<proto::InvokeRequest>,
    ) -> Result<Response<proto::InvokeResponse>, Status> {
        let r = request.into_inner();
        let spec = self.spec(r.spec)?;
        if !r.function.is_empty() && r.function != spec.name {
            return Err(Status::invalid_argument("function and spec.name differ"));
        }
        let call = InvokeRequest {
            request_id: request_id(r.request_id),
            payload: payload(r.payload)?,
        };
        let response = self.local.invoke(spec, call).await.map_err(status_of)?;
        Ok(Response::new(convert::response_message(
            response,
            self.local.node_id(),
        )))
    }

    async fn health(
        &self,
        _: Request<proto::HealthRequest>,
    ) -> Result<Response<proto::HealthResponse>, Status> {
        let health = self.local.health().await;
        let mut components: HashMap<String, String> = health.components.into_iter().collect();
        components.insert("node_id".into(), self.local.node_id().into());
        Ok(Response::new(proto::HealthResponse {
            status: health.status,
            components,
        }))
    }

    async fn get_metrics(
        &self,
        request: Request<proto::GetMetricsRequest>,
    ) -> Result<Response<proto::GetMetricsResponse>, Status> {
        let r = request.into_inner();
        let range = Duration::from_secs(r.range_seconds.clamp(1, 30 * 86_400) as u64);
        let m = self
            .local
            .metrics(&r.function, range)
            .await
            .map_err(status_of)?;
        Ok(Response::new(crate::convert_metrics(&m)))
    }

    async fn list_invocations(
        &self,
        request: Request<proto::ListInvocationsRequest>,
    ) -> Result<Response<proto::ListInvocationsResponse>, Status> {
        let r = request.into_inner();
        let limit = if r.limit <= 0 {
            100
        } else {
            r.limit.min(1000) as usize
        };
        let offset = r.offset.max(0) as usize;
        let page = self
            .local
            .invocations(&r.function, limit, offset)
            .await
            .map_err(status_of)?;
        Ok(Response::new(crate::convert_page(&page)))
    }

    async fn prewarm(
        &self,
        request: Request<proto::PrewarmRequest>,
    ) -> Result<Response<proto::PrewarmResponse>, Status> {
        let spec = self.spec(request.into_inner().spec)?;
        let started = self.local.prewarm(spec).await.map_err(status_of)?;
        Ok(Response::new(proto::PrewarmResponse {
            started: started as u32,
        }))
    }

    async fn evict(
        &self,
        request: Request<proto::EvictRequest>,
    ) -> Result<Response<proto::EvictResponse>, Status> {
        self.local.evict(&request.into_inner().function).await;
        Ok(Response::new(proto::EvictResponse {}))
    }
}

/// Serves the DataPlane service on `listener` until `shutdown` resolves, to the callers `access`
/// admits.
pub async fn serve(
    local: Arc<Embedded>,
    listener: TcpListener,
    access: Access,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let service = data_plane_server::DataPlaneServer::new(Service::new(local))
        .max_decoding_message_size(64 * 1024 * 1024);
    tonic::transport::Server::builder()
        .add_service(Guarded::new(service, access))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn what_did_not_run_is_marked_and_the_rest_is_not() {
        let cases = [
            (
                InvokeError::Busy {
                    function: "f".into(),
                    max: 1,
                    waited: Duration::from_secs(1),
                },
                Code::ResourceExhausted,
                Some(Failure::Busy),
            ),
            (
                InvokeError::Overloaded("w: full".into()),
                Code::ResourceExhausted,
                Some(Failure::Busy),
            ),
            (
                InvokeError::ShuttingDown,
                Code::Unavailable,
                Some(Failure::NotRun),
            ),
            (
                InvokeError::NoWorker,
                Code::Unavailable,
                Some(Failure::NotRun),
            ),
            (
                InvokeError::WentAway { worker: "w".into() },
                Code::Unavailable,
                None,
            ),
            (
                InvokeError::Unsupported {
                    backend: "wasm",
                    runtime: nova_api::Runtime::Python,
                },
                Code::InvalidArgument,
                None,
            ),
            (
                InvokeError::Deadline { worker: "w".into() },
                Code::Internal,
                None,
            ),
            (InvokeError::OutputNotUtf8, Code::Internal, None),
            (InvokeError::Remote("w: boom".into()), Code::Internal, None),
        ];
        for (error, code, mark) in cases {
            let text = error.to_string();
            let status = status_of(error);
            assert_eq!(status.code(), code, "{text}");
            assert_eq!(Failure::of(&status), mark, "{text}");
            assert!(status.message().ends_with(&text), "{text}");
        }
    }
}
