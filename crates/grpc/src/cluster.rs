//! The remote data plane Nova uses in standalone mode (one endpoint) and cluster mode (several):
//! calls are placed on a worker that holds warm instances of the function, else on the least
//! loaded one; a worker that refuses connections or fails its health check is taken out, and a
//! call that did not reach a handler there is retried on another; a worker that answers its
//! health check again is taken back. Nova keeps its own journal of the calls it placed, so
//! metrics and invocation lists cover the whole cluster.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use comet::journal::{InvocationPage, InvocationRecord, Journal, MetricsSummary, Started};
use comet::{DataPlane, Health, InvokeError, PoolStats};
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Runtime};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::failure::Failure;
use crate::proto::data_plane_client::DataPlaneClient;
use crate::token::SendToken;
use crate::{ClientError, convert, proto};
use tonic::service::interceptor::InterceptedService;

/// How often workers are health-checked.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

struct Worker {
    endpoint: String,
    client: DataPlaneClient<InterceptedService<Channel, SendToken>>,
    healthy: AtomicBool,
    inflight: AtomicUsize,
    /// Functions this worker ran recently (it keeps them warm for its idle TTL).
    warm: Mutex<HashSet<String>>,
}

impl Worker {
    fn is_warm(&self, function: &str) -> bool {
        comet_util::lock(&self.warm).contains(function)
    }

    fn set_warm(&self, function: &str, warm: bool) {
        let mut set = comet_util::lock(&self.warm);
        if warm {
            set.insert(function.to_string());
        } else {
            set.remove(function);
        }
    }

    fn take_out(&self, why: &str) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(worker = %self.endpoint, why, "worker taken out");
        }
        comet_util::lock(&self.warm).clear();
    }
}

pub struct Cluster {
    workers: Vec<Arc<Worker>>,
    /// Margin a call gets beyond the function's own timeout.
    margin: Duration,
    journal: Journal,
    health_task: tokio::task::JoinHandle<()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.health_task.abort();
    }
}

/// Whether a failed call certainly did not reach a handler, so another worker may run it: the
/// worker marked it so, or the connection was never made (tonic's [`tonic::ConnectError`] under
/// an UNAVAILABLE status: nothing was sent). A connection that broke later is not this.
fn not_run(status: &Status) -> bool {
    if Failure::of(status).is_some_and(Failure::not_run) {
        return true;
    }
    status.code() == Code::Unavailable && caused_by::<tonic::ConnectError>(status)
}

/// Whether the chain of errors under a status made on this side holds an `E`. Statuses a worker
/// sent have no such chain.
fn caused_by<E: std::error::Error + 'static>(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<E>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// What the client makes of a failed call, from the worker's mark and tonic's status code and
/// error chain, never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// No handler ran: try another worker.
    Retry,
    /// The worker lacks the code: send the call again with it.
    SendCode,
    /// The connection broke once the call was sent: the handler may have run.
    WentAway,
    /// Anything else: the call failed, as the status says.
    Fail,
}

fn verdict(status: &Status) -> Verdict {
    if Failure::of(status) == Some(Failure::CodeMissing) {
        Verdict::SendCode
    } else if not_run(status) {
        Verdict::Retry
    } else if went_away(status) {
        Verdict::WentAway
    } else {
        Verdict::Fail
    }
}

impl Cluster {
    /// Workers at `endpoints` (`host:port`); connections are made on first use, so a worker
    /// that is down at start is simply out until it answers.
    pub fn connect(endpoints: &[String], margin: Duration) -> Result<Cluster, ClientError> {
        Cluster::connect_with_token(endpoints, margin, None)
    }

