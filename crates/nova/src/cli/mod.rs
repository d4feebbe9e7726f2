//! The `nova` command line: argument definitions ([`args`]), where commands are sent
//! ([`target`]: a running daemon, or the local store), and how results are printed ([`print`]).

/// `println!` for the whole CLI (it shadows the standard one in every module below): when
/// standard output is closed early, as in `nova list | head -1`, the command ends quietly with
/// status 0 instead of panicking on the broken pipe.
macro_rules! println {
    () => {
        $crate::cli::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!`, with the same handling of a closed standard output as [`println!`].
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

mod aliases;
pub mod args;
mod asynchronous;
mod commands;
mod packages;
mod print;
mod schedules;
mod target;

pub use commands::run;

/// Writes to standard output; a reader that has gone away ends the process quietly.
pub fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(text) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}
