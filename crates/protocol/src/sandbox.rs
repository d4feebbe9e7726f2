//! How the host asks the agent to confine itself: carried by the first Init frame, and applied
//! before the handler starts. Each part is optional, so the same agent runs fully isolated
//! (root: namespaces, a minimal root, seccomp), with rlimits and seccomp only (no root), or bare.
//! Cgroups are joined earlier, at the agent's start (`--join`), because joining one is slow
//! (an RCU grace period) and the host hides that behind a pool of standby agents.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSpec {
    /// New mount, PID, IPC, UTS (and network) namespaces with a minimal root; `None` keeps the
    /// host's view.
    pub namespaces: Option<NamespaceSpec>,
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
