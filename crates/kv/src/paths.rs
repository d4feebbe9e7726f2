//! Admin routes name directories under a configured base path (`{dir}` of checkpoint and
//! ingest). A name that would leave its base is refused: `..`, an absolute path, a separator, or a
//! symlink that resolves outside the base. So is a name too long to be a file name (it would
//! fail deep in RocksDB as a 500).

use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Longest `{dir}` name, in bytes: file names stop at 255 on the usual file systems, and a
/// checkpoint is first written to `<name>.tmp`.
pub const MAX_NAME: usize = 200;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("'{0}' is not a plain directory name under the configured base path")]
    NotPlain(String),
    #[error("'{0}' leads outside the configured base path")]
    Escapes(String),
    #[error("'{0}' does not exist under the configured base path")]
    Missing(String),
    #[error("a directory name may be at most {MAX_NAME} bytes, not {0}")]
    TooLong(usize),
}

/// `base/name` for a name that is one normal path component and, if it exists, resolves inside
/// `base` (symlinks followed).
pub fn under(base: &Path, name: &str) -> Result<PathBuf, PathError> {
    let mut components = Path::new(name).components();
    let plain = matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    ) && !name.contains(['/', '\\', '\0']);
    if !plain {
        return Err(PathError::NotPlain(name.into()));
    }
    if name.len() > MAX_NAME {
        return Err(PathError::TooLong(name.len()));
    }
    let path = base.join(name);
    if path.symlink_metadata().is_ok() {
        let base = base
            .canonicalize()
            .map_err(|_| PathError::Missing(base.display().to_string()))?;
        let real = path
            .canonicalize()
            .map_err(|_| PathError::Escapes(name.into()))?;
        if !real.starts_with(&base) {
            return Err(PathError::Escapes(name.into()));
        }
    }
    Ok(path)
}

/// Like [`under`], for a directory that must exist.
pub fn existing_under(base: &Path, name: &str) -> Result<PathBuf, PathError> {
    let path = under(base, name)?;
    if !path.is_dir() {
        return Err(PathError::Missing(name.into()));
    }
    Ok(path)
}

/// True when `file` resolves inside `base` (a symlinked file inside an ingest dir may not point
/// out of it).
pub fn resolves_inside(base: &Path, file: &Path) -> bool {
    match (base.canonicalize(), file.canonicalize()) {
        (Ok(base), Ok(file)) => file.starts_with(base),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_inside_the_base() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("ok")).unwrap();
        std::os::unix::fs::symlink(outside.path(), base.path().join("out")).unwrap();
        assert_eq!(
            existing_under(base.path(), "ok").unwrap(),
            base.path().join("ok")
        );
        assert_eq!(under(base.path(), "new").unwrap(), base.path().join("new"));
        for bad in ["..", ".", "", "/etc", "a/b", "../x", "a\\b"] {
            assert!(
                matches!(under(base.path(), bad), Err(PathError::NotPlain(_))),
                "{bad}"
            );
        }
        assert_eq!(
            under(base.path(), "out"),
            Err(PathError::Escapes("out".into()))
        );
        assert_eq!(
            existing_under(base.path(), "absent"),
            Err(PathError::Missing("absent".into()))
        );
        let long = "d".repeat(MAX_NAME + 1);
        assert_eq!(
            under(base.path(), &long),
            Err(PathError::TooLong(MAX_NAME + 1))
        );
        assert!(under(base.path(), &long[1..]).is_ok());
    }
}