    /// Like [`Cluster::connect`], sending the workers' shared `token` with every call.
    pub fn connect_with_token(
        endpoints: &[String],
        margin: Duration,
        token: Option<&str>,
    ) -> Result<Cluster, ClientError> {
        let send_token = SendToken::new(token).map_err(ClientError::Token)?;
        let mut workers = Vec::new();
        for endpoint in endpoints {
            let url = if endpoint.contains("://") {
                endpoint.clone()
            } else {
                format!("http://{endpoint}")
            };
            let channel = Endpoint::from_shared(url)
                .map_err(|e| ClientError::Endpoint(endpoint.clone(), e.to_string()))?
                .connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(10))
                .connect_lazy();
            workers.push(Arc::new(Worker {
                endpoint: endpoint.clone(),
                client: DataPlaneClient::with_interceptor(channel, send_token.clone())
                    .max_decoding_message_size(64 * 1024 * 1024),
                healthy: AtomicBool::new(true),
                inflight: AtomicUsize::new(0),
                warm: Mutex::new(HashSet::new()),
            }));
        }
        if workers.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        let health_task = tokio::spawn(check_health(workers.clone()));
        Ok(Cluster {
            workers,
            margin,
            journal: Journal::default(),
            health_task,
        })
    }

    /// Warm and healthy first, then healthy, then any, by fewest calls in flight; None when every
    /// worker was tried.
    fn place(&self, function: &str, tried: &[usize]) -> Option<usize> {
        let candidates = || {
            self.workers
                .iter()
                .enumerate()
                .filter(|(i, w)| !tried.contains(i) && w.healthy.load(Ordering::Relaxed))
        };
        let least = |it: &mut dyn Iterator<Item = (usize, &Arc<Worker>)>| {
            it.min_by_key(|(_, w)| w.inflight.load(Ordering::Relaxed))
                .map(|(i, _)| i)
        };
        let untried = || {
            self.workers
                .iter()
                .enumerate()
                .filter(|(i, _)| !tried.contains(i))
        };
        least(&mut candidates().filter(|(_, w)| w.is_warm(function)))
            .or_else(|| least(&mut candidates()))
            // Every worker is out: try them anyway (one may be back before its next check).
            .or_else(|| least(&mut untried()))
    }

    async fn call(
        &self,
        worker: &Worker,
        spec: &FunctionSpec,
        request: &InvokeRequest,
    ) -> Result<proto::InvokeResponse, Status> {
        // A worker may wait up to the timeout for a free instance, then run the call up to the
        // timeout: the deadline covers both, plus the margin (a cold start, the network).
        let deadline = 2 * Duration::from_secs(u64::from(spec.timeout_s.max(1))) + self.margin;
        let message = |with_code: bool| {
            let mut m = tonic::Request::new(proto::InvokeRequest {
                function: spec.name.clone(),
                payload: request.payload.get().as_bytes().to_vec(),
                timeout_s: spec.timeout_s as i32,
                metadata: Default::default(),
                spec: Some(convert::spec_message(spec, with_code)),
                request_id: request.request_id.clone(),
            });
            m.set_timeout(deadline);
            m
        };
        let mut client = worker.client.clone();
        match client.invoke(message(false)).await {
            Err(s) if verdict(&s) == Verdict::SendCode => {
                client.invoke(message(true)).await.map(|r| r.into_inner())
            }
            other => other.map(|r| r.into_inner()),
        }
    }
}

/// The connection broke after the call was sent (the worker died or was cut off): a status made
/// on this side from a transport failure (it has a source; a worker's own answers have none),
/// that is neither a connection never made nor the call's deadline.
fn went_away(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unknown | Code::Unavailable | Code::Cancelled
    ) && Failure::of(status).is_none()
        && !timed_out(status)
        && !caused_by::<tonic::ConnectError>(status)
        && std::error::Error::source(status).is_some()
}

/// The call ran out of its deadline (tonic reports its own timeout as a Cancelled status made
/// from [`tonic::TimeoutExpired`]).
fn timed_out(status: &Status) -> bool {
    status.code() == Code::DeadlineExceeded || caused_by::<tonic::TimeoutExpired>(status)
}

fn error_of(status: &Status, endpoint: &str) -> InvokeError {
    let message = format!("{endpoint}: {}", status.message());
    if timed_out(status) {
        return InvokeError::Deadline {
            worker: endpoint.to_string(),
        };
    }
    match status.code() {
        Code::ResourceExhausted => InvokeError::Overloaded(message),
        Code::Unavailable => InvokeError::Unavailable(message),
        Code::InvalidArgument => InvokeError::Rejected(message),
        // Nova's own credential was refused: an operator's fix, not the caller's.
        Code::Unauthenticated | Code::PermissionDenied => InvokeError::Unauthorized {
            worker: endpoint.to_string(),
            message: status.message().to_string(),
        },
        _ => InvokeError::Remote(message),
    }
}

