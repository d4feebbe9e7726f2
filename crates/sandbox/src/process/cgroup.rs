//! Per-instance control groups: memory, CPU quota, pids and block I/O, on cgroup v1 and v2.
//!
//! Layout: `<controller root>/nova/<pid>.<n>/<instance>` (v1: under each controller's
//! hierarchy; v2: under the unified root), `<pid>.<n>` naming the n-th backend of process
//! `pid`. The pid lets a restarted daemon find and remove what a killed one left; `n` keeps two
//! backends of one process (and two daemons on one host) apart.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const PERIOD_US: u64 = 100_000;
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "blkio"];
const V2_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "io"];

/// The limits one instance gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CgroupLimits {
    pub memory_bytes: u64,
    pub vcpus: u64,
    pub pids_max: u64,
    /// `(major, minor)` of the block device to throttle, with the rates (0 = unlimited).
    pub block_device: Option<(u32, u32)>,
    pub iops: u64,
    pub bandwidth: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The cgroup hierarchy this backend creates instance groups in.
#[derive(Debug, Clone)]
pub struct Cgroups {
    version: Version,
    /// v1: `/sys/fs/cgroup`, holding one directory per controller; v2: the unified root.
    mount: PathBuf,
    /// `<pid>.<n>`: this backend's directory name under `nova/`.
    owner: String,
}

fn next_owner() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One instance's group(s); removed by [`InstanceCgroup::destroy`].
#[derive(Debug)]
pub struct InstanceCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
}

impl Cgroups {
    /// Finds a usable hierarchy and checks we may create groups in it.
    pub fn detect() -> Option<Cgroups> {
        let mount = PathBuf::from("/sys/fs/cgroup");
        let version = if mount.join("cgroup.controllers").exists() {
            Version::V2
        } else if mount.join("memory").is_dir() {
            Version::V1
        } else {
            return None;
        };
        let cgroups = Cgroups {
            version,
            mount,
            owner: next_owner(),
        };
        cgroups
            .daemon_dirs()
            .iter()
            .all(|d| std::fs::create_dir_all(d).is_ok())
            .then(|| {
                cgroups.enable_v2_controllers();
                cgroups
            })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// `nova/<pid>.<n>` under each hierarchy this version uses.
    fn daemon_dirs(&self) -> Vec<PathBuf> {
        self.nova_dirs()
            .into_iter()
            .map(|d| d.join(&self.owner))
            .collect()
    }

    fn nova_dirs(&self) -> Vec<PathBuf> {
        match self.version {
            Version::V1 => V1_CONTROLLERS
                .iter()
                .map(|c| self.mount.join(c).join("nova"))
                .collect(),
            Version::V2 => vec![self.mount.join("nova")],
        }
    }

    /// v2 only hands a controller to children whose parent lists it in `subtree_control`.
    fn enable_v2_controllers(&self) {
        if self.version != Version::V2 {
            return;
        }
        let nova = self.mount.join("nova");
        for dir in [
            self.mount.clone(),
            nova.clone(),
            nova.join(std::process::id().to_string()),
        ] {
            for c in V2_CONTROLLERS {
                // One at a time: a controller this kernel lacks must not block the others.
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
            }
        }
    }

    /// Creates an empty group (limits come later, with [`InstanceCgroup::apply`]).
    pub fn create(&self, name: &str) -> io::Result<InstanceCgroup> {
        let dirs: Vec<PathBuf> = self
            .daemon_dirs()
            .into_iter()
            .map(|d| d.join(name))
            .collect();
        for dir in &dirs {
            std::fs::create_dir_all(dir)?;
        }
        Ok(InstanceCgroup {
            version: self.version,
            dirs,
        })
    }

    /// Removes the groups of daemons that are no longer running, killing anything left in them.
    pub fn remove_stale(&self) {
        for nova in self.nova_dirs() {
            let Ok(entries) = std::fs::read_dir(&nova) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let pid = name
                    .to_str()
                    .and_then(|n| n.split('.').next()?.parse::<u32>().ok());
                let Some(pid) = pid else {
                    continue;
                };
                if Path::new("/proc").join(pid.to_string()).exists() {
                    continue;
                }
                remove_tree(&entry.path());
            }
        }
    }

    /// Removes this daemon's own (by then empty) directory.
    pub fn remove_own(&self) {
        for dir in self.daemon_dirs() {
            remove_tree(&dir);
        }
    }
}

impl InstanceCgroup {
    /// The files a process writes its pid into to join every group.
    pub fn procs_files(&self) -> Vec<String> {
        self.dirs
            .iter()
            .map(|d| d.join("cgroup.procs").display().to_string())
            .collect()
    }

    /// Applies `limits`. A required one the kernel refuses is an error; an optional one (say,
    /// throttling a device that cannot be throttled) comes back as a warning.
    pub fn apply(&self, limits: &CgroupLimits) -> io::Result<Vec<String>> {
        let mut warnings = Vec::new();
        for (file, value, required) in limit_writes(self.version, limits) {
            let path = self.file(file);
            if let Err(e) = std::fs::write(&path, &value) {
                if required {
                    return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
                }
                warnings.push(format!("{} = {value:?}: {e}", path.display()));
            }
        }
        Ok(warnings)
    }

