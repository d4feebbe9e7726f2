//! Finding the programs an instance needs on the host, once, at start-up, when the binary's
//! settings (`COMET_AGENT`, `NOVA_PYTHON`, flags, files: the config layer's business) name none.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest agent binary: beside the running executable (or one level up, where test binaries
/// live), else `comet-agent` on `PATH`.
pub fn find_agent() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("comet-agent"), dir.parent()?.join("comet-agent")]
        .into_iter()
        .find(|p| p.is_file())
        .or_else(|| on_path("comet-agent"))
}

/// The Python interpreter, resolved to a real file once so that no per-call shim (pyenv's costs
/// ~200 ms a start) sits on the hot path: `/usr/bin/python3`, else whatever `python3` on `PATH`
/// reports as `sys.executable`.
pub fn find_python() -> Option<PathBuf> {
    let system = Path::new("/usr/bin/python3");
    if system.is_file() {
        return Some(system.to_path_buf());
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?;
    let path = PathBuf::from(path.trim());
    (out.status.success() && path.is_file()).then_some(path)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