/// Counts a call in flight on a worker for as long as it lives, even if the caller goes away.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn start(counter: &'a AtomicUsize) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl DataPlane for Cluster {
    fn kind(&self) -> &'static str {
        if self.workers.len() == 1 {
            "remote"
        } else {
            "cluster"
        }
    }

    fn supports(&self, _: Runtime) -> bool {
        true
    }

    fn validate(&self, _: &FunctionSpec) -> Result<(), comet::sandbox::ValidateError> {
        // The workers check each function when they first run it.
        Ok(())
    }

    async fn invoke(
        &self,
        spec: Arc<FunctionSpec>,
        request: InvokeRequest,
    ) -> Result<InvokeResponse, InvokeError> {
        let started = Started::now();
        let mut tried = Vec::new();
        let mut last: Option<InvokeError> = None;
        while let Some(i) = self.place(&spec.name, &tried) {
            tried.push(i);
            let worker = &self.workers[i];
            let outcome = {
                let _counted = InFlight::start(&worker.inflight);
                self.call(worker, &spec, &request).await
            };
            match outcome {
                Ok(m) => {
                    worker.set_warm(&spec.name, true);
                    let node = m.node_id.clone();
                    let result = convert::response_from(m);
                    self.journal.record(InvocationRecord::of(
                        &spec,
                        &request.request_id,
                        started,
                        &result,
                        &node,
                    ));
                    return result;
                }
                Err(status) if verdict(&status) == Verdict::Retry => {
                    if status.code() == Code::Unavailable {
                        worker.take_out(status.message());
                    }
                    tracing::debug!(worker = %worker.endpoint, error = %status.message(), "retrying elsewhere");
                    last = Some(error_of(&status, &worker.endpoint));
                }
                Err(status) => {
                    worker.set_warm(&spec.name, false);
                    let error = if verdict(&status) == Verdict::WentAway {
                        worker.take_out("it went away during a call");
                        InvokeError::WentAway {
                            worker: worker.endpoint.clone(),
                        }
                    } else {
                        error_of(&status, &worker.endpoint)
                    };
                    let result = Err(error);
                    self.journal.record(InvocationRecord::of(
                        &spec,
                        &request.request_id,
                        started,
                        &result,
                        &worker.endpoint,
                    ));
                    return result;
                }
            }
        }
        let result = Err(last.unwrap_or(InvokeError::NoWorker));
        self.journal.record(InvocationRecord::of(
            &spec,
            &request.request_id,
            started,
            &result,
            "",
        ));
        result
    }

    async fn prewarm(&self, spec: Arc<FunctionSpec>) -> Result<usize, InvokeError> {
        let Some(i) = self.place(&spec.name, &[]) else {
            return Err(InvokeError::NoWorker);
        };
        let worker = &self.workers[i];
        let mut client = worker.client.clone();
        let mut request = tonic::Request::new(proto::PrewarmRequest {
            spec: Some(convert::spec_message(&spec, true)),
        });
        request
            .set_timeout(2 * Duration::from_secs(u64::from(spec.timeout_s.max(1))) + self.margin);
        let started = client
            .prewarm(request)
            .await
            .map_err(|s| error_of(&s, &worker.endpoint))?;
        worker.set_warm(&spec.name, true);
        Ok(started.into_inner().started as usize)
    }

    /// Tells every worker at once, each within two seconds; one that does not hear it drops the
    /// old instances when it next sees the function (a worker notices a version number that comes
    /// back with other code) or at the idle TTL.
    async fn evict(&self, function: &str) {
        let mut calls = tokio::task::JoinSet::new();
        for worker in &self.workers {
            worker.set_warm(function, false);
            let (mut client, endpoint) = (worker.client.clone(), worker.endpoint.clone());
            let mut request = tonic::Request::new(proto::EvictRequest {
                function: function.to_string(),
            });
            request.set_timeout(Duration::from_secs(2));
            calls.spawn(async move {
                if let Err(e) = client.evict(request).await {
                    tracing::debug!(worker = %endpoint, error = %e.message(), "evict not delivered");
                }
            });
        }
        while calls.join_next().await.is_some() {}
    }

    fn stats(&self) -> Vec<PoolStats> {
        Vec::new()
    }

    async fn metrics(
        &self,
        function: &str,
        range: Duration,
    ) -> Result<MetricsSummary, InvokeError> {
        Ok(self.journal.metrics(function, range))
    }

    async fn invocations(
        &self,
        function: &str,
        limit: usize,
        offset: usize,
    ) -> Result<InvocationPage, InvokeError> {
        Ok(self.journal.list(function, limit, offset))
    }

    async fn health(&self) -> Health {
        let mut components = std::collections::BTreeMap::new();
        let mut up = 0;
        for w in &self.workers {
            let healthy = w.healthy.load(Ordering::Relaxed);
            up += usize::from(healthy);
            components.insert(
                w.endpoint.clone(),
                if healthy { "ok" } else { "down" }.to_string(),
            );
        }
        let status = match up {
            0 => "down",
            n if n == self.workers.len() => "ok",
            _ => "degraded",
        };
        Health {
            status: status.into(),
            components,
        }
    }

    async fn shutdown(&self) {
        self.health_task.abort();
    }
}

