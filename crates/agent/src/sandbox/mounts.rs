//! The instance's filesystem: a read-only skeleton holding only what the runtime needs.
//!
//! ```text
//! /             tmpfs, read-only once built
//! /usr /lib …   the host's, read-only (symlinks recreated as symlinks)
//! /etc          a few host files read-only, plus passwd and group written for the sandbox user
//! /code         the function's code, read-only
//! /tmp          private tmpfs, size-capped, the only writable place (with /dev/shm)
//! /dev          null, zero, full, random, urandom, tty; /dev/shm
//! /proc         this PID namespace's
//! ```
//! The data directory, other functions' code, `/root` and the daemon's sockets are simply not
//! there.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use comet_protocol::NamespaceSpec;

use super::sys::{Errno, check, cstr};

const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

pub fn build_root(ns: &NamespaceSpec) -> Result<(), String> {
    // Nothing we mount from here on propagates back to the host.
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    let root = PathBuf::from(&ns.root_dir);
    mount(
        Some("tmpfs"),
        &ns.root_dir,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=1m,mode=0755"),
    )?;
    for path in &ns.read_only {
        expose(&root, Path::new(path), true)?;
    }
    mkdir(&root.join("etc"))?;
    for name in &ns.etc {
        expose(&root, &Path::new("/etc").join(name), false)?;
    }
    write_identity(&root, ns.uid, ns.gid)?;
    let code = root.join("code");
    mkdir(&code)?;
    bind_read_only(&ns.code_dir, &code, libc::MS_NOSUID | libc::MS_NODEV)?;
    let tmp = root.join("tmp");
    mkdir(&tmp)?;
    let tmp_opts = format!("size={}m,mode=1777", ns.tmp_size_mb.max(1));
    mount(
        Some("tmpfs"),
        &path_str(&tmp)?,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&tmp_opts),
    )?;
    build_dev(&root, ns.tmp_size_mb)?;
    let proc_dir = root.join("proc");
    mkdir(&proc_dir)?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        Some("proc"),
        &path_str(&proc_dir)?,
        Some("proc"),
        flags,
        None,
    )?;
    pivot_into(&root)?;
    // The skeleton becomes read-only: writes outside /tmp fail with EROFS.
    mount(
        None,
        "/",
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )?;
    std::env::set_current_dir("/tmp").map_err(|e| format!("chdir /tmp: {e}"))
}

/// Makes host `path` visible at the same place under `root`, read-only.
fn expose(root: &Path, path: &Path, required: bool) -> Result<(), String> {
    let target = root.join(path.strip_prefix("/").unwrap_or(path));
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) if !required => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if let Some(parent) = target.parent() {
        mkdir(parent)?;
    }
    if meta.file_type().is_symlink() {
        let link = std::fs::read_link(path).map_err(|e| format!("{}: {e}", path.display()))?;
        return symlink(&link, &target).map_err(|e| format!("symlink {}: {e}", target.display()));
    }
    if meta.is_dir() {
        mkdir(&target)?;
    } else {
        std::fs::write(&target, b"").map_err(|e| format!("{}: {e}", target.display()))?;
    }
    bind_read_only(&path_str(path)?, &target, libc::MS_NOSUID)
}

fn bind_read_only(source: &str, target: &Path, extra: libc::c_ulong) -> Result<(), String> {
    let target = path_str(target)?;
    mount(
        Some(source),
        &target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    // A bind mount takes the read-only flag only on a remount.
    mount(
        None,
        &target,
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | extra,
        None,
    )
}

fn build_dev(root: &Path, shm_mb: u32) -> Result<(), String> {
    let dev = root.join("dev");
    mkdir(&dev)?;
    mount(
        Some("tmpfs"),
        &path_str(&dev)?,
        Some("tmpfs"),
        libc::MS_NOSUID,
        Some("size=64k,mode=0755"),
    )?;
    for name in DEVICES {
        let host = format!("/dev/{name}");
        if !Path::new(&host).exists() {
            continue;
        }
        let node = dev.join(name);
        std::fs::write(&node, b"").map_err(|e| format!("{}: {e}", node.display()))?;
        let node = path_str(&node)?;
        mount(Some(&host), &node, None, libc::MS_BIND, None)?;
        mount(
            None,
            &node,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NOEXEC,
            None,
        )?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name)).map_err(|e| format!("/dev/{name}: {e}"))?;
    }
    let shm = dev.join("shm");
    mkdir(&shm)?;
    let opts = format!("size={}m,mode=1777", shm_mb.max(1));
    mount(
        Some("tmpfs"),
        &path_str(&shm)?,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&opts),
    )
}

/// `/etc/passwd` and `/etc/group` that name the sandbox user, so tools that look it up work.
fn write_identity(root: &Path, uid: u32, gid: u32) -> Result<(), String> {
    let etc = root.join("etc");
    let passwd = format!(
        "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnova:x:{uid}:{gid}:nova function:/tmp:/usr/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnova:x:{gid}:\n");
    for (name, body) in [("passwd", passwd), ("group", group)] {
        let path = etc.join(name);
        if path.exists() {
            continue;
        }
        std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Makes `root` the root of this mount namespace and detaches the host's.
fn pivot_into(root: &Path) -> Result<(), String> {
    let old = root.join(".host");
    mkdir(&old)?;
    let (new_root, put_old) = (cstr(&path_str(root)?)?, cstr(&path_str(&old)?)?);
    // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    check(r as i32, "pivot_root")?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let old = cstr("/.host")?;
    // SAFETY: a valid path; MNT_DETACH unmounts lazily, so busy host mounts are no obstacle.
    check(
        unsafe { libc::umount2(old.as_ptr(), libc::MNT_DETACH) },
        "umount old root",
    )?;
    let _ = std::fs::remove_dir("/.host");
    Ok(())
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let source_c = source.map(cstr).transpose()?;
    let target_c = cstr(target)?;
    let fstype_c = fstype.map(cstr).transpose()?;
    let data_c = data.map(cstr).transpose()?;
    let ptr = |c: &Option<std::ffi::CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            ptr(&source_c),
            target_c.as_ptr(),
            ptr(&fstype_c),
            flags,
            ptr(&data_c).cast(),
        )
    };
    if r < 0 {
        return Err(format!(
            "mount {} on {target}: {}",
            source.unwrap_or("-"),
            Errno::last()
        ));
    }
    Ok(())
}

fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))
}

fn path_str(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}
