//! `nova`: the control-plane CLI and daemon. This file only wires things up; see `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = matches!(cli.command, Command::Daemon(_));
    // Every command may create the data directory's files (a CLI without a daemon opens the
    // store itself): owner-only, like the daemon's.
    comet_plumbing::lifecycle::owner_only_files();
    comet_plumbing::lifecycle::main(daemon, "NOVA_LOG", cli::run(cli))
}