/// Every second, asks each worker for its health: out when it does not answer, back when it does.
async fn check_health(workers: Vec<Arc<Worker>>) {
    let mut tick = tokio::time::interval(HEALTH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for worker in &workers {
            let mut client = worker.client.clone();
            let mut request = tonic::Request::new(proto::HealthRequest {});
            request.set_timeout(Duration::from_secs(1));
            match client.health(request).await {
                Ok(_) => {
                    if !worker.healthy.swap(true, Ordering::Relaxed) {
                        tracing::info!(worker = %worker.endpoint, "worker back");
                    }
                }
                Err(e) => worker.take_out(e.message()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> Box<std::io::Error> {
        Box::new(std::io::Error::new(kind, "io"))
    }

    #[test]
    fn marks_decide_whatever_the_message_says() {
        let busy = Failure::Busy.mark(Status::resource_exhausted("anything"));
        assert_eq!(verdict(&busy), Verdict::Retry);
        let down = Failure::NotRun.mark(Status::unavailable("anything"));
        assert_eq!(verdict(&down), Verdict::Retry);
        let missing = Failure::CodeMissing.mark(Status::failed_precondition("anything"));
        assert_eq!(verdict(&missing), Verdict::SendCode);
        // The words alone, without the mark, decide nothing.
        for s in [
            Status::resource_exhausted("not-run: busy"),
            Status::unavailable("not-run: shutting down"),
            Status::failed_precondition("code-missing: abc"),
            Status::unknown("transport error: ConnectError Timeout expired"),
        ] {
            assert_eq!(verdict(&s), Verdict::Fail, "{s:?}");
            assert!(!timed_out(&s));
        }
    }

    #[test]
    fn a_connection_never_made_is_retried() {
        let refused = Status::from_error(Box::new(tonic::ConnectError(io(
            std::io::ErrorKind::ConnectionRefused,
        ))));
        assert_eq!(refused.code(), Code::Unavailable);
        assert_eq!(verdict(&refused), Verdict::Retry);
    }

    #[test]
    fn a_connection_broken_during_the_call_is_not_retried() {
        let reset = Status::from_error(io(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.code(), Code::Unknown);
        assert_eq!(verdict(&reset), Verdict::WentAway);
    }

    #[test]
    fn a_deadline_is_a_failure_not_a_broken_connection() {
        let expired = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(timed_out(&expired));
        assert_eq!(verdict(&expired), Verdict::Fail);
        assert!(
            matches!(error_of(&expired, "w"), InvokeError::Deadline { worker } if worker == "w")
        );
        let sent = Status::deadline_exceeded("late");
        assert!(timed_out(&sent));
        assert_eq!(verdict(&sent), Verdict::Fail);
    }

    #[test]
    fn codes_the_worker_sent_map_to_invoke_errors() {
        assert!(matches!(
            error_of(&Status::resource_exhausted("x"), "w"),
            InvokeError::Overloaded(_)
        ));
        assert!(matches!(
            error_of(&Status::unavailable("x"), "w"),
            InvokeError::Unavailable(_)
        ));
        assert!(matches!(
            error_of(&Status::invalid_argument("x"), "w"),
            InvokeError::Rejected(_)
        ));
        assert!(matches!(
            error_of(&Status::internal("x"), "w"),
            InvokeError::Remote(_)
        ));
        for refused in [
            Status::unauthenticated("no"),
            Status::permission_denied("no"),
        ] {
            let e = error_of(&refused, "w");
            assert!(
                matches!(&e, InvokeError::Unauthorized { worker, message } if worker == "w" && message == "no"),
                "{e:?}"
            );
            assert!(e.to_string().contains("comet.token"), "{e}");
        }
    }
}
