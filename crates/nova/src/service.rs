//! The control plane's core: register, update, read, delete and invoke functions.
//!
//! Front ends (HTTP, the local CLI) call these methods; the methods know nothing of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use comet::{DataPlane, InvokeError};
use nova_api::{
    Function, FunctionConfig, FunctionPatch, FunctionSpec, InvocationEntry, InvokeRequest,
    InvokeResponse, Qualifier, QualifierError, ValidationError,
};
use serde_json::value::RawValue;
use thiserror::Error;

mod aliases;
mod broadcast;
mod secrets;
mod versions;

use crate::code::{self, CodeError};
pub use crate::counters::{Counters, Counts};
pub use aliases::{ALIASES_CHANGED, AliasFailure, AliasPatch};
use nova_store::{
    AliasStore, FunctionStore, InvocationLog, Kind, ListQuery, LogQuery, LogStore, SecretStore,
    StoreError, VersionStore, record_now,
};
pub use versions::MAX_DESCRIPTION;

/// Why a control-plane operation failed. The HTTP layer maps each variant to a status code.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("runtime {0} is not available on this data plane ({1})")]
    Unsupported(nova_api::Runtime, &'static str),
    #[error("function '{0}' not found")]
    NotFound(String),
    #[error("function '{function}' has no version {version}")]
    NoVersion { function: String, version: u64 },
    #[error("function '{function}' has no version or alias '{qualifier}'")]
    NoQualifier { function: String, qualifier: String },
    #[error(transparent)]
    BadQualifier(#[from] QualifierError),
    #[error(transparent)]
    Alias(#[from] AliasFailure),
    #[error("description is too long: {0} characters, at most {MAX_DESCRIPTION}")]
    LongDescription(usize),
    #[error(
        "env var {var} refers to secret '{secret}', which does not exist: create it first (nova secret set {secret})"
    )]
    MissingSecret { var: String, secret: String },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("function '{0}' already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("nothing to update: give at least one setting to change")]
    EmptyUpdate,
    #[error("payload is not valid JSON: {0}")]
    BadPayload(String),
    /// A request's parameter or header is malformed; the message says which and why.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("{}", store_message(.0))]
    Store(StoreError),
}

/// A store error as a caller reads it: a record that is missing, taken or changed meanwhile
/// speaks for itself; a failure of the store says so.
fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::NotFound { .. }
        | StoreError::AlreadyExists { .. }
        | StoreError::Conflict { .. } => e.to_string(),
        e => format!("store error: {e}"),
    }
}

impl From<StoreError> for ServiceError {
    /// A function's name taken or missing becomes the service's own variant (same message);
    /// the same about another kind of record stays a store error, mapped by its variant.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists {
                kind: Kind::Function,
                name,
            } => ServiceError::AlreadyExists(name),
            StoreError::NotFound {
                kind: Kind::Function,
                name,
            } => ServiceError::NotFound(name),
            e @ StoreError::Conflict { .. } => ServiceError::Conflict(e.to_string()),
            e => ServiceError::Store(e),
        }
    }
}

/// The function service. Cheap to clone.
#[derive(Clone)]
pub struct Functions {
    inner: Arc<Inner>,
}

/// What [`Functions::new`] is made of; every part is built before it (the daemon's
/// `assemble`), so nothing is added to a service that is already shared.
pub struct Parts {
    /// Functions and their code (behind the Redis cache when there is one).
    pub store: Arc<dyn FunctionStore>,
    /// The functions' versions (written by `store` as functions change).
    pub versions: Arc<dyn VersionStore>,
    /// The functions' aliases.
    pub aliases: Arc<dyn AliasStore>,
    /// Where invocation records are read.
    pub logs: Arc<dyn LogStore>,
    /// Where a function's `$SECRET:` references are checked (even without the master key).
    pub secret_store: Arc<dyn SecretStore>,
    /// Embedded, remote or a cluster.
    pub dataplane: Arc<dyn DataPlane>,
    /// Whether to keep `min_replicas` warm (the daemon does; a one-off CLI run does not).
    pub prewarm: bool,
    /// Where invocation records go (the daemon keeps logs; a one-off CLI run does not).
    pub logger: Option<Arc<crate::logs::Logger>>,
    /// Secrets under the master key; none when it could not be read.
    pub secrets: Option<Arc<crate::secrets::Secrets>>,
    /// Tells other daemons on the same Redis what changed here, and hears theirs.
    pub broadcast: Option<crate::invalidation::Broadcast>,
}

