//! One agent child process and the connection to it.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use comet_protocol::async_io::{read_message, write_message};
use comet_protocol::{ExecPayload, InitPayload, Message, RespPayload};
use nova_api::FunctionSpec;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

use super::cgroup::InstanceCgroup;
use super::isolation::Confinement;
use crate::backend::{Instance, SandboxError};

/// The descriptor number the agent finds its end of the socket pair on.
const AGENT_FD: i32 = 3;
/// Extra time the host allows beyond the handler's timeout before declaring the agent stuck.
const HOST_GRACE: Duration = Duration::from_secs(2);
/// How long a stopping agent gets to answer and exit before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Everything needed to start one instance.
pub struct Launch<'a> {
    pub id: String,
    pub dir: PathBuf,
    pub agent: &'a Path,
    pub command: Vec<String>,
    /// The code directory as the handler sees it.
    pub code_dir: PathBuf,
    pub confinement: Confinement,
}

pub struct ProcessInstance {
    id: String,
    dir: PathBuf,
    child: Child,
    conn: UnixStream,
    alive: bool,
    cgroup: Option<InstanceCgroup>,
    memory_mb: u32,
}

impl ProcessInstance {
    pub(super) async fn start(
        launch: Launch<'_>,
        spec: &FunctionSpec,
    ) -> Result<ProcessInstance, SandboxError> {
        let Launch {
            id,
            dir,
            agent,
            command,
            code_dir,
            confinement,
        } = launch;
        let (host_end, agent_end) = StdUnixStream::pair()?;
        let child = spawn_agent(agent, &dir, &confinement, agent_end)?;
        host_end.set_nonblocking(true)?;
        let mut instance = ProcessInstance {
            id,
            dir,
            child,
            conn: UnixStream::from_std(host_end)?,
            alive: true,
            cgroup: confinement.cgroup,
            memory_mb: spec.memory_mb,
        };
        instance.drain_stderr();
        let init = InitPayload {
            runtime: spec.runtime.to_string(),
            handler: spec.handler.clone(),
            env_vars: spec.env_vars.clone(),
            command,
            mode: spec.mode.to_string(),
            function_name: spec.name.clone(),
            function_version: spec.version,
            memory_mb: spec.memory_mb,
            timeout_s: spec.timeout_s,
            code_dir: code_dir.display().to_string(),
        };
        let limit = Duration::from_secs(u64::from(spec.timeout_s)) + HOST_GRACE;
        let oom_before = instance.oom_kills();
        let reply = instance.round_trip(Message::Init(init), limit).await;
        let error = match reply {
            Ok(reply) => reply.error,
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = error {
            let error = if instance.oom_kills() > oom_before {
                instance.out_of_memory()
            } else {
                error
            };
            instance.kill().await;
            return Err(SandboxError::Init(error));
        }
        Ok(instance)
    }

    /// Logs what the agent writes to stderr (the handler's crashes end up there too).
    fn drain_stderr(&mut self) {
        let Some(stderr) = self.child.stderr.take() else {
            return;
        };
        let id = self.id.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line: String = line.chars().take(1024).collect();
                tracing::debug!(instance = %id, "{line}");
            }
        });
    }

    async fn round_trip(
        &mut self,
        message: Message,
        limit: Duration,
    ) -> Result<RespPayload, SandboxError> {
        let exchange = async {
            write_message(&mut self.conn, &message).await?;
            match read_message(&mut self.conn).await? {
                Some(Message::Resp(resp)) => Ok(resp),
                Some(_) => Err(SandboxError::Init("agent sent an unexpected frame".into())),
                None => Err(SandboxError::Gone),
            }
        };
        let result = match tokio::time::timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SandboxError::Unresponsive(limit)),
        };
        if result.is_err() {
            self.alive = false;
        }
        result
    }

    fn oom_kills(&self) -> u64 {
        self.cgroup.as_ref().map_or(0, InstanceCgroup::oom_kills)
    }

    /// The answer when the kernel's OOM killer fired in this instance: the instance's state is
    /// unknown afterwards, so it is replaced.
    fn out_of_memory(&mut self) -> String {
        self.alive = false;
        format!(
            "out of memory: the function exceeded its {} MB memory limit and was killed",
            self.memory_mb
        )
    }

    async fn kill(&mut self) {
        self.alive = false;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        if let Some(cgroup) = self.cgroup.take() {
            let _ = tokio::task::spawn_blocking(move || cgroup.destroy()).await;
        }
    }
}

/// Starts the agent with its end of the socket pair as descriptor 3.
fn spawn_agent(
    agent: &Path,
    dir: &Path,
    confinement: &Confinement,
    agent_end: StdUnixStream,
) -> Result<Child, SandboxError> {
    let fd = agent_end.as_raw_fd();
    let mut cmd = Command::new(agent);
    cmd.args(["--fd", &AGENT_FD.to_string()]);
    let tmp = match &confinement.spec {
        Some(spec) => {
            let json =
                serde_json::to_string(spec).map_err(|e| SandboxError::Init(e.to_string()))?;
            cmd.args(["--sandbox", &json]);
            if spec.namespaces.is_some() {
                PathBuf::from("/tmp")
            } else {
                dir.join("tmp")
            }
        }
        None => dir.join("tmp"),
    };
    if tmp.starts_with(dir) {
        std::fs::create_dir_all(&tmp)?;
    }
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TMPDIR", &tmp)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: between fork and exec only async-signal-safe calls are made (dup2, fcntl, prctl).
    unsafe {
        cmd.pre_exec(move || {
            if fd == AGENT_FD {
                // dup2 onto itself keeps close-on-exec set; clear it instead.
                libc::fcntl(fd, libc::F_SETFD, 0);
            } else if libc::dup2(fd, AGENT_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The agent dies with us rather than outliving a crashed daemon.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(agent_end);
    Ok(child)
}

#[async_trait]
impl Instance for ProcessInstance {
    fn id(&self) -> &str {
        &self.id
    }

    async fn invoke(
        &mut self,
        request_id: &str,
        input: &RawValue,
        timeout: Duration,
    ) -> Result<RespPayload, SandboxError> {
        let exec = ExecPayload {
            request_id: request_id.to_string(),
            input: input.to_owned(),
            timeout_s: timeout.as_secs().clamp(1, u64::from(u32::MAX)) as u32,
        };
        let oom_before = self.oom_kills();
        let result = self
            .round_trip(Message::Exec(exec), timeout + HOST_GRACE)
            .await;
        if self.oom_kills() == oom_before {
            return result;
        }
        // The OOM killer fired: whatever the agent managed to say, the answer is "out of memory".
        let mut resp = result.unwrap_or_default();
        resp.request_id = request_id.to_string();
        resp.output = None;
        resp.error = Some(self.out_of_memory());
        Ok(resp)
    }

    fn is_alive(&mut self) -> bool {
        self.alive && matches!(self.child.try_wait(), Ok(None))
    }

    async fn stop(mut self: Box<Self>) {
        if self.is_alive() {
            let _ = self.round_trip(Message::Stop, STOP_WAIT).await;
            if tokio::time::timeout(STOP_WAIT, self.child.wait())
                .await
                .is_err()
            {
                self.kill().await;
            }
        }
        self.kill().await;
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(cgroup) = self.cgroup.take() {
            // Removal waits for the kernel to finish killing; never block the caller on it.
            std::thread::spawn(move || cgroup.destroy());
        }
    }
}
