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

/// `original` with the block `name` holding exactly `lines` (appended when there was none).
pub fn replace_block(original: &str, name: &str, lines: &[String]) -> String {
    let (begin, end) = markers(name);
    let mut out = String::with_capacity(original.len() + lines.len() * 64);
    let mut block = String::new();
    block.push_str(&begin);
    block.push('\n');
    for line in lines {
        block.push_str(line);
        block.push('\n');
    }
    block.push_str(&end);
    block.push('\n');

    let mut inside = false;
    let mut placed = false;
    for line in original.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if !inside && bare == begin {
            inside = true;
            if !placed {
                out.push_str(&block);
                placed = true;
            }
            continue;
        }
        if inside {
            if bare == end {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    if !placed {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&block);
    }
    out
}

/// Rewrites the block in the file at `path`; returns whether the file changed.
pub fn update_file(path: &Path, name: &str, lines: &[String]) -> std::io::Result<bool> {
    let original = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let updated = replace_block(&original, name, lines);
    if updated == original {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{file_name}.comet-guest.tmp"));
    {
        let mut out = std::fs::File::create(&temp)?;
        out.write_all(updated.as_bytes())?;
        out.sync_all()?;
    }
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&temp, meta.permissions())?;
    }
    std::fs::rename(&temp, path)?;
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
        let first = replace_block(user, "hostsall", &lines(&["10.1.0.1 vm1"]));
        assert!(first.starts_with(user), "{first}");
        assert!(first.contains("10.1.0.1 vm1\n# END comet-guest hostsall\n"));
        // The user adds a line after the block; the next round keeps it and the block's place.
        let edited = format!("{first}10.0.0.10 added-later\n");
        let second = replace_block(
            &edited,
            "hostsall",
            &lines(&["10.1.0.2 vm2", "10.1.0.3 vm3"]),
        );
        assert!(second.starts_with(user));
        assert!(second.ends_with("# END comet-guest hostsall\n10.0.0.10 added-later\n"));
        assert!(!second.contains("vm1"));
        assert_eq!(
            replace_block(
                &second,
                "hostsall",
                &lines(&["10.1.0.2 vm2", "10.1.0.3 vm3"])
            ),
            second
        );
    }

    #[test]
    fn two_blocks_live_side_by_side_and_a_missing_newline_is_kept_apart() {
        let a = replace_block("no newline at end", "hostsa", &lines(&["1"]));
        assert!(a.starts_with("no newline at end\n# BEGIN"));
        let b = replace_block(&a, "hostsb", &lines(&["2"]));
        let again = replace_block(&b, "hostsa", &lines(&["3"]));
        assert!(again.contains("hostsa (managed: edits inside are replaced)\n3\n"));
        assert!(again.contains("hostsb (managed: edits inside are replaced)\n2\n"));
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
