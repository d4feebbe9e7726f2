//! `comet`: the data plane's command line. `comet daemon` serves the data plane (today its HTTP
//! side: the KV service, health and metrics); `comet kv` runs or feeds the KV service alone;
//! `comet run` runs a function file directly, the quickest way to see what an instance does.

mod cli;
mod config;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let server = cli.command.is_server();
    if server {
        // Databases, keys and code under the data directory are the owner's alone.
        comet_plumbing::lifecycle::owner_only_files();
    }
    comet_plumbing::lifecycle::main(server, "COMET_LOG", cli::dispatch(cli.command))
}
