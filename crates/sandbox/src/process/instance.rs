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

use crate::backend::{Instance, SandboxError};

/// The descriptor number the agent finds its end of the socket pair on.
const AGENT_FD: i32 = 3;
/// Extra time the host allows beyond the handler's timeout before declaring the agent stuck.
const HOST_GRACE: Duration = Duration::from_secs(2);
/// How long a stopping agent gets to answer and exit before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(1);

pub struct ProcessInstance {
    id: String,
    dir: PathBuf,
    child: Child,
    conn: UnixStream,
    alive: bool,
}

impl ProcessInstance {
    pub(super) async fn start(
        id: String,
        dir: PathBuf,
        agent: &Path,
        spec: &FunctionSpec,
        command: Vec<String>,
        code_path: &Path,
    ) -> Result<ProcessInstance, SandboxError> {
        let tmp = dir.join("tmp");
        tokio::fs::create_dir_all(&tmp).await?;
        let (host_end, agent_end) = StdUnixStream::pair()?;
        let child = spawn_agent(agent, &tmp, agent_end)?;
        host_end.set_nonblocking(true)?;
        let mut instance = ProcessInstance {
            id,
            dir,
            child,
            conn: UnixStream::from_std(host_end)?,
            alive: true,
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
            code_dir: code_path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        };
        let limit = Duration::from_secs(u64::from(spec.timeout_s)) + HOST_GRACE;
        let reply = match instance.round_trip(Message::Init(init), limit).await {
            Ok(reply) => reply,
            Err(e) => {
                instance.kill().await;
                return Err(e);
            }
        };
        if let Some(error) = reply.error {
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

    async fn kill(&mut self) {
        self.alive = false;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Starts the agent with its end of the socket pair as descriptor 3.
fn spawn_agent(agent: &Path, tmp: &Path, agent_end: StdUnixStream) -> Result<Child, SandboxError> {
    let fd = agent_end.as_raw_fd();
    let mut cmd = Command::new(agent);
    cmd.args(["--fd", &AGENT_FD.to_string()])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TMPDIR", tmp)
        .current_dir(tmp)
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
        self.round_trip(Message::Exec(exec), timeout + HOST_GRACE)
            .await
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
        } else {
            self.kill().await;
        }
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
