//! Running the handler: once per invocation ([`oneshot`]) or as a long-lived process
//! ([`persistent`]). [`Runner`] picks one from the Init frame and owns what it needs.

mod oneshot;
mod persistent;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use comet_protocol::{ExecPayload, InitPayload, Mode, RespPayload, Runtime};
use serde_json::json;

use persistent::Persistent;

/// The Python bootstrap that calls `handler(event[, context])` (see the file for its protocol).
const PYTHON_BOOTSTRAP: &str = include_str!("bootstrap.py");

/// Timeout used when neither Init nor Exec names one.
const DEFAULT_TIMEOUT_S: u32 = 30;

/// A started function: its settings, its environment and how it runs.
pub struct Runner {
    init: InitPayload,
    /// Environment shared by every invocation (per-call variables are added on top).
    env: Vec<(String, String)>,
    /// Directory for input files and the handler's temporary files.
    tmp_dir: PathBuf,
    kind: Kind,
}

enum Kind {
    /// Run `command` plus the input file once per invocation.
    Process { command: Vec<String> },
    /// One handler process fed a JSON line per invocation; restarted after it dies.
    Persistent {
        command: Vec<String>,
        handshake: bool,
        process: Option<Persistent>,
    },
}

impl Runner {
    /// Validates Init and, in persistent mode, starts the handler and waits until it is ready.
    pub fn start(init: InitPayload) -> Result<Runner, String> {
        if init.command.is_empty() || init.command[0].is_empty() {
            return Err("Init has no command to run".to_string());
        }
        let tmp_dir = std::env::temp_dir();
        let env = base_env(&init, &tmp_dir);
        let python = init.runtime == Runtime::Python;
        let kind = match init.mode {
            Mode::Process => Kind::Process {
                command: process_command(&init, python)?,
            },
            Mode::Persistent => Kind::Persistent {
                command: persistent_command(&init, python)?,
                handshake: python,
                process: None,
            },
        };
        let mut runner = Runner {
            init,
            env,
            tmp_dir,
            kind,
        };
        runner.ensure_started()?;
        Ok(runner)
    }

    /// Runs one invocation and builds its Resp. Failures of the handler are answers, not errors.
    pub fn exec(&mut self, exec: &ExecPayload) -> RespPayload {
        let started = Instant::now();
        let timeout = Duration::from_secs(u64::from(match exec.timeout_s {
            0 => init_timeout(&self.init),
            t => t,
        }));
        let mut resp = match &mut self.kind {
            Kind::Process { command } => {
                let env = with_request(&self.env, &exec.request_id);
                oneshot::run(command, &exec.input, &env, &self.tmp_dir, timeout)
            }
            Kind::Persistent { .. } => self.exec_persistent(exec, timeout),
        };
        let elapsed = started.elapsed();
        resp.request_id = exec.request_id.clone();
        resp.duration_ms = elapsed.as_millis() as u64;
        resp.duration_us = elapsed.as_micros() as u64;
        resp
    }

    fn exec_persistent(&mut self, exec: &ExecPayload, timeout: Duration) -> RespPayload {
        if let Err(e) = self.ensure_started() {
            return RespPayload::error(&exec.request_id, e);
        }
        let context = json!({
            "request_id": exec.request_id,
            "function_name": self.init.function_name,
            "function_version": self.init.function_version,
            "memory_limit_mb": self.init.memory_mb,
            "timeout_s": timeout.as_secs(),
            "runtime": self.init.runtime,
        });
        let Kind::Persistent { process, .. } = &mut self.kind else {
            unreachable!("exec_persistent is only called in persistent mode");
        };
        let Some(handler) = process.as_mut() else {
            return RespPayload::error(&exec.request_id, "handler process is not running");
        };
        let resp = handler.call(&exec.input, &context, timeout);
        if !handler.is_alive() {
            // Dead or killed after a timeout: the next call (or prepare_next) starts a new one.
            *process = None;
        }
        resp
    }

    /// Called between invocations: restart a persistent handler that died, so the next call does
    /// not pay for it.
    pub fn prepare_next(&mut self) {
        let _ = self.ensure_started();
    }

