//! What confinement this host can give instances, decided once at start-up, and the
//! per-instance [`SandboxSpec`] the agent applies to itself.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use comet_protocol::{NamespaceSpec, Rlimits, SandboxSpec};
use nova_api::{FunctionSpec, Network};

use super::cgroup::{CgroupLimits, Cgroups, InstanceCgroup};

/// Host paths every instance sees read-only: the runtimes' programs and libraries.
const READ_ONLY: [&str; 6] = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];
/// What `/etc` holds inside an instance. Never `shadow`, `sudoers`, keys or the like.
const ETC: [&str; 9] = [
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "hosts",
    "resolv.conf",
    "ssl",
    "alternatives",
];

/// How much isolation to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationMode {
    /// Everything the host allows: full isolation as root, rlimits (and seccomp) otherwise.
    #[default]
    Auto,
    /// Refuse to start without namespaces and cgroups.
    Required,
    /// None at all: the agent is a plain child process (benchmarks' baseline, debugging).
    Off,
}

impl std::str::FromStr for IsolationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IsolationMode::Auto),
            "required" => Ok(IsolationMode::Required),
            "off" => Ok(IsolationMode::Off),
            other => Err(format!(
                "unknown isolation mode '{other}' (expected auto, required or off)"
            )),
        }
    }
}

/// Settings of the isolation layer.
#[derive(Debug, Clone)]
pub struct IsolationConfig {
    pub mode: IsolationMode,
    /// The unprivileged user and group instances run as.
    pub uid: u32,
    pub gid: u32,
    /// Most processes (and threads) one instance may have: a fork bomb stops here.
    pub pids_max: u32,
    /// Most open files per process.
    pub nofile: u64,
    /// Size of each instance's private `/tmp`.
    pub tmp_size_mb: u32,
    /// More host paths to show read-only (an interpreter installed outside `/usr`).
    pub extra_read_only: Vec<PathBuf>,
    /// Agents kept started, each in its own cgroup, so a cold start skips joining one.
    pub standby: usize,
    /// Install the seccomp filter.
    pub seccomp: bool,
    /// Create a cgroup per instance when the host has them.
    pub cgroups: bool,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            mode: IsolationMode::Auto,
            uid: 65534,
            gid: 65534,
            pids_max: 128,
            nofile: 1024,
            tmp_size_mb: 64,
            extra_read_only: Vec::new(),
            standby: 2,
            seccomp: true,
            cgroups: true,
        }
    }
}

/// What this host can do, and how instances are confined.
#[derive(Debug)]
pub struct Isolation {
    config: IsolationConfig,
    namespaces: bool,
    cgroups: Option<Cgroups>,
    block_device: Option<(u32, u32)>,
}

