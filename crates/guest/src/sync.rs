//! One sync round: publish this machine's hostname/IP and root's public key into
//! `hosts<group>` / `pubkeys<group>`, read everyone's, and rewrite the managed blocks of the hosts
//! file and `authorized_keys`.
//!
//! What other VMs publish is not trusted: one host per entry, only well-formed names and
//! addresses, never a name the file already has outside the block (`localhost`, the COMET
//! heads' names, …) nor this machine's own name claimed by another entry; one well-formed key
//! line per item.

use std::collections::HashSet;
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
#[derive(Debug, Default)]
pub struct Round {
    pub hosts: usize,
    pub keys: usize,
    pub hosts_file_changed: bool,
    pub keys_file_changed: bool,
    /// Writes that failed (the round still read and updated the files).
    pub write_errors: Vec<String>,
}

pub fn round(client: &CometClient, slice: &Slice, groups: &Groups, me: &Machine) -> Result<Round> {
    let hosts_family = format!("hosts{}", groups.hosts);
    let keys_family = format!("pubkeys{}", groups.pubkeys);
    let mut write_errors = Vec::new();
    let mine = json!([{ "hostName": me.hostname, "ip": me.ip.to_string() }]);
    if let Err(e) = client.write(slice, &hosts_family, &me.reservation, &mine) {
        write_errors.push(format!("{e:#}"));
    }
    if let Some(key) = &me.public_key {
        let item = json!([{ "publicKey": published_key(key) }]);
        if let Err(e) = client.write(slice, &keys_family, &me.reservation, &item) {
            write_errors.push(format!("{e:#}"));
        }
    }

    let current_hosts = std::fs::read_to_string(&me.hosts_file).unwrap_or_default();
    let hosts = client.enumerate(slice, &hosts_family)?;
    let host_lines = host_lines(&hosts, &current_hosts, &hosts_family, me);
    let keys = client.enumerate(slice, &keys_family)?;
    let key_lines = key_lines(&keys);

    let hosts_file_changed = block::update_file(&me.hosts_file, &hosts_family, &host_lines)
        .with_context(|| format!("updating {}", me.hosts_file.display()))?;
    let keys_file_changed = block::update_file(&me.authorized_keys, &keys_family, &key_lines)
        .with_context(|| format!("updating {}", me.authorized_keys.display()))?;
    Ok(Round {
        hosts: host_lines.len(),
        keys: key_lines.len(),
        hosts_file_changed,
        keys_file_changed,
        write_errors,
    })
}

/// A public key as neuca-guest-tools' agents publish it: the `.pub` file's line with its
/// newline. They write every key they read verbatim before their block's END marker, so a key
/// without it would glue the marker to the key: their block would lose its end and grow by one
/// copy every round. Keys are read in either form ([`key_lines`] trims them).
fn published_key(key: &str) -> String {
    format!("{}\n", key.trim())
}

fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
}

/// `ip name` lines: the first item of each entry (sorted by key), each name once.
fn host_lines(
    entries: &[(String, Vec<Value>)],
    hosts_file: &str,
    family: &str,
    me: &Machine,
) -> Vec<String> {
    let mut taken: HashSet<String> = block::outside_block(hosts_file, family)
        .iter()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split_whitespace().skip(1))
        .map(str::to_ascii_lowercase)
        .collect();
    taken.insert("localhost".into());
    let mut sorted: Vec<&(String, Vec<Value>)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (key, items) in sorted {
        let Some(item) = items.first() else { continue };
        let (Some(name), Some(ip)) = (item["hostName"].as_str(), item["ip"].as_str()) else {
            continue;
        };
        let Ok(ip) = ip.parse::<IpAddr>() else {
            continue;
        };
        let lower = name.to_ascii_lowercase();
        let impostor = lower == me.hostname.to_ascii_lowercase() && *key != me.reservation;
        if !valid_hostname(name) || impostor || !taken.insert(lower) {
            tracing::debug!(key, name, "host entry skipped");
            continue;
        }
        lines.push(format!("{ip} {name}"));
    }
    lines
}

