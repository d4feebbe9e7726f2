//! Function code on disk, unpacked once per code hash and shared by every instance.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use nova_api::FunctionSpec;

/// Code is readable by its owner (the daemon) and, when handlers run as an unprivileged user
/// inside namespaces, by that user's group: nobody else. The cache directory itself is the
/// owner's alone; an instance sees only its own code directory, bind-mounted at `/code`.
pub struct CodeCache {
    root: PathBuf,
    /// The group handlers run as, when they run as another user than the daemon.
    group: Option<u32>,
}

impl CodeCache {
    pub fn new(root: PathBuf, group: Option<u32>) -> std::io::Result<CodeCache> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)?;
        Ok(CodeCache { root, group })
    }

    /// The path of the spec's code file, writing it first if this hash was never seen.
    /// Written to a temporary name and renamed, so a reader never sees half a file.
    pub async fn materialize(&self, spec: &FunctionSpec) -> std::io::Result<PathBuf> {
        if !is_hex(&spec.code_hash) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("code hash '{}' is not hex", spec.code_hash),
            ));
        }
        let dir = self.root.join(&spec.code_hash);
        let path = dir.join("handler");
        if tokio::fs::try_exists(&path).await? {
            return Ok(path);
        }
        let code = spec.code.clone();
        let target = path.clone();
        let group = self.group;
        tokio::task::spawn_blocking(move || write_atomically(&dir, &target, &code, group))
            .await
            .map_err(std::io::Error::other)??;
        Ok(path)
    }
}

fn write_atomically(
    dir: &std::path::Path,
    target: &std::path::Path,
    code: &[u8],
    group: Option<u32>,
) -> std::io::Result<()> {
    // Owner and the handlers' group: read and execute (native handlers run the file itself).
    let (dir_mode, file_mode) = match group {
        Some(_) => (0o750, 0o750),
        None => (0o700, 0o700),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(dir_mode)
        .create(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(code)?;
    tmp.as_file().sync_all()?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(dir, None, Some(gid))?;
        std::os::unix::fs::fchown(tmp.as_file(), None, Some(gid))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode))?;
    }
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(file_mode))?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
