//! Becoming the unprivileged sandbox user, and resource limits.

use comet_protocol::Rlimits;

use super::sys::check;

/// Drops every group and capability: after this the process is `uid:gid` and nothing more.
pub fn drop_to(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: these calls change credentials only; the null pointer with size 0 clears the groups.
    unsafe {
        check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
        check(libc::setresgid(gid, gid, gid), "setresgid")?;
        check(libc::setresuid(uid, uid, uid), "setresuid")?;
        check(
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
            "no_new_privs",
        )?;
    }
    Ok(())
}

pub fn set_rlimits(limits: &Rlimits) -> Result<(), String> {
    set(libc::RLIMIT_CORE, 0, "RLIMIT_CORE")?;
    if limits.nofile > 0 {
        set(libc::RLIMIT_NOFILE, limits.nofile, "RLIMIT_NOFILE")?;
    }
    if limits.data_mb > 0 {
        set(
            libc::RLIMIT_DATA,
            limits.data_mb * 1024 * 1024,
            "RLIMIT_DATA",
        )?;
    }
    if limits.nproc > 0 {
        set(libc::RLIMIT_NPROC, limits.nproc, "RLIMIT_NPROC")?;
    }
    Ok(())
}

fn set(resource: libc::__rlimit_resource_t, value: u64, name: &str) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct we pass.
    check(unsafe { libc::setrlimit(resource, &limit) }, name)
}
