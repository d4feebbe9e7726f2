//! Functions as users describe them ([`FunctionConfig`]), as Nova stores them ([`Function`]) and
//! as Comet runs them ([`FunctionSpec`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::validate::{self, ValidationError};

/// Handler used when a user names none: module `main`, function `handler` (the seed's default).
pub const DEFAULT_HANDLER: &str = "main.handler";

/// The language runtimes a function can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A Python 3 source file, run by the host's interpreter.
    Python,
    /// A Linux x86-64 executable built from Go.
    Go,
    /// A Linux x86-64 executable built from Rust.
    Rust,
    /// A WASI preview 1 command module.
    Wasm,
}

impl Runtime {
    pub const ALL: [Runtime; 4] = [Runtime::Python, Runtime::Go, Runtime::Rust, Runtime::Wasm];

    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python => "python",
            Runtime::Go => "go",
            Runtime::Rust => "rust",
            Runtime::Wasm => "wasm",
        }
    }

    /// Whether the code is a native executable that the instance runs directly.
    pub fn is_native(self) -> bool {
        matches!(self, Runtime::Go | Runtime::Rust)
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Runtime {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Runtime::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ValidationError::UnknownRuntime(s.to_string()))
    }
}

/// How an instance runs the handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A fresh handler process per invocation (the seed's behaviour).
    #[default]
    Process,
    /// One long-lived handler process per instance, fed one JSON line per invocation.
    Persistent,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Process => "process",
            Mode::Persistent => "persistent",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "process" => Ok(Mode::Process),
            "persistent" => Ok(Mode::Persistent),
            other => Err(ValidationError::UnknownMode(other.to_string())),
        }
    }
}

/// What network an instance sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Its own network namespace with loopback only: no way out.
    #[default]
    None,
    /// The host's network (opt-in per function).
    Host,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Host => "host",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            other => Err(ValidationError::UnknownNetwork(other.to_string())),
        }
    }
}

/// Resource limits beyond memory and time. `0` means unlimited for every rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Virtual CPUs, 1 to 32.
    pub vcpus: i64,
    /// Disk operations per second.
    pub disk_iops: i64,
    /// Disk bandwidth in bytes per second.
    pub disk_bandwidth: i64,
    /// Inbound network bandwidth in bytes per second.
    pub net_rx_bandwidth: i64,
    /// Outbound network bandwidth in bytes per second.
    pub net_tx_bandwidth: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            vcpus: 1,
            disk_iops: 0,
            disk_bandwidth: 0,
            net_rx_bandwidth: 0,
            net_tx_bandwidth: 0,
        }
    }
}

/// Everything a user sets about a function, as the CLI and `POST /functions` carry it.
///
/// Numbers are signed so that a negative value reaches validation and gets a message that names
/// the field, instead of a parse error about integer types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    /// Source text (Python) as the original clients send it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Binary-safe code (executables, modules), base64-encoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_base64: Option<String>,
    pub memory_mb: i64,
    pub timeout_s: i64,
    pub min_replicas: i64,
    pub max_replicas: i64,
    /// Invocations one instance serves at once. Only 1 is supported; 0 (a client's zero value)
    /// means the default.
    pub instance_concurrency: i64,
    pub mode: String,
    /// `none` (loopback only, the default) or `host`.
    pub network: String,
    pub env_vars: BTreeMap<String, String>,
    pub limits: Limits,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig {
            name: String::new(),
            runtime: String::new(),
            handler: DEFAULT_HANDLER.to_string(),
            code: None,
            code_base64: None,
            memory_mb: 128,
            timeout_s: 30,
            min_replicas: 0,
            max_replicas: 0,
            instance_concurrency: 1,
            mode: Mode::Process.as_str().to_string(),
            network: Network::None.as_str().to_string(),
            env_vars: BTreeMap::new(),
            limits: Limits::default(),
        }
    }
}

/// A partial update: every field that is `Some` replaces the stored one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionPatch {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub code: Option<String>,
    pub code_base64: Option<String>,
    pub memory_mb: Option<i64>,
    pub timeout_s: Option<i64>,
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    pub instance_concurrency: Option<i64>,
    pub mode: Option<String>,
    pub network: Option<String>,
    /// Replaces the whole environment when present.
    pub env_vars: Option<BTreeMap<String, String>>,
    pub limits: Option<Limits>,
}

/// Fields the original Nova's clients send with a function that this Nova has no use for, accepted
/// and ignored by `POST /functions` and `PATCH /functions/{name}` so that those clients work
/// unchanged; any other unknown field is still refused, by name.
///
/// `code_path` is the local file `orbit functions create --code-path` read `code` from. The rest
/// are the original's function model: settings this Nova does not have (policies, layers,
/// mounts, tenancy, traffic splitting) and read-only fields of a function read back and resent.
pub const IGNORED_FUNCTION_FIELDS: &[&str] = &[
    "code_path",
    "id",
    "tenant_id",
    "namespace",
    "code_hash",
    "code_size",
    "version",
    "created_at",
    "updated_at",
    "compile_status",
    "network_policy",
    "auto_scale_policy",
    "capacity_policy",
    "layers",
    "mounts",
    "version_alias",
    "active_versions",
    "traffic_split",
];

/// Drops [`IGNORED_FUNCTION_FIELDS`] from a JSON object before it is read as a
/// [`FunctionConfig`] or [`FunctionPatch`]; anything that is not an object is left as it is.
pub fn drop_ignored_fields(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(object) = body.as_object_mut() {
        for field in IGNORED_FUNCTION_FIELDS {
            object.remove(*field);
        }
    }
    body
}

