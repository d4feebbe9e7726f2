//! The managed block: the lines this tool owns inside a file that is otherwise the user's
//! (`/etc/hosts`, `authorized_keys`). Everything outside the markers is kept byte for byte; the
//! file is replaced atomically (write beside, then rename) and only when its content changes.

use std::io::Write;
use std::path::Path;

/// The markers around the block named `name`.
fn markers(name: &str) -> (String, String) {
    (
        format!("# BEGIN comet-guest {name} (managed: edits inside are replaced)"),
        format!("# END comet-guest {name}"),
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    #[error(
        "a '# BEGIN comet-guest {0}' line has no matching END line after it: fix the file by hand \
         (nothing was written, so no line of yours is lost)"
    )]
    Unterminated(String),
}

/// `original` with the block `name` holding exactly `lines` (appended when there was none). A
/// BEGIN without its END is refused: guessing where the block ends could eat the user's lines.
pub fn replace_block(original: &str, name: &str, lines: &[String]) -> Result<String, BlockError> {
    let (begin, end) = markers(name);
    let all: Vec<&str> = original.split_inclusive('\n').collect();
    let is = |line: &str, marker: &str| line.trim_end() == marker;
    let span = match all.iter().position(|l| is(l, &begin)) {
        Some(start) => match all[start + 1..].iter().position(|l| is(l, &end)) {
            Some(len) => Some((start, start + 1 + len)),
            None => return Err(BlockError::Unterminated(name.to_string())),
        },
        None => None,
    };
    let mut block = format!("{begin}\n");
    for line in lines {
        block.push_str(line);
        block.push('\n');
    }
    block.push_str(&end);
    block.push('\n');
    let mut out = String::with_capacity(original.len() + block.len());
    match span {
        Some((start, stop)) => {
            all[..start].iter().for_each(|l| out.push_str(l));
            out.push_str(&block);
            all[stop + 1..].iter().for_each(|l| out.push_str(l));
        }
        None => {
            out.push_str(original);
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&block);
        }
    }
    Ok(out)
}

/// The lines of `text` outside the block `name` (to check what the user already has).
pub fn outside_block<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
    let (begin, end) = markers(name);
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        match line.trim_end() {
            l if !inside && l == begin => inside = true,
            l if inside && l == end => inside = false,
            _ if inside => {}
            _ => out.push(line),
        }
    }
    out
}

/// Rewrites the block in the file at `path`; returns whether the file changed.
///
/// The new content goes to a fresh temporary file beside it (random name, created exclusively,
/// so a symlink planted there cannot redirect the write), takes the original's mode and owner,
/// is synced, then renamed over the original.
pub fn update_file(path: &Path, name: &str, lines: &[String]) -> anyhow::Result<bool> {
    let original = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let updated = replace_block(&original, name, lines)?;
    if updated == original {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".comet-guest-")
        .tempfile_in(dir)?;
    temp.write_all(updated.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        temp.as_file().set_permissions(meta.permissions())?;
        std::os::unix::fs::fchown(temp.as_file(), Some(meta.uid()), Some(meta.gid()))?;
    }
    temp.as_file().sync_all()?;
    temp.persist(path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn appends_then_replaces_in_place_keeping_every_other_line() {
        let user = "127.0.0.1 localhost\n# my note\n10.0.0.9 mine\n";
        let first = replace_block(user, "hostsall", &lines(&["10.1.0.1 vm1"])).unwrap();
        assert!(first.starts_with(user), "{first}");
        assert!(first.contains("10.1.0.1 vm1\n# END comet-guest hostsall\n"));
        // The user adds a line after the block; the next round keeps it and the block's place.
        let edited = format!("{first}10.0.0.10 added-later\n");
        let vm23 = lines(&["10.1.0.2 vm2", "10.1.0.3 vm3"]);
        let second = replace_block(&edited, "hostsall", &vm23).unwrap();
        assert!(second.starts_with(user));
        assert!(second.ends_with("# END comet-guest hostsall\n10.0.0.10 added-later\n"));
        assert!(!second.contains("vm1"));
        assert_eq!(replace_block(&second, "hostsall", &vm23).unwrap(), second);
        assert_eq!(outside_block(&second, "hostsall").len(), 4);
    }

    #[test]
    fn two_blocks_live_side_by_side_and_a_missing_newline_is_kept_apart() {
        let a = replace_block("no newline at end", "hostsa", &lines(&["1"])).unwrap();
        assert!(a.starts_with("no newline at end\n# BEGIN"));
        let b = replace_block(&a, "hostsb", &lines(&["2"])).unwrap();
        let again = replace_block(&b, "hostsa", &lines(&["3"])).unwrap();
        assert!(again.contains("hostsa (managed: edits inside are replaced)\n3\n"));
        assert!(again.contains("hostsb (managed: edits inside are replaced)\n2\n"));
    }

    #[test]
    fn a_damaged_block_is_refused_and_trailing_spaces_are_forgiven() {
        let first = replace_block("a\n", "hostsall", &lines(&["x"])).unwrap();
        let spaced = first.replace("# END comet-guest hostsall", "# END comet-guest hostsall  ");
        let fixed = replace_block(&format!("{spaced}user line\n"), "hostsall", &lines(&["y"]));
        assert!(
            fixed
                .unwrap()
                .ends_with("y\n# END comet-guest hostsall\nuser line\n")
        );
        let broken = first.replace("# END comet-guest hostsall\n", "") + "printer\nnas\n";
        assert_eq!(
            replace_block(&broken, "hostsall", &lines(&["y"])),
            Err(BlockError::Unterminated("hostsall".into()))
        );
    }

    #[test]
    fn a_symlink_planted_beside_the_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = dir.path().join("hosts");
        for name in [".hosts.comet-guest.tmp", ".comet-guest-hosts"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        assert!(update_file(&path, "hostsall", &lines(&["10.0.0.1 vm1"])).unwrap());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(std::fs::read_to_string(&path).unwrap().contains("vm1"));
    }

    #[test]
    fn the_file_is_replaced_only_on_change_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        std::fs::write(&path, "ssh-ed25519 AAAA user@laptop\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(update_file(&path, "pubkeysall", &lines(&["ssh-rsa BBBB root@vm1"])).unwrap());
        assert!(!update_file(&path, "pubkeysall", &lines(&["ssh-rsa BBBB root@vm1"])).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("ssh-ed25519 AAAA user@laptop\n"));
    }
}