impl Isolation {
    /// Probes the host. Without root or cgroups it says so once, loudly, and goes on with what
    /// it has.
    pub fn probe(config: IsolationConfig) -> Result<Isolation, String> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let off = config.mode == IsolationMode::Off;
        let namespaces = root && !off;
        let cgroups = if namespaces && config.cgroups {
            Cgroups::detect()
        } else {
            None
        };
        if config.mode == IsolationMode::Required && (!namespaces || cgroups.is_none()) {
            return Err("isolation is required but this host gives no root or no cgroups".into());
        }
        if let Some(c) = &cgroups {
            c.remove_stale();
        }
        if !off && !namespaces {
            tracing::warn!(
                "!!! NOT ISOLATED: not running as root, so instances share this machine's filesystem, \
                 network and processes; only rlimits (memory, open files) and seccomp confine them !!!"
            );
        } else if !off && cgroups.is_none() {
            tracing::warn!(
                "!!! NO CGROUPS: memory, CPU and pids limits fall back to rlimits; a fork bomb is not contained !!!"
            );
        }
        if let Some(c) = &cgroups {
            tracing::info!(version = ?c.version(), "instances are isolated with namespaces, cgroups and seccomp");
        }
        Ok(Isolation {
            block_device: root_block_device(),
            config,
            namespaces,
            cgroups,
        })
    }

    pub fn remove_own_cgroups(&self) {
        if let Some(c) = &self.cgroups {
            c.remove_own();
        }
    }

    pub fn is_off(&self) -> bool {
        self.config.mode == IsolationMode::Off
    }

    /// Whether instances see `/code` instead of the host's code path.
    pub fn uses_namespaces(&self) -> bool {
        self.namespaces
    }

    /// A one-line summary for logs and the README's limits table.
    pub fn describe(&self) -> &'static str {
        match (self.is_off(), self.namespaces, self.cgroups.is_some()) {
            (true, ..) => "off",
            (false, true, true) => "namespaces + cgroups + seccomp",
            (false, true, false) => "namespaces + rlimits + seccomp",
            (false, false, _) => "rlimits + seccomp",
        }
    }

    /// The cgroup hierarchy instances are placed in, when this host gives one.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    /// Writes `function`'s limits into an instance's cgroup.
    pub fn apply_limits(
        &self,
        cgroup: &InstanceCgroup,
        function: &FunctionSpec,
    ) -> std::io::Result<()> {
        for w in cgroup.apply(&self.limits(function))? {
            tracing::warn!(function = %function.name, "limit not applied: {w}");
        }
        Ok(())
    }

    /// The confinement the agent enters for `function`; `None` when isolation is off.
    pub fn sandbox_spec(
        &self,
        function: &FunctionSpec,
        root_dir: &Path,
        code_dir: &Path,
        interpreter: Option<&Path>,
    ) -> Option<SandboxSpec> {
        if self.is_off() {
            return None;
        }
        let namespaces = self.namespaces.then(|| NamespaceSpec {
            root_dir: root_dir.display().to_string(),
            code_dir: code_dir.display().to_string(),
            read_only: self.read_only_paths(interpreter),
            etc: ETC.iter().map(|s| s.to_string()).collect(),
            tmp_size_mb: self.config.tmp_size_mb,
            uid: self.config.uid,
            gid: self.config.gid,
            hostname: "nova".to_string(),
            isolate_network: function.network == Network::None,
        });
        Some(SandboxSpec {
            namespaces,
            rlimits: Rlimits {
                nofile: self.config.nofile,
                data_mb: data_limit_mb(function.memory_mb, self.cgroups.is_some()),
                nproc: 0,
            },
            seccomp: self.config.seccomp,
        })
    }

    fn limits(&self, f: &FunctionSpec) -> CgroupLimits {
        CgroupLimits {
            memory_bytes: u64::from(f.memory_mb) * 1024 * 1024,
            vcpus: f.limits.vcpus.max(1) as u64,
            pids_max: u64::from(self.config.pids_max),
            block_device: self.block_device,
            iops: f.limits.disk_iops.max(0) as u64,
            bandwidth: f.limits.disk_bandwidth.max(0) as u64,
        }
    }

    /// The standard runtime paths, the configured extras, and the prefix of an interpreter that
    /// lives elsewhere (a pyenv Python under `~/.pyenv/versions/X`).
    fn read_only_paths(&self, interpreter: Option<&Path>) -> Vec<String> {
        let mut paths: Vec<String> = READ_ONLY
            .iter()
            .filter(|p| Path::new(p).exists())
            .map(|p| p.to_string())
            .collect();
        paths.extend(
            self.config
                .extra_read_only
                .iter()
                .map(|p| p.display().to_string()),
        );
        if let Some(prefix) = interpreter.and_then(outside_prefix) {
            paths.push(prefix.display().to_string());
        }
        paths
    }
}

/// RLIMIT_DATA: the memory limit itself without a memory cgroup. With one, twice the limit, so
/// the cgroup's OOM killer (which reports "out of memory" and replaces the instance) acts first;
/// the rlimit stays as a backstop against address-space blow-ups.
fn data_limit_mb(memory_mb: u32, has_cgroup: bool) -> u64 {
    let memory_mb = u64::from(memory_mb);
    if has_cgroup { memory_mb * 2 } else { memory_mb }
}

/// For an interpreter not under a standard path, its installation prefix (`<prefix>/bin/python3`).
fn outside_prefix(interpreter: &Path) -> Option<PathBuf> {
    let standard = READ_ONLY.iter().any(|p| interpreter.starts_with(p));
    if standard {
        return None;
    }
    interpreter.parent()?.parent().map(Path::to_path_buf)
}

/// The block device holding `/`, which is what an instance's disk I/O reaches.
fn root_block_device() -> Option<(u32, u32)> {
    let dev = std::fs::metadata("/").ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    (major != 0).then_some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_outside_usr_bring_their_prefix() {
        assert_eq!(outside_prefix(Path::new("/usr/bin/python3")), None);
        assert_eq!(
            outside_prefix(Path::new("/root/.pyenv/versions/3.11.7/bin/python3")),
            Some(PathBuf::from("/root/.pyenv/versions/3.11.7"))
        );
    }
}
