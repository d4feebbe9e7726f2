//! Function code on disk, unpacked once per code hash and shared by every instance.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nova_api::FunctionSpec;

pub struct CodeCache {
    root: PathBuf,
}

impl CodeCache {
    pub fn new(root: PathBuf) -> std::io::Result<CodeCache> {
        std::fs::create_dir_all(&root)?;
        Ok(CodeCache { root })
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
        tokio::task::spawn_blocking(move || write_atomically(&dir, &target, &code))
            .await
            .map_err(std::io::Error::other)??;
        Ok(path)
    }
}

fn write_atomically(
    dir: &std::path::Path,
    target: &std::path::Path,
    code: &[u8],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(code)?;
    tmp.as_file().sync_all()?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