struct Inner {
    /// Functions and their code (behind the Redis cache when there is one).
    functions: Arc<dyn FunctionStore>,
    /// The functions' versions.
    versions: Arc<dyn VersionStore>,
    /// The functions' aliases, and those read by `function:alias` (cached like specs).
    aliases: Arc<dyn AliasStore>,
    alias_cache: aliases::AliasCache,
    /// Where `logs` reads invocation records.
    log_store: Arc<dyn LogStore>,
    /// Where secret references are checked.
    secret_store: Arc<dyn SecretStore>,
    /// Embedded, remote or a cluster: which one is the deployment's business.
    dataplane: Arc<dyn DataPlane>,
    /// Resolved specs by name (old versions' by `name:number`), so a warm call touches no
    /// database.
    specs: RwLock<HashMap<String, Arc<FunctionSpec>>>,
    /// Whether to keep `min_replicas` warm (the daemon does; a one-off CLI run does not).
    prewarm: bool,
    /// Where invocation records go (the daemon keeps logs; a one-off CLI run does not).
    logger: Option<Arc<crate::logs::Logger>>,
    /// None when the master key could not be read: secrets then cannot be used.
    secrets: Option<Arc<crate::secrets::Secrets>>,
    /// Tells other daemons on the same Redis what changed here.
    broadcast: Option<Arc<crate::invalidation::Broadcast>>,
    counters: Counters,
}

impl Functions {
    /// The service over its parts, each built before (see [`Parts`]). With a broadcast, it starts
    /// listening for other daemons' changes here.
    pub fn new(parts: Parts) -> Functions {
        let Parts {
            store,
            versions,
            aliases,
            logs,
            secret_store,
            dataplane,
            prewarm,
            logger,
            secrets,
            broadcast,
        } = parts;
        let broadcast = broadcast.map(Arc::new);
        let changes = broadcast.as_ref().map(|b| b.subscribe());
        let functions = Functions {
            inner: Arc::new(Inner {
                functions: store,
                versions,
                aliases,
                alias_cache: aliases::AliasCache::default(),
                log_store: logs,
                secret_store,
                dataplane,
                specs: RwLock::new(HashMap::new()),
                prewarm,
                logger,
                secrets,
                broadcast,
                counters: Counters::default(),
            }),
        };
        if let Some(mut changes) = changes {
            let listener = functions.clone();
            tokio::spawn(async move {
                while let Some(name) = changes.recv().await {
                    listener.changed_elsewhere(&name).await;
                }
            });
        }
        functions
    }

    /// The spec the data plane runs: `$SECRET:` references replaced by their values.
    async fn resolved(
        &self,
        function: &Function,
        code: Arc<[u8]>,
    ) -> Result<FunctionSpec, ServiceError> {
        let mut spec = function.spec(code);
        if spec
            .env_vars
            .values()
            .any(|v| v.starts_with(crate::secrets::REFERENCE))
        {
            spec.env_vars = self.secrets()?.resolve(&spec.env_vars).await?;
        }
        Ok(spec)
    }

    pub fn logger(&self) -> Option<&crate::logs::Logger> {
        self.inner.logger.as_deref()
    }

    /// Invocation records, newest first, including those of every call that finished before
    /// this one.
    pub async fn logs(&self, query: &LogQuery) -> Result<Vec<InvocationLog>, ServiceError> {
        if let Some(logger) = self.logger() {
            logger.flush().await;
        }
        Ok(self.inner.log_store.list_invocations(query).await?)
    }

