//! Binary plumbing shared by `nova` and `comet`: everything around a command that is not the
//! command itself.
//!
//! [`lifecycle`] starts the async runtime and logging, prints errors for people, waits for the
//! signal that stops a server and keeps the data directory private; [`config`] reads a YAML
//! config file (unknown keys are errors that name them), finds the default data directory and
//! parses the durations both daemons accept. The binaries' own settings live with each binary.

#![warn(missing_docs)]

pub mod config;
pub mod lifecycle;

pub use config::{
    DurationError, FileError, PoolSection, default_data_dir, load_file, parse_duration,
};
