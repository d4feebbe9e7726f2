//! One sync round: publish this machine's hostname/IP and root's public key into
//! `hosts<group>` / `pubkeys<group>`, read everyone's, and rewrite the managed blocks of the hosts
//! file and `authorized_keys`.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::block;
use crate::client::{CometClient, Slice};

/// What this machine publishes and where it writes what it learns.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The reservation id: this machine's key in every family.
    pub reservation: String,
    pub hostname: String,
    pub ip: IpAddr,
    /// The public key to publish (None: publish nothing, still collect the others').
    pub public_key: Option<String>,
    pub hosts_file: PathBuf,
    pub authorized_keys: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Groups {
    pub hosts: String,
    pub pubkeys: String,
}

/// What a round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub hosts: usize,
    pub keys: usize,
    pub hosts_file_changed: bool,
    pub keys_file_changed: bool,
}

pub fn round(client: &CometClient, slice: &Slice, groups: &Groups, me: &Machine) -> Result<Round> {
    let hosts_family = format!("hosts{}", groups.hosts);
    let keys_family = format!("pubkeys{}", groups.pubkeys);
    let mine = json!([{ "hostName": me.hostname, "ip": me.ip.to_string() }]);
    client.write(slice, &hosts_family, &me.reservation, &mine)?;
    if let Some(key) = &me.public_key {
        client.write(
            slice,
            &keys_family,
            &me.reservation,
            &json!([{ "publicKey": key }]),
        )?;
    }

    let host_lines = collect(client.enumerate(slice, &hosts_family)?, |item| {
        let (name, ip) = (item["hostName"].as_str()?, item["ip"].as_str()?);
        // Refuse what would break the hosts file: an address that does not parse, odd names.
        ip.parse::<IpAddr>().ok()?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        valid.then(|| format!("{ip} {name}"))
    });
    let key_lines = collect(client.enumerate(slice, &keys_family)?, |item| {
        let key = item["publicKey"].as_str()?.trim();
        (key.starts_with("ssh-") || key.starts_with("ecdsa-") || key.starts_with("sk-"))
            .then(|| key.to_string())
            .filter(|k| !k.contains('\n'))
    });

    let hosts_file_changed = block::update_file(&me.hosts_file, &hosts_family, &host_lines)
        .with_context(|| format!("updating {}", me.hosts_file.display()))?;
    let keys_file_changed = block::update_file(&me.authorized_keys, &keys_family, &key_lines)
        .with_context(|| format!("updating {}", me.authorized_keys.display()))?;
    Ok(Round {
        hosts: host_lines.len(),
        keys: key_lines.len(),
        hosts_file_changed,
        keys_file_changed,
    })
}

/// The lines `line` makes of every item of every entry, sorted and without duplicates.
fn collect(
    entries: Vec<(String, Vec<Value>)>,
    line: impl Fn(&Value) -> Option<String>,
) -> Vec<String> {
    let mut lines: Vec<String> = entries
        .iter()
        .flat_map(|(_, items)| items.iter().filter_map(&line))
        .collect();
    lines.sort();
    lines.dedup();
    lines
}