    /// [`Self::logs`] as the API shows them: with the function's id and runtime, RFC 3339 times.
    pub async fn invocations(
        &self,
        query: &LogQuery,
    ) -> Result<Vec<InvocationEntry>, ServiceError> {
        let logs = self.logs(query).await?;
        let mut functions: HashMap<String, Option<Function>> = HashMap::new();
        let mut entries = Vec::with_capacity(logs.len());
        for log in logs {
            if !functions.contains_key(&log.function) {
                let function = self.inner.functions.get_function(&log.function).await?;
                functions.insert(log.function.clone(), function);
            }
            let function = functions.get(&log.function).and_then(Option::as_ref);
            entries.push(crate::logs::entry(log, function));
        }
        Ok(entries)
    }

    /// Invocation counts since this process started.
    pub fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub fn dataplane(&self) -> &Arc<dyn DataPlane> {
        &self.inner.dataplane
    }

    pub async fn register(&self, config: FunctionConfig) -> Result<Function, ServiceError> {
        let (runtime, mode, network) = config.validate()?;
        self.check_supported(runtime)?;
        self.check_secret_references(&config.env_vars).await?;
        let code = code::decode(&config)?.ok_or(ValidationError::MissingCode)?;
        code::check_runtime(runtime, &code)?;
        let code: Arc<[u8]> = code.into();
        let now = record_now();
        let function = Function {
            id: uuid::Uuid::new_v4().to_string(),
            name: config.name.clone(),
            runtime,
            handler: config.handler.clone(),
            mode,
            network,
            memory_mb: config.memory_mb as u32,
            timeout_s: config.timeout_s as u32,
            min_replicas: config.min_replicas as u32,
            max_replicas: config.max_replicas as u32,
            instance_concurrency: 1,
            env_vars: config.env_vars.clone(),
            limits: config.limits,
            version: 1,
            code_hash: code::hash(&code),
            code_size: code.len() as u64,
            created_at: now.clone(),
            updated_at: now,
        };
        self.check_code(&function, &code)?;
        self.inner
            .functions
            .insert_function(&function, &code)
            .await?;
        tracing::info!(function = %function.name, runtime = %runtime, "registered");
        self.after_change(&function, Some(code)).await;
        Ok(function)
    }

    pub async fn update(&self, name: &str, patch: FunctionPatch) -> Result<Function, ServiceError> {
        if patch.is_empty() {
            return Err(ServiceError::EmptyUpdate);
        }
        let current = self.get(name).await?;
        let mut config = current.to_config();
        let env_changed = patch.env_vars.is_some();
        patch.apply(&mut config);
        let (runtime, mode, network) = config.validate()?;
        self.check_supported(runtime)?;
        if env_changed {
            self.check_secret_references(&config.env_vars).await?;
        }
        let new_code = code::decode(&config)?;
        let code_for_check = match &new_code {
            Some(code) => code.clone(),
            None => self.code_bytes(&current.code_hash).await?,
        };
        code::check_runtime(runtime, &code_for_check)?;
        let code_for_check: Arc<[u8]> = code_for_check.into();
        let function = Function {
            runtime,
            mode,
            network,
            handler: config.handler.clone(),
            memory_mb: config.memory_mb as u32,
            timeout_s: config.timeout_s as u32,
            min_replicas: config.min_replicas as u32,
            max_replicas: config.max_replicas as u32,
            env_vars: config.env_vars.clone(),
            limits: config.limits,
            version: current.version + 1,
            code_hash: code::hash(&code_for_check),
            code_size: code_for_check.len() as u64,
            updated_at: record_now(),
            ..current.clone()
        };
        self.check_code(&function, &code_for_check)?;
        self.inner
            .functions
            .replace_function(&function, new_code.as_deref(), current.version)
            .await?;
        tracing::info!(function = %name, version = function.version, "updated");
        // No evict: the new version gets a pool of its own, calls of the old one in flight end
        // normally, and its idle instances go at the idle TTL.
        self.after_change(&function, Some(code_for_check)).await;
        Ok(function)
    }

