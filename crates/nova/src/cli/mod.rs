//! The `nova` command line: argument definitions ([`args`]), where commands are sent
//! ([`target`]: a running daemon, or the local store), and how results are printed ([`print`]).

pub mod args;
mod commands;
mod print;
mod target;

pub use commands::run;
