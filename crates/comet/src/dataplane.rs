//! The one interface through which the control plane runs functions, whether the data plane is
//! in its process ([`Embedded`]) or behind gRPC on other machines (comet-grpc's remote and
//! cluster data planes). Callers cannot tell which.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use comet_sandbox::ValidateError;
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Runtime};

use crate::error::InvokeError;
use crate::executor::{Executor, PoolStats};
use crate::journal::{InvocationPage, InvocationRecord, Journal, MetricsSummary, Started};

/// What a health check reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// "ok", or "degraded" when part of it is down.
    pub status: String,
    pub components: BTreeMap<String, String>,
}

#[async_trait]
pub trait DataPlane: Send + Sync + 'static {
    /// embedded, remote or cluster.
    fn kind(&self) -> &'static str;
    /// Whether it can run this runtime at all (a remote plane accepts every runtime; its workers
    /// answer for themselves).
    fn supports(&self, runtime: Runtime) -> bool;
    /// Refuses what can never run here (an invalid WebAssembly module, …).
    fn validate(&self, spec: &FunctionSpec) -> Result<(), ValidateError>;
    async fn invoke(
        &self,
        spec: Arc<FunctionSpec>,
        request: InvokeRequest,
    ) -> Result<InvokeResponse, InvokeError>;
    /// Starts instances until `spec.min_replicas` exist.
    async fn prewarm(&self, spec: Arc<FunctionSpec>) -> Result<usize, InvokeError>;
    /// Stops the instances of every version of a function that was deleted or must restart
    /// (its secrets changed). A new version needs no evict: it runs beside the old ones, whose
    /// idle instances go at the idle TTL.
    async fn evict(&self, function: &str);
    /// Pool figures of this process (empty for a remote plane).
    fn stats(&self) -> Vec<PoolStats>;
    async fn metrics(&self, function: &str, range: Duration)
    -> Result<MetricsSummary, InvokeError>;
    async fn invocations(
        &self,
        function: &str,
        limit: usize,
        offset: usize,
    ) -> Result<InvocationPage, InvokeError>;
    async fn health(&self) -> Health;
    async fn shutdown(&self);
}

/// The data plane in this process: an [`Executor`] and the journal of what it ran.
pub struct Embedded {
    executor: Executor,
    journal: Journal,
    node_id: String,
}

impl Embedded {
    pub fn new(executor: Executor, node_id: impl Into<String>) -> Embedded {
        Embedded {
            executor,
            journal: Journal::default(),
            node_id: node_id.into(),
        }
    }

    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }
}

#[async_trait]
impl DataPlane for Embedded {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn supports(&self, runtime: Runtime) -> bool {
        self.executor.backend().supports(runtime)
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<(), ValidateError> {
        self.executor.backend().validate(spec)
    }

    async fn invoke(
        &self,
        spec: Arc<FunctionSpec>,
        request: InvokeRequest,
    ) -> Result<InvokeResponse, InvokeError> {
        let started = Started::now();
        let id = request.request_id.clone();
        let result = self.executor.invoke(spec.clone(), request).await;
        let record = InvocationRecord::of(&spec, &id, started, &result, &self.node_id);
        self.journal.record(record);
        result
    }

    async fn prewarm(&self, spec: Arc<FunctionSpec>) -> Result<usize, InvokeError> {
        self.executor.prewarm(spec).await
    }

    async fn evict(&self, function: &str) {
        self.executor.evict(function).await;
    }

    fn stats(&self) -> Vec<PoolStats> {
        self.executor.stats()
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
        let mut components = BTreeMap::new();
        components.insert("backend".into(), self.executor.backend().name().into());
        components.insert("pools".into(), self.executor.stats().len().to_string());
        Health {
            status: "ok".into(),
            components,
        }
    }

    async fn shutdown(&self) {
        self.executor.shutdown().await;
    }
}
