//! Starting `comet-agent` as a child process connected over a socket pair.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// The descriptor number the agent finds its end of the socket pair on.
const AGENT_FD: i32 = 3;

/// A running agent and the host's end of its connection.
pub struct AgentProcess {
    pub child: Child,
    pub conn: UnixStream,
    /// The instance directory: the agent's working directory and the home of its files.
    pub dir: PathBuf,
}

impl AgentProcess {
    /// Starts the agent in `dir`; it joins the cgroups whose `cgroup.procs` files are in `join`
    /// before it reads anything.
    pub fn spawn(agent: &Path, dir: PathBuf, join: &[String]) -> std::io::Result<AgentProcess> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::create_dir_all(dir.join("root"))?;
        let (host_end, agent_end) = StdUnixStream::pair()?;
        let fd = agent_end.as_raw_fd();
        let mut cmd = Command::new(agent);
        cmd.args(["--fd", &AGENT_FD.to_string()]);
        for procs in join {
            cmd.args(["--join", procs]);
        }
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            // Without namespaces the handler's temporary files stay in the instance directory;
            // inside them the agent switches to its private /tmp.
            .env("TMPDIR", dir.join("tmp"))
            .current_dir(&dir)
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
        let mut child = cmd.spawn()?;
        drop(agent_end);
        host_end.set_nonblocking(true)?;
        let label = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        drain_stderr(&mut child, label);
        Ok(AgentProcess {
            child,
            conn: UnixStream::from_std(host_end)?,
            dir,
        })
    }
}

/// Logs what the agent writes to stderr (the handler's crashes end up there too).
fn drain_stderr(child: &mut Child, label: String) {
    let Some(stderr) = child.stderr.take() else {
        return;
    };
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line: String = line.chars().take(1024).collect();
            tracing::debug!(instance = %label, "{line}");
        }
    });
}
