//! The network of an isolated instance: its own namespace with loopback up and nothing else.

use super::sys::{Errno, check};

pub fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain datagram socket used only for the interface ioctls below, then closed.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(format!("socket: {}", Errno::last()));
    }
    let result = set_up(sock);
    // SAFETY: `sock` is ours and not used after this.
    unsafe { libc::close(sock) };
    result
}

fn set_up(sock: i32) -> Result<(), String> {
    // SAFETY: ifreq is plain data; the name fits (with its NUL) in IFNAMSIZ, and the ioctls read
    // and write only that struct.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        check(
            libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req),
            "SIOCGIFFLAGS lo",
        )?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        check(
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &req),
            "SIOCSIFFLAGS lo",
        )
    }
}
