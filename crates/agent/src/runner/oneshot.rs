//! Process mode: a fresh handler process per invocation, `<command> <input file>`.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use comet_protocol::RespPayload;
use serde_json::value::RawValue;

use super::{input_file, kill_group};
use crate::capture::{self, Captured, Keep};
use comet_protocol::contract::{self as output, MAX_LOG, MAX_OUTPUT};

/// How long to wait for output pipes after the handler exits (a straggler may hold them open).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

pub fn run(
    command: &[String],
    input: &RawValue,
    env: &[(String, String)],
    tmp_dir: &Path,
    timeout: Duration,
) -> RespPayload {
    let input_path = input_file(tmp_dir);
    if let Err(e) = std::fs::write(&input_path, input.get()) {
        return RespPayload::error("", format!("cannot write the input file: {e}"));
    }
    let resp = spawn_and_wait(command, &input_path, env, tmp_dir, timeout);
    let _ = std::fs::remove_file(&input_path);
    resp
}

fn spawn_and_wait(
    command: &[String],
    input_path: &Path,
    env: &[(String, String)],
    tmp_dir: &Path,
    timeout: Duration,
) -> RespPayload {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..])
        .arg(input_path)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(tmp_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return RespPayload::error("", format!("cannot start {}: {e}", command[0])),
    };
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(pid);
        return RespPayload::error("", "handler pipes were not created");
    };
    let stdout = capture::spawn(stdout, MAX_OUTPUT + 1, Keep::Head);
    let stderr = capture::spawn(stderr, MAX_LOG, Keep::Tail);
    let (tx, exited) = mpsc::sync_channel(1);
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match exited.recv_timeout(timeout) {
        Ok(status) => status.ok(),
        Err(RecvTimeoutError::Timeout) => {
            kill_group(pid);
            let _ = exited.recv();
            let stderr = stderr.recv_timeout(DRAIN_GRACE).unwrap_or_default();
            let mut resp = RespPayload::error(
                "",
                format!(
                    "handler timed out after {} s and was killed",
                    timeout.as_secs()
                ),
            );
            resp.timed_out = true;
            resp.stderr = stderr.lossy();
            return resp;
        }
        Err(RecvTimeoutError::Disconnected) => None,
    };
    // Anything the handler left running in its group goes with it.
    kill_group(pid);
    let stdout = stdout.recv_timeout(DRAIN_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(DRAIN_GRACE).unwrap_or_default();
    respond(status, stdout, stderr)
}

fn respond(status: Option<ExitStatus>, stdout: Captured, stderr: Captured) -> RespPayload {
    let mut resp = RespPayload {
        stderr: stderr.lossy(),
        ..RespPayload::default()
    };
    let success = status.is_some_and(|s| s.success());
    if !success {
        resp.error = Some(describe_failure(status, &resp.stderr));
        resp.stdout = output::tail(&stdout.lossy(), MAX_LOG);
        return resp;
    }
    if stdout.overflowed() {
        resp.error = Some(format!(
            "handler output of {} bytes exceeds the {MAX_OUTPUT}-byte limit",
            stdout.total
        ));
        return resp;
    }
    match output::parse_stdout(&stdout.lossy()) {
        Ok(parsed) => {
            resp.output = Some(parsed.output);
            resp.stdout = parsed.logs;
        }
        Err(e) => resp.error = Some(e),
    }
    resp
}

fn describe_failure(status: Option<ExitStatus>, stderr: &str) -> String {
    let how = match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("handler exited with status {code}"),
            (None, Some(sig)) => format!("handler was killed by signal {sig}"),
            _ => "handler failed".to_string(),
        },
        None => "handler could not be waited for".to_string(),
    };
    match stderr.trim().lines().last() {
        Some(last) => format!("{how}: {}", output::preview(last, 300)),
        None => how,
    }
}
