//! `comet-guest`: keeps this VM's `/etc/hosts` and root's `authorized_keys` in sync with the
//! other VMs of its slice through COMET (what neuca-guest-tools does on ExoGENI and Chameleon).
//! Every `--interval` it publishes its hostname, IP and public key and rewrites only its own
//! marked block in each file.

mod block;
mod client;
mod sync;

use std::io::IsTerminal;
use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use client::{CometClient, Slice};
use sync::{Groups, Machine};

#[derive(Parser)]
#[command(
    name = "comet-guest",
    version,
    about = "Keep /etc/hosts and authorized_keys in sync with a COMET slice"
)]
struct Args {
    /// COMET heads, comma-separated (tried in random order; a head that is down is skipped).
    #[arg(long, env = "COMET_HOSTS", value_delimiter = ',', required = true)]
    hosts: Vec<String>,
    /// The slice (context) id.
    #[arg(long, env = "COMET_SLICE")]
    slice: String,
    /// This VM's reservation id (its key in every family).
    #[arg(long, env = "COMET_RESERVATION")]
    reservation: String,
    /// The slice's read token.
    #[arg(long, env = "COMET_READ_TOKEN")]
    read_token: String,
    /// The slice's write token.
    #[arg(long, env = "COMET_WRITE_TOKEN")]
    write_token: String,
    /// Hosts group: entries live in the family hosts<group>.
    #[arg(long, default_value = "all")]
    hosts_group: String,
    /// Public-keys group: entries live in the family pubkeys<group>.
    #[arg(long, default_value = "all")]
    pubkeys_group: String,
    /// Seconds between rounds, e.g. 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// One round, then exit (non-zero if it failed).
    #[arg(long)]
    once: bool,
    /// The hosts file whose managed block is rewritten.
    #[arg(long, default_value = "/etc/hosts")]
    hosts_file: PathBuf,
    /// The authorized_keys file whose managed block is rewritten.
    #[arg(long, default_value = "/root/.ssh/authorized_keys")]
    authorized_keys: PathBuf,
    /// The public key to publish (skipped, with a warning, if the file does not exist).
    #[arg(long, default_value = "/root/.ssh/id_rsa.pub")]
    public_key: PathBuf,
    /// This machine's name. Default: the kernel's hostname.
    #[arg(long)]
    hostname: Option<String>,
    /// This machine's address. Default: the one it reaches the first head from.
    #[arg(long)]
    ip: Option<IpAddr>,
    /// PEM CA certificate to trust for HTTPS heads.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// PEM client certificate, for heads that require one to create entries.
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Do not verify the heads' certificates (what neuca-guest-tools did; not recommended).
    #[arg(long)]
    insecure: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COMET_GUEST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    if args.read_token == args.write_token {
        bail!("--read-token and --write-token must differ");
    }
    let identity = args.client_cert.as_deref().zip(args.client_key.as_deref());
    let client = CometClient::new(
        args.hosts.clone(),
        args.ca_cert.as_deref(),
        identity,
        args.insecure,
    )?;
    let slice = Slice {
        id: args.slice.clone(),
        read_token: args.read_token.clone(),
        write_token: args.write_token.clone(),
    };
    let groups = Groups {
        hosts: args.hosts_group.clone(),
        pubkeys: args.pubkeys_group.clone(),
    };
    loop {
        // Everything that can fail for a while (DNS at boot, a head down) is retried next round.
        let result = machine(&args).and_then(|me| sync::round(&client, &slice, &groups, &me));
        match result {
            Ok(round) => {
                tracing::info!(
                    hosts = round.hosts,
                    keys = round.keys,
                    hosts_changed = round.hosts_file_changed,
                    keys_changed = round.keys_file_changed,
                    "synced"
                );
                for e in &round.write_errors {
                    tracing::warn!(error = %e, "could not publish this machine's entry");
                }
                if args.once {
                    let clean = round.write_errors.is_empty();
                    return Ok(if clean {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
            }
            Err(e) if args.once => return Err(e),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "sync round failed; trying again next round")
            }
        }
        std::thread::sleep(args.interval);
    }
}

/// What this machine publishes, read fresh each round (the IP or key may change).
fn machine(args: &Args) -> Result<Machine> {
    let hostname = match &args.hostname {
        Some(h) => h.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .context("reading the hostname; pass --hostname")?
            .trim()
            .to_string(),
    };
    let ip = match args.ip {
        Some(ip) => ip,
        None => local_ip(&args.hosts[0]).context("finding this machine's address; pass --ip")?,
    };
    let public_key = match std::fs::read_to_string(&args.public_key) {
        Ok(key) => Some(key.trim().to_string()),
        Err(_) => {
            tracing::warn!(path = %args.public_key.display(), "no public key to publish");
            None
        }
    };
    Ok(Machine {
        reservation: args.reservation.clone(),
        hostname,
        ip,
        public_key,
        hosts_file: args.hosts_file.clone(),
        authorized_keys: args.authorized_keys.clone(),
    })
}

/// The local address the kernel would use to reach `head` (a UDP "connect" sends nothing).
fn local_ip(head: &str) -> Result<IpAddr> {
    let url = reqwest::Url::parse(head).with_context(|| format!("'{head}' is not a URL"))?;
    let target = url
        .socket_addrs(|| Some(443))
        .with_context(|| format!("resolving {head}"))?
        .into_iter()
        .next()
        .context("the head's name resolves to no address")?;
    let any = if target.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(target)?;
    Ok(socket.local_addr()?.ip())
}
