//! Small helpers over raw system calls: errno, C strings.

use std::ffi::CString;
use std::fmt;

/// The `errno` of the last failed call.
#[derive(Debug, Clone, Copy)]
pub struct Errno(pub i32);

impl Errno {
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

/// Turns a `-1` return into an error naming the call.
pub fn check(ret: i32, what: &str) -> Result<(), String> {
    if ret < 0 {
        Err(format!("{what}: {}", Errno::last()))
    } else {
        Ok(())
    }
}

pub fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("path {s:?} contains a NUL byte"))
}