    /// How many times the kernel's OOM killer has fired in this group.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        std::fs::read_to_string(self.file(file))
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }

    /// Kills whatever is left in the group and removes it (retrying while the kernel finishes
    /// tearing processes down).
    pub fn destroy(&self) {
        for dir in &self.dirs {
            remove_tree(dir);
        }
    }

    /// The directory holding `file` (v1 keeps each controller's files in its own hierarchy).
    fn file(&self, file: &str) -> PathBuf {
        let dir = match self.version {
            Version::V2 => &self.dirs[0],
            Version::V1 => {
                let controller = file.split('.').next().unwrap_or("");
                self.dirs
                    .iter()
                    .find(|d| d.components().any(|c| c.as_os_str() == controller))
                    .unwrap_or(&self.dirs[0])
            }
        };
        dir.join(file)
    }
}

/// What to write where: `(file, value, required)`. Pure, so both versions are testable anywhere.
pub fn limit_writes(version: Version, l: &CgroupLimits) -> Vec<(&'static str, String, bool)> {
    let mut w = Vec::new();
    let quota = (l.vcpus.max(1) * PERIOD_US).to_string();
    match version {
        Version::V1 => {
            w.push(("memory.limit_in_bytes", l.memory_bytes.to_string(), true));
            // No swapping past the limit, where swap accounting exists.
            w.push((
                "memory.memsw.limit_in_bytes",
                l.memory_bytes.to_string(),
                false,
            ));
            w.push(("cpu.cfs_period_us", PERIOD_US.to_string(), true));
            w.push(("cpu.cfs_quota_us", quota, true));
            w.push(("pids.max", l.pids_max.to_string(), true));
            if let Some((major, minor)) = l.block_device {
                let dev = format!("{major}:{minor}");
                for (file, rate) in [
                    ("blkio.throttle.read_iops_device", l.iops),
                    ("blkio.throttle.write_iops_device", l.iops),
                    ("blkio.throttle.read_bps_device", l.bandwidth),
                    ("blkio.throttle.write_bps_device", l.bandwidth),
                ] {
                    if rate > 0 {
                        w.push((file, format!("{dev} {rate}"), false));
                    }
                }
            }
        }
        Version::V2 => {
            w.push(("memory.max", l.memory_bytes.to_string(), true));
            w.push(("memory.swap.max", "0".to_string(), false));
            w.push(("cpu.max", format!("{quota} {PERIOD_US}"), true));
            w.push(("pids.max", l.pids_max.to_string(), true));
            if let Some((major, minor)) = l.block_device {
                let mut rates = Vec::new();
                if l.iops > 0 {
                    rates.push(format!("riops={0} wiops={0}", l.iops));
                }
                if l.bandwidth > 0 {
                    rates.push(format!("rbps={0} wbps={0}", l.bandwidth));
                }
                if !rates.is_empty() {
                    w.push((
                        "io.max",
                        format!("{major}:{minor} {}", rates.join(" ")),
                        false,
                    ));
                }
            }
        }
    }
    w
}

/// Kills every process in `dir` and below, then removes the directories bottom-up.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    for _ in 0..100 {
        kill_members(dir);
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    tracing::warn!(cgroup = %dir.display(), "could not remove cgroup: processes still inside");
}

fn kill_members(dir: &Path) {
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        // SAFETY: kill has no memory effects; these pids belong to our own instance group.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> CgroupLimits {
        CgroupLimits {
            memory_bytes: 64 << 20,
            vcpus: 2,
            pids_max: 128,
            block_device: Some((254, 0)),
            iops: 100,
            bandwidth: 0,
        }
    }

    #[test]
    fn v1_writes() {
        let w = limit_writes(Version::V1, &limits());
        let get = |f: &str| {
            w.iter()
                .find(|(file, ..)| *file == f)
                .map(|(_, v, _)| v.as_str())
        };
        assert_eq!(get("memory.limit_in_bytes"), Some("67108864"));
        assert_eq!(get("cpu.cfs_quota_us"), Some("200000"));
        assert_eq!(get("pids.max"), Some("128"));
        assert_eq!(get("blkio.throttle.write_iops_device"), Some("254:0 100"));
        assert_eq!(
            get("blkio.throttle.read_bps_device"),
            None,
            "0 means unlimited"
        );
    }

    #[test]
    fn v2_writes() {
        let w = limit_writes(Version::V2, &limits());
        let get = |f: &str| {
            w.iter()
                .find(|(file, ..)| *file == f)
                .map(|(_, v, _)| v.as_str())
        };
        assert_eq!(get("memory.max"), Some("67108864"));
        assert_eq!(get("cpu.max"), Some("200000 100000"));
        assert_eq!(get("io.max"), Some("254:0 riops=100 wiops=100"));
    }

    #[test]
    fn v1_files_live_in_their_controller() {
        let g = InstanceCgroup {
            version: Version::V1,
            dirs: V1_CONTROLLERS
                .iter()
                .map(|c| PathBuf::from(format!("/sys/fs/cgroup/{c}/nova/1/x")))
                .collect(),
        };
        assert_eq!(
            g.file("pids.max"),
            Path::new("/sys/fs/cgroup/pids/nova/1/x/pids.max")
        );
        assert_eq!(
            g.file("memory.oom_control"),
            Path::new("/sys/fs/cgroup/memory/nova/1/x/memory.oom_control")
        );
    }
}