    fn ensure_started(&mut self) -> Result<(), String> {
        let Kind::Persistent {
            command,
            handshake,
            process,
        } = &mut self.kind
        else {
            return Ok(());
        };
        if process.is_none() {
            let ready_timeout = Duration::from_secs(u64::from(init_timeout(&self.init)));
            *process = Some(Persistent::start(
                command,
                &self.env,
                &self.tmp_dir,
                *handshake,
                ready_timeout,
            )?);
        }
        Ok(())
    }

    /// Stops the handler process, if any.
    pub fn shutdown(self) {
        if let Kind::Persistent {
            process: Some(p), ..
        } = self.kind
        {
            p.kill();
        }
    }
}

/// Process mode: Python files without a `__main__` block go through the bootstrap, so a bare
/// `def handler(event)` works; everything else runs as the seed ran it, `<command> input.json`.
fn process_command(init: &InitPayload, python: bool) -> Result<Vec<String>, String> {
    if !python {
        return Ok(init.command.clone());
    }
    let code = python_code_path(init)?;
    let source = std::fs::read(code).map_err(|e| format!("cannot read {code}: {e}"))?;
    if contains(&source, b"__main__") {
        return Ok(init.command.clone());
    }
    let mut command = bootstrap_command(init, code);
    command.push("--once".to_string());
    Ok(command)
}

/// Persistent mode: Python handlers run under the bootstrap; native executables are started as
/// they are and must speak the JSON-lines protocol themselves.
fn persistent_command(init: &InitPayload, python: bool) -> Result<Vec<String>, String> {
    if !python {
        return Ok(init.command.clone());
    }
    let code = python_code_path(init)?;
    Ok(bootstrap_command(init, code))
}

/// `python3 -c <bootstrap> CODE MODULE.FUNCTION`.
fn bootstrap_command(init: &InitPayload, code: &str) -> Vec<String> {
    vec![
        init.command[0].clone(),
        "-c".to_string(),
        PYTHON_BOOTSTRAP.to_string(),
        code.to_string(),
        init.handler.clone(),
    ]
}

/// Python's command is `[interpreter, code file]`.
fn python_code_path(init: &InitPayload) -> Result<&str, String> {
    match init.command.as_slice() {
        [_, code] => Ok(code),
        _ => Err("a python command must be [interpreter, code file]".to_string()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The handler's environment: a clean base, the user's variables, then Nova's (which win).
fn base_env(init: &InitPayload, tmp_dir: &Path) -> Vec<(String, String)> {
    let tmp = tmp_dir.display().to_string();
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.push(("HOME".to_string(), tmp.clone()));
    env.push(("TMPDIR".to_string(), tmp));
    env.extend(init.env_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let nova = [
        ("NOVA_FUNCTION_NAME", init.function_name.clone()),
        ("NOVA_FUNCTION_VERSION", init.function_version.to_string()),
        ("NOVA_MEMORY_LIMIT_MB", init.memory_mb.to_string()),
        ("NOVA_TIMEOUT_S", init_timeout(init).to_string()),
        ("NOVA_RUNTIME", init.runtime.to_string()),
        ("NOVA_CODE_DIR", init.code_dir.clone()),
        ("NOVA_MODE", init.mode.to_string()),
    ];
    env.extend(nova.into_iter().map(|(k, v)| (k.to_string(), v)));
    env
}

fn init_timeout(init: &InitPayload) -> u32 {
    match init.timeout_s {
        0 => DEFAULT_TIMEOUT_S,
        t => t,
    }
}

fn with_request(env: &[(String, String)], request_id: &str) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    env.push(("NOVA_REQUEST_ID".to_string(), request_id.to_string()));
    env
}

/// A file name for an invocation's input that no request id can influence.
fn input_file(tmp_dir: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    tmp_dir.join(format!("nova-input-{}-{n}.json", std::process::id()))
}

/// Kills a handler and everything it started: each handler leads its own process group.
fn kill_group(pid: u32) {
    // SAFETY: kill has no memory effects; a stale or foreign pid fails with ESRCH or EPERM.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}
