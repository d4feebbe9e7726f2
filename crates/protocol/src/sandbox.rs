//! How the host asks the agent to confine itself before it serves: passed once, as JSON, in the
//! agent's `--sandbox` argument. Each part is optional, so the same agent runs fully isolated
//! (root, namespaces, cgroups), with rlimits only (no root), or bare (tests, benchmarks).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSpec {
    /// New mount, PID, IPC, UTS (and network) namespaces with a minimal root; `None` keeps the
    /// host's view.
    pub namespaces: Option<NamespaceSpec>,
    /// `cgroup.procs` files the agent writes its pid into before anything else, so that every
    /// process it starts is accounted and limited from its first instruction.
    pub cgroup_procs: Vec<String>,
    /// Resource limits set on the agent and inherited by every handler.
    pub rlimits: Rlimits,
    /// Install the seccomp filter that denies what functions never need.
    pub seccomp: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamespaceSpec {
    /// An empty host directory in which the new root is assembled.
    pub root_dir: String,
    /// Host directory with the function's code, mounted read-only at `/code`.
    pub code_dir: String,
    /// Host paths visible read-only at the same place (`/usr`, `/lib`, an interpreter's prefix).
    /// A path that is a symlink on the host is recreated as the same symlink.
    pub read_only: Vec<String>,
    /// Files and directories under `/etc` exposed read-only (never `shadow` and friends).
    pub etc: Vec<String>,
    /// Size of the private `/tmp`, in MiB.
    pub tmp_size_mb: u32,
    /// The unprivileged user and group the agent and handlers run as.
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
    /// A network namespace of its own with only loopback; false shares the host's network.
    pub isolate_network: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rlimits {
    /// RLIMIT_NOFILE; 0 leaves it alone.
    pub nofile: u64,
    /// RLIMIT_DATA in MiB, the memory limit when cgroups are unavailable; 0 leaves it alone.
    pub data_mb: u64,
    /// RLIMIT_NPROC; 0 leaves it alone. Counts every process of the uid, so only meaningful with
    /// a uid of the sandbox's own.
    pub nproc: u64,
}