    pub async fn get(&self, name: &str) -> Result<Function, ServiceError> {
        self.inner
            .functions
            .get_function(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(name.to_string()))
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Vec<Function>, ServiceError> {
        Ok(self.inner.functions.list_functions(query).await?)
    }

    /// The function's code bytes.
    pub async fn code(&self, name: &str) -> Result<Vec<u8>, ServiceError> {
        let function = self.get(name).await?;
        self.code_bytes(&function.code_hash).await
    }

    pub async fn delete(&self, name: &str) -> Result<(), ServiceError> {
        if !self.inner.functions.delete_function(name).await? {
            return Err(ServiceError::NotFound(name.to_string()));
        }
        self.forget_spec(name);
        self.announce(name);
        self.inner.dataplane.evict(name).await;
        tracing::info!(function = %name, "deleted");
        Ok(())
    }

    /// Runs the newest version of the function once with `payload` (raw JSON text; empty means
    /// `{}`).
    pub async fn invoke(&self, name: &str, payload: &str) -> Result<InvokeResponse, ServiceError> {
        self.invoke_at(name, &Qualifier::Latest, payload).await
    }

    /// Runs the version `qualifier` names once with `payload`; the response and the log say
    /// which version ran.
    pub async fn invoke_at(
        &self,
        name: &str,
        qualifier: &Qualifier,
        payload: &str,
    ) -> Result<InvokeResponse, ServiceError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.invoke_as(name, qualifier, payload, id, 1).await
    }

    /// [`Functions::invoke_at`] under `request_id`: an async invocation's id, the same on
    /// every attempt, so a handler can tell a repeated call. Attempt `attempt` (from 1) is
    /// logged as `request_id`, then `request_id.2`, `request_id.3` …, each kept.
    pub async fn invoke_as(
        &self,
        name: &str,
        qualifier: &Qualifier,
        payload: &str,
        request_id: String,
        attempt: u32,
    ) -> Result<InvokeResponse, ServiceError> {
        let payload = parse_payload(payload)?;
        let (spec, _) = self.resolve(name, qualifier).await?;
        let request = InvokeRequest {
            request_id,
            payload,
        };
        let Some(logger) = &self.inner.logger else {
            let result = self.inner.dataplane.invoke(spec.clone(), request).await;
            self.inner.counters.record(name, &result);
            return Ok(result?);
        };
        // Each attempt of an async call has its own log entry: `<id>`, then `<id>.2`, `<id>.3`.
        let id = match attempt {
            0 | 1 => request.request_id.clone(),
            n => format!("{}.{n}", request.request_id),
        };
        let input_bytes = request.payload.get().len() as u64;
        let started = std::time::Instant::now();
        let created_at = crate::logs::now_ms();
        let result = self.inner.dataplane.invoke(spec.clone(), request).await;
        self.inner.counters.record(name, &result);
        logger.record(crate::logs::record_of(
            &spec,
            id,
            input_bytes,
            started,
            created_at,
            &result,
        ));
        Ok(result?)
    }

    /// Starts `min_replicas` instances of every function that asks for them.
    pub async fn prewarm_all(&self) -> Result<(), ServiceError> {
        let mut offset = 0;
        loop {
            let page = self
                .list(&ListQuery {
                    search: None,
                    limit: 500,
                    offset,
                })
                .await?;
            for f in page.iter().filter(|f| f.min_replicas > 0) {
                if let Ok(spec) = self.spec(&f.name).await {
                    self.spawn_prewarm(spec);
                }
            }
            if page.len() < 500 {
                return Ok(());
            }
            offset += 500;
        }
    }