/// A stored function: its validated settings plus identity, version and code hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub id: String,
    pub name: String,
    pub runtime: Runtime,
    pub handler: String,
    pub mode: Mode,
    #[serde(default)]
    pub network: Network,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub instance_concurrency: u32,
    pub env_vars: BTreeMap<String, String>,
    pub limits: Limits,
    /// Starts at 1; every update adds one.
    pub version: u64,
    /// SHA-256 of the code, hex. A different hash means different code.
    pub code_hash: String,
    pub code_size: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// One immutable version of a function: the function as it stood when the version was made
/// (`version` is its number; `created_at` and `updated_at` are both when the version was made)
/// and the description it was published with, if any. Shown with the same fields as the
/// function itself, plus `description`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionVersion {
    #[serde(flatten)]
    pub function: Function,
    /// Given by `nova publish`; empty for a version no one described.
    #[serde(default)]
    pub description: String,
}

/// What the data plane runs: a function resolved to concrete settings, with its code.
///
/// Comet never reads user configuration; it receives this.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub version: u64,
    pub runtime: Runtime,
    pub handler: String,
    pub mode: Mode,
    pub network: Network,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub env_vars: BTreeMap<String, String>,
    pub limits: Limits,
    pub code_hash: String,
    /// The code bytes, shared: cloning a spec never copies them.
    pub code: Arc<[u8]>,
}

impl FunctionConfig {
    /// Checks every field and returns the typed runtime, mode and network.
    pub fn validate(&self) -> Result<(Runtime, Mode, Network), ValidationError> {
        validate::config(self)
    }
}

/// The content hash that names code everywhere: lowercase hex SHA-256.
pub fn code_hash(code: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(code))
}

impl FunctionSpec {
    /// Version 1 of `code` with every other setting at the default a user gets: for code run
    /// without the control plane (`comet run`, tests, benchmarks). Change fields with struct
    /// update syntax.
    pub fn with_defaults(name: &str, runtime: Runtime, code: Vec<u8>) -> FunctionSpec {
        let d = FunctionConfig::default();
        FunctionSpec {
            name: name.to_string(),
            version: 1,
            runtime,
            handler: d.handler,
            mode: Mode::default(),
            network: Network::default(),
            memory_mb: d.memory_mb as u32,
            timeout_s: d.timeout_s as u32,
            min_replicas: 0,
            max_replicas: 0,
            env_vars: BTreeMap::new(),
            limits: d.limits,
            code_hash: code_hash(&code),
            code: code.into(),
        }
    }
}

impl Function {
    /// The spec Comet runs for this function and these code bytes.
    pub fn spec(&self, code: Arc<[u8]>) -> FunctionSpec {
        FunctionSpec {
            name: self.name.clone(),
            version: self.version,
            runtime: self.runtime,
            handler: self.handler.clone(),
            mode: self.mode,
            network: self.network,
            memory_mb: self.memory_mb,
            timeout_s: self.timeout_s,
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            env_vars: self.env_vars.clone(),
            limits: self.limits,
            code_hash: self.code_hash.clone(),
            code,
        }
    }

    /// The settings of this function as a config, without code: the base an update applies to.
    pub fn to_config(&self) -> FunctionConfig {
        FunctionConfig {
            name: self.name.clone(),
            runtime: self.runtime.to_string(),
            handler: self.handler.clone(),
            code: None,
            code_base64: None,
            memory_mb: self.memory_mb.into(),
            timeout_s: self.timeout_s.into(),
            min_replicas: self.min_replicas.into(),
            max_replicas: self.max_replicas.into(),
            instance_concurrency: self.instance_concurrency.into(),
            mode: self.mode.to_string(),
            network: self.network.to_string(),
            env_vars: self.env_vars.clone(),
            limits: self.limits,
        }
    }
}

impl FunctionPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == FunctionPatch::default()
    }

    /// Applies the patch to `config`; code fields replace the code only when present.
    pub fn apply(self, config: &mut FunctionConfig) {
        let FunctionPatch {
            runtime,
            handler,
            code,
            code_base64,
            memory_mb,
            timeout_s,
            min_replicas,
            max_replicas,
            instance_concurrency,
            mode,
            network,
            env_vars,
            limits,
        } = self;
        set(&mut config.runtime, runtime);
        set(&mut config.handler, handler);
        set(&mut config.memory_mb, memory_mb);
        set(&mut config.timeout_s, timeout_s);
        set(&mut config.min_replicas, min_replicas);
        set(&mut config.max_replicas, max_replicas);
        set(&mut config.instance_concurrency, instance_concurrency);
        set(&mut config.mode, mode);
        set(&mut config.network, network);
        set(&mut config.env_vars, env_vars);
        set(&mut config.limits, limits);
        if code.is_some() || code_base64.is_some() {
            config.code = code;
            config.code_base64 = code_base64;
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_client_fields_are_dropped_and_unknown_ones_still_refused() {
        let orbit = serde_json::json!({
            "name": "hello", "runtime": "python", "code": "x", "code_path": "/tmp/hello.py",
            "auto_scale_policy": {"enabled": true}, "id": "abc", "version": 3
        });
        let config: FunctionConfig =
            serde_json::from_value(drop_ignored_fields(orbit)).expect("accepted");
        assert_eq!(config.code.as_deref(), Some("x"));
        let patch: FunctionPatch =
            serde_json::from_value(drop_ignored_fields(serde_json::json!({"code_path": "p"})))
                .expect("accepted");
        assert!(patch.is_empty());
        let typo = serde_json::json!({"name": "hello", "runtime": "python", "memroy_mb": 1});
        let e = serde_json::from_value::<FunctionConfig>(drop_ignored_fields(typo))
            .expect_err("refused");
        assert!(e.to_string().contains("memroy_mb"), "{e}");
    }
}