/// Well-formed single-line public keys, sorted, each once.
fn key_lines(entries: &[(String, Vec<Value>)]) -> Vec<String> {
    let mut lines: Vec<String> = entries
        .iter()
        .flat_map(|(_, items)| items.iter())
        .filter_map(|item| {
            let key = item["publicKey"].as_str()?.trim();
            let kind = key.split_whitespace().next()?;
            let known =
                kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
            (known && key.split_whitespace().count() >= 2 && !key.contains(['\n', '\r']))
                .then(|| key.to_string())
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Machine {
        Machine {
            reservation: "rid-1".into(),
            hostname: "vm1".into(),
            ip: "10.0.0.1".parse().unwrap(),
            public_key: None,
            hosts_file: PathBuf::new(),
            authorized_keys: PathBuf::new(),
        }
    }

    fn entry(key: &str, items: Value) -> (String, Vec<Value>) {
        (key.into(), items.as_array().unwrap().clone())
    }

    #[test]
    fn hostile_host_entries_are_skipped() {
        let entries = vec![
            entry("rid-1", json!([{"hostName": "vm1", "ip": "10.0.0.1"}])),
            entry(
                "rid-2",
                json!([{"hostName": "vm2", "ip": "10.0.0.2"}, {"hostName": "extra", "ip": "10.6.6.6"}]),
            ),
            entry(
                "rid-3",
                json!([{"hostName": "localhost", "ip": "10.6.6.6"}]),
            ),
            entry(
                "rid-4",
                json!([{"hostName": "comet-head", "ip": "10.6.6.6"}]),
            ),
            entry("rid-5", json!([{"hostName": "vm1", "ip": "10.6.6.6"}])),
            entry("rid-6", json!([{"hostName": "vm2", "ip": "10.6.6.6"}])),
            entry(
                "rid-7",
                json!([{"hostName": "evil\n10.6.6.6 x", "ip": "10.0.0.7"}]),
            ),
            entry("rid-8", json!([{"hostName": "vm8", "ip": "not-an-ip"}])),
            entry("rid-9", json!([])),
        ];
        let hosts = "127.0.0.1 localhost\n192.168.0.2 comet-head\n";
        let lines = host_lines(&entries, hosts, "hostsall", &me());
        assert_eq!(lines, ["10.0.0.1 vm1", "10.0.0.2 vm2"]);
    }

    #[test]
    fn keys_are_published_with_their_newline_and_read_in_either_form() {
        assert_eq!(
            published_key("ssh-rsa AAAA root@a"),
            "ssh-rsa AAAA root@a\n"
        );
        assert_eq!(
            published_key("ssh-rsa AAAA root@a\n"),
            "ssh-rsa AAAA root@a\n"
        );
        let entries = vec![
            entry("a", json!([{"publicKey": "ssh-rsa AAAA root@a\n"}])),
            entry("b", json!([{"publicKey": "ssh-rsa BBBB root@b"}])),
        ];
        assert_eq!(
            key_lines(&entries),
            ["ssh-rsa AAAA root@a", "ssh-rsa BBBB root@b"]
        );
    }

    #[test]
    fn only_well_formed_keys_are_kept() {
        let entries = vec![
            entry("a", json!([{"publicKey": "ssh-rsa AAAA root@a"}])),
            entry(
                "b",
                json!([{"publicKey": "ssh-rsa AAAA root@a"}, {"publicKey": "command=\"x\" ssh-rsa B"}]),
            ),
            entry(
                "c",
                json!([{"publicKey": "ssh-ed25519 CCCC\nssh-rsa DDDD"}, {"publicKey": "ssh-rsa"}]),
            ),
        ];
        assert_eq!(key_lines(&entries), ["ssh-rsa AAAA root@a"]);
    }
}
