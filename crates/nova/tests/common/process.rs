//! The `nova` binary as a child process: a daemon on a free loopback port, and CLI runs against
//! it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::examples;

pub const NOVA: &str = env!("CARGO_BIN_EXE_nova");

/// The workspace's `comet` binary, built beside `nova`.
pub fn comet_binary() -> std::path::PathBuf {
    Path::new(NOVA).with_file_name("comet")
}

pub use comet_testkit::Worker;

/// A `comet daemon` worker with its gRPC service on a free loopback port.
pub fn start_worker(node_id: &str, extra: &[&str]) -> Worker {
    Worker::start(&comet_binary(), node_id, "127.0.0.1:0", extra).expect("start comet")
}

/// A `nova daemon` child process on a free loopback port.
pub struct Daemon {
    pub child: Child,
    pub url: String,
}

impl Daemon {
    pub fn start(data_dir: &Path) -> Daemon {
        Daemon::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Daemon {
        let mut child = Command::new(NOVA)
            .args(["daemon", "--http", "127.0.0.1:0", "--idle-ttl", "60s"])
            .args(extra)
            .env("NOVA_DATA_DIR", data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start daemon");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let url = line
            .trim()
            .strip_prefix("Nova daemon listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Daemon { child, url }
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill has no memory effects; the pid is our child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Env {
    pub data_dir: tempfile::TempDir,
    pub url: String,
}

impl Env {
    pub fn nova(&self, args: &[&str]) -> Output {
        Command::new(NOVA)
            .args(args)
            .env("NOVA_DATA_DIR", self.data_dir.path())
            .env("NOVA_URL", &self.url)
            .output()
            .expect("run nova")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.nova(args);
        assert!(
            out.status.success(),
            "nova {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn fails(&self, args: &[&str], message: &str) {
        let out = self.nova(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nova {args:?} succeeded");
        assert!(
            stderr.contains(message),
            "nova {args:?}: expected {message:?} in {stderr}"
        );
    }
}

pub fn example(path: &str) -> String {
    examples().join(path).display().to_string()
}

/// A daemon started with `extra` flags over a fresh data directory, and the CLI pointed at it.
pub fn daemon_and_cli(extra: &[&str]) -> (Daemon, Env) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with(data_dir.path(), extra);
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    (daemon, env)
}

impl Env {
    /// Registers the seed's hello.py as `name`.
    pub fn register_hello(&self, name: &str) -> String {
        self.ok(&[
            "register",
            name,
            "-r",
            "python",
            "-c",
            &example("python/hello.py"),
        ])
    }
}
