//! A real `nova daemon` child process for the benchmark to drive.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

pub struct Daemon {
    child: Child,
    pub url: String,
    _data: tempfile::TempDir,
}

impl Daemon {
    pub fn start(nova: &Path) -> Result<Daemon> {
        Daemon::start_with(nova, "auto")
    }

    /// A daemon with the given isolation mode (`auto`, `off`).
    pub fn start_with(nova: &Path, isolation: &str) -> Result<Daemon> {
        Daemon::start_configured(nova, isolation, "")
    }

    /// A daemon reading `config` (YAML) as its nova.yaml.
    pub fn start_configured(nova: &Path, isolation: &str, config: &str) -> Result<Daemon> {
        let data = tempfile::tempdir()?;
        let config_file = data.path().join("nova.yaml");
        std::fs::write(&config_file, config)?;
        let mut child = Command::new(nova)
            .args([
                "daemon",
                "--http",
                "127.0.0.1:0",
                "--idle-ttl",
                "10m",
                "--config",
            ])
            .arg(&config_file)
            .env("NOVA_DATA_DIR", data.path())
            .env("NOVA_ISOLATION", isolation)
            .env("NOVA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", nova.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("Nova daemon listening on ") else {
            bail!("nova daemon did not start: {line:?}");
        };
        Ok(Daemon {
            url: url.to_string(),
            child,
            _data: data,
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM (kill's default) so the daemon stops its instances on the way out.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// `nova` beside this executable, as `cargo build --release --workspace` leaves it.
pub fn find_nova(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let nova = exe.with_file_name("nova");
    if nova.is_file() {
        Ok(nova)
    } else {
        bail!(
            "nova not found beside {}: build the workspace or pass --nova",
            exe.display()
        )
    }
}
