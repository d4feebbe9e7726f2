//! Confinement, applied by the agent to itself before it serves (the host only describes it, in
//! a [`SandboxSpec`]).
//!
//! With namespaces the process tree is:
//!
//! ```text
//! host ── agent (outer: joins the cgroups, unshares, waits; exits with the inner status)
//!           └── init, PID 1 of the new PID namespace (builds the root, reaps orphans)
//!                 └── agent, PID 2 (drops to the sandbox user, seccomp, serves frames)
//!                       └── handlers
//! ```
//!
//! Killing the outer process takes everything down: init dies with its parent
//! (`PR_SET_PDEATHSIG`), and the kernel kills a PID namespace whose init is gone. Written on `libc`
//! directly: the work is a dozen system calls whose order matters (fork only while
//! single-threaded), which a container runtime library would hide behind an OCI bundle.

mod mounts;
mod net;
mod privileges;
mod seccomp;
mod sys;

use comet_protocol::SandboxSpec;

use sys::{Errno, check};

/// Applies `spec`. Returns only in the process that goes on to serve; the others exit here.
/// Must run while the agent is single-threaded (before any handler starts).
pub fn enter(spec: &SandboxSpec, socket_fd: i32) -> Result<(), String> {
    privileges::set_rlimits(&spec.rlimits)?;
    if let Some(ns) = &spec.namespaces {
        enter_namespaces(ns, socket_fd)?;
        privileges::drop_to(ns.uid, ns.gid)?;
        // SAFETY: still single-threaded, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("TMPDIR", "/tmp") };
    }
    if spec.seccomp {
        seccomp::install()?;
    }
    Ok(())
}

/// Moves this process into a cgroup; everything it starts afterwards is born inside.
pub fn join_cgroup(procs: &str) -> Result<(), String> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    std::fs::write(procs, pid.to_string()).map_err(|e| format!("cannot join cgroup {procs}: {e}"))
}

fn enter_namespaces(ns: &comet_protocol::NamespaceSpec, socket_fd: i32) -> Result<(), String> {
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if ns.isolate_network {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: unshare only changes this process's namespaces; nothing else runs in it yet.
    check(unsafe { libc::unshare(flags) }, "unshare")?;
    // The outer process stays in the host's PID namespace; its child is PID 1 of the new one.
    // PID 1 sees no parent (getppid is 0), so a pipe tells it whether the outer is still there:
    // the outer holds the write end, and the kernel closes it if the outer dies.
    let (alive_read, alive_write) = pipe()?;
    if let Some(child) = fork()? {
        close(socket_fd);
        close(alive_read);
        std::process::exit(wait_for(child));
    }
    close(alive_write);
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) },
        "prctl",
    )?;
    if hung_up(alive_read) {
        std::process::exit(1);
    }
    close(alive_read);
    mounts::build_root(ns)?;
    set_hostname(&ns.hostname)?;
    if ns.isolate_network {
        net::loopback_up()?;
    }
    // PID 1 only reaps; the agent proper is PID 2, so orphans never land on it.
    if let Some(agent) = fork()? {
        close(socket_fd);
        init_loop(agent);
    }
    die_with_parent()?;
    Ok(())
}

/// PID 1: reap every child; leave when the agent does, with its status.
fn init_loop(agent: libc::pid_t) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == agent || (pid < 0 && Errno::last().0 == libc::ECHILD) {
            std::process::exit(exit_code(status));
        }
    }
}

fn fork() -> Result<Option<libc::pid_t>, String> {
    // SAFETY: the agent is single-threaded until it serves, so the child is a complete copy.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(format!("fork: {}", Errno::last())),
        0 => Ok(None),
        child => Ok(Some(child)),
    }
}

/// Asks for SIGKILL when the parent (PID 1) dies, and checks it did not already.
fn die_with_parent() -> Result<(), String> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    check(
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) },
        "prctl",
    )?;
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != 1 {
        std::process::exit(1);
    }
    Ok(())
}

fn pipe() -> Result<(i32, i32), String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        "pipe",
    )?;
    Ok((fds[0], fds[1]))
}

/// Whether the other end of a pipe is closed (nothing is ever written to it).
fn hung_up(read_end: i32) -> bool {
    let mut fds = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes the one pollfd we pass.
    let ready = unsafe { libc::poll(&mut fds, 1, 0) };
    ready > 0 && fds.revents & libc::POLLHUP != 0
}

fn wait_for(child: libc::pid_t) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only to `status`.
        let r = unsafe { libc::waitpid(child, &mut status, 0) };
        if r == child {
            return exit_code(status);
        }
        if r < 0 && Errno::last().0 != libc::EINTR {
            return 1;
        }
    }
}

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

fn set_hostname(name: &str) -> Result<(), String> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    check(
        unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) },
        "sethostname",
    )
}

fn close(fd: i32) {
    // SAFETY: closing a descriptor we own; this process never uses it again.
    unsafe { libc::close(fd) };
}
