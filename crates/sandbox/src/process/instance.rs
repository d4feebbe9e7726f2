//! One instance: an agent process, the connection to it, and its cgroup.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use comet_protocol::async_io::{read_message, write_message};
use comet_protocol::{ExecPayload, InitPayload, Message, RespPayload, SandboxSpec};
use nova_api::FunctionSpec;
use serde_json::value::RawValue;
use tokio::net::UnixStream;
use tokio::process::Child;

use super::agent::AgentProcess;
use super::cgroup::InstanceCgroup;
use crate::backend::{Instance, SandboxError};

/// Extra time the host allows beyond the handler's timeout before declaring the agent stuck.
const HOST_GRACE: Duration = Duration::from_secs(2);
/// How long a stopping agent gets to answer and exit before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// What turns a started agent into an instance of one function.
pub struct Launch {
    pub id: String,
    pub command: Vec<String>,
    /// The code directory as the handler sees it.
    pub code_dir: PathBuf,
    pub sandbox: Option<SandboxSpec>,
    pub cgroup: Option<InstanceCgroup>,
}

pub struct ProcessInstance {
    id: String,
    dir: PathBuf,
    child: Child,
    conn: UnixStream,
    alive: bool,
    cgroup: Option<InstanceCgroup>,
    /// OOM kills seen in the cgroup so far; re-read only after a failed call, since reading it
    /// costs a visible share of a warm invocation.
    oom_seen: u64,
    memory_mb: u32,
}

impl ProcessInstance {
    /// Sends the first Init (with the sandbox to enter) and waits until the handler is ready.
    pub(super) async fn start(
        agent: AgentProcess,
        launch: Launch,
        spec: &FunctionSpec,
    ) -> Result<ProcessInstance, SandboxError> {
        let AgentProcess { child, conn, dir } = agent;
        let mut instance = ProcessInstance {
            id: launch.id,
            dir,
            child,
            conn,
            alive: true,
            cgroup: launch.cgroup,
            oom_seen: 0,
            memory_mb: spec.memory_mb,
        };
        let init = InitPayload {
            runtime: spec.runtime,
            handler: spec.handler.clone(),
            env_vars: spec.env_vars.clone(),
            command: launch.command,
            mode: spec.mode,
            function_name: spec.name.clone(),
            function_version: spec.version,
            memory_mb: spec.memory_mb,
            timeout_s: spec.timeout_s,
            code_dir: launch.code_dir.display().to_string(),
            sandbox: launch.sandbox,
        };
        let limit = Duration::from_secs(u64::from(spec.timeout_s)) + HOST_GRACE;
        instance.oom_seen = instance.oom_kills();
        let reply = instance.round_trip(Message::Init(init), limit).await;
        let error = match reply {
            Ok(reply) => reply.error,
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = error {
            let error = if instance.oom_fired() {
                instance.out_of_memory()
            } else {
                error
            };
            instance.kill().await;
            return Err(SandboxError::Init(error));
        }
        Ok(instance)
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

    /// Whether the OOM killer fired since the last look.
    fn oom_fired(&mut self) -> bool {
        let now = self.oom_kills();
        let fired = now > self.oom_seen;
        self.oom_seen = now;
        fired
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
        let result = self
            .round_trip(Message::Exec(exec), timeout + HOST_GRACE)
            .await;
        // A handler the OOM killer hit fails: successful calls need no look at the counter,
        // whose read costs a visible share of a warm call.
        let failed = result.as_ref().map_or(true, |r| r.error.is_some());
        if !failed || !self.oom_fired() {
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
