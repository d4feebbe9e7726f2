//! Standby agents: started ahead of time, each already inside a fresh cgroup of its own.
//!
//! Moving a process into a cgroup waits for an RCU grace period (6–25 ms measured here), which
//! would otherwise sit on every cold start. A standby agent pays it in the background; taking
//! one costs nothing but writing the function's limits into its cgroup.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::agent::AgentProcess;
use super::cgroup::{Cgroups, InstanceCgroup};

/// An agent waiting, unconfined but idle, for its first Init.
pub struct Standby {
    pub agent: AgentProcess,
    pub cgroup: InstanceCgroup,
}

/// A few standby agents, refilled in the background.
pub struct StandbyPool {
    cgroups: Cgroups,
    agent: PathBuf,
    instance_dir: PathBuf,
    target: usize,
    ready: Mutex<Vec<Standby>>,
    next: AtomicU64,
    closed: AtomicBool,
    /// One refill task at a time, so concurrent cold starts do not overshoot `target`.
    refilling: AtomicBool,
}

impl StandbyPool {
    pub fn new(
        cgroups: Cgroups,
        agent: &Path,
        instance_dir: &Path,
        target: usize,
    ) -> Arc<StandbyPool> {
        Arc::new(StandbyPool {
            cgroups,
            agent: agent.to_path_buf(),
            instance_dir: instance_dir.to_path_buf(),
            target,
            ready: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            closed: AtomicBool::new(false),
            refilling: AtomicBool::new(false),
        })
    }

    /// A standby agent: a waiting one if any is alive, else a new one (which joins its cgroup
    /// on the way). Either way the pool is topped up in the background.
    pub fn take(self: &Arc<Self>) -> std::io::Result<Standby> {
        let waiting = loop {
            let Some(mut s) = self.lock().pop() else {
                break None;
            };
            if matches!(s.agent.child.try_wait(), Ok(None)) {
                break Some(s);
            }
            s.cgroup.destroy();
            let _ = std::fs::remove_dir_all(&s.agent.dir);
        };
        let standby = match waiting {
            Some(s) => s,
            None => self.start_one()?,
        };
        self.refill();
        Ok(standby)
    }

    /// Starts standby agents until `target` wait (in the background, when a runtime runs).
    pub fn refill(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        runtime.spawn(async move {
            while !pool.closed.load(Ordering::Acquire) && pool.lock().len() < pool.target {
                match pool.start_one() {
                    Ok(s) => pool.lock().push(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot start a standby agent");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::Release);
            // Closed meanwhile: what was just started goes too.
            if pool.closed.load(Ordering::Acquire) {
                pool.drain();
            }
        });
    }

    fn start_one(&self) -> std::io::Result<Standby> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("standby-{n}");
        let cgroup = self.cgroups.create(&name)?;
        match AgentProcess::spawn(
            &self.agent,
            self.instance_dir.join(&name),
            &cgroup.procs_files(),
        ) {
            Ok(agent) => Ok(Standby { agent, cgroup }),
            Err(e) => {
                cgroup.destroy();
                Err(e)
            }
        }
    }

    /// Stops every waiting agent and removes its cgroup; no more are started.
    pub fn drain(&self) {
        self.closed.store(true, Ordering::Release);
        let waiting: Vec<Standby> = self.lock().drain(..).collect();
        for mut s in waiting {
            let _ = s.agent.child.start_kill();
            s.cgroup.destroy();
            let _ = std::fs::remove_dir_all(&s.agent.dir);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Standby>> {
        comet_util::lock(&self.ready)
    }
}