    async fn spec(&self, name: &str) -> Result<Arc<FunctionSpec>, ServiceError> {
        if let Some(spec) = self.read_specs().get(name) {
            return Ok(spec.clone());
        }
        let function = self.get(name).await?;
        let code = self.code_bytes(&function.code_hash).await?;
        let spec = Arc::new(self.resolved(&function, code.into()).await?);
        self.write_specs().insert(name.to_string(), spec.clone());
        Ok(spec)
    }

    async fn code_bytes(&self, hash: &str) -> Result<Vec<u8>, ServiceError> {
        self.inner.functions.get_code(hash).await?.ok_or_else(|| {
            ServiceError::Store(StoreError::Corrupt(format!("code {hash} is missing")))
        })
    }

    async fn after_change(&self, function: &Function, code: Option<Arc<[u8]>>) {
        self.forget_spec(&function.name);
        self.announce(&format!("{}{}", function.name, broadcast::UPDATED));
        if let Some(code) = code {
            // A secret deleted since it was checked shows at the first invocation, by name.
            let Ok(spec) = self.resolved(function, code).await else {
                return;
            };
            let spec = Arc::new(spec);
            self.write_specs()
                .insert(function.name.clone(), spec.clone());
            if spec.min_replicas > 0 {
                self.spawn_prewarm(spec);
            }
        }
    }

    fn spawn_prewarm(&self, spec: Arc<FunctionSpec>) {
        if !self.inner.prewarm {
            return;
        }
        let dataplane = self.inner.dataplane.clone();
        tokio::spawn(async move {
            match dataplane.prewarm(spec.clone()).await {
                Ok(n) if n > 0 => tracing::info!(function = %spec.name, started = n, "pre-warmed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(function = %spec.name, error = %e, "pre-warm failed"),
            }
        });
    }

    /// Refuses env that names a secret that does not exist, naming the variable and the secret,
    /// instead of storing a function whose every invocation would fail.
    async fn check_secret_references(
        &self,
        env: &BTreeMap<String, String>,
    ) -> Result<(), ServiceError> {
        for (var, value) in env {
            if let Some(secret) = value.strip_prefix(crate::secrets::REFERENCE)
                && self.inner.secret_store.get_secret(secret).await?.is_none()
            {
                return Err(ServiceError::MissingSecret {
                    var: var.clone(),
                    secret: secret.to_string(),
                });
            }
        }
        Ok(())
    }

    fn check_supported(&self, runtime: nova_api::Runtime) -> Result<(), ServiceError> {
        let dataplane = &self.inner.dataplane;
        if dataplane.supports(runtime) {
            Ok(())
        } else {
            Err(ServiceError::Unsupported(runtime, dataplane.kind()))
        }
    }

    /// Lets the data plane refuse a function it can never run (an invalid WebAssembly module,
    /// more memory than the runtime can give).
    fn check_code(&self, function: &Function, code: &Arc<[u8]>) -> Result<(), ServiceError> {
        self.inner
            .dataplane
            .validate(&function.spec(code.clone()))
            .map_err(|e| ServiceError::Code(CodeError::Rejected(e.to_string())))
    }

    /// Forgets the specs of `name` (its newest and its versions') and its aliases.
    fn forget_spec(&self, name: &str) {
        self.inner.alias_cache.forget(name);
        self.write_specs()
            .retain(|key, _| !versions::is_key_of(key, name));
    }

    fn read_specs(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<FunctionSpec>>> {
        comet_util::read(&self.inner.specs)
    }

    fn write_specs(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<FunctionSpec>>> {
        comet_util::write(&self.inner.specs)
    }
}

/// The event as raw JSON; an empty body is the empty object.
fn parse_payload(payload: &str) -> Result<Box<RawValue>, ServiceError> {
    let trimmed = payload.trim();
    let text = if trimmed.is_empty() { "{}" } else { trimmed };
    RawValue::from_string(text.to_string()).map_err(|e| ServiceError::BadPayload(e.to_string()))
}
