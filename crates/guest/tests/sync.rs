//! comet-guest against real heads: three VMs of one slice sync through two heads, one of them
//! down; every VM ends with every host and key, and the user's own lines survive.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use comet_context::ContextConfig;

struct Head {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

async fn head(exchange: Arc<comet_context::Exchange>) -> Head {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = comet_context::http::routes(exchange, 1 << 20);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Head { url, task }
}

const USER_HOSTS: &str = "127.0.0.1 localhost\n# added by the user\n192.168.1.5 printer\n";
const USER_KEYS: &str = "ssh-ed25519 AAAAC3user alice@laptop\n";

/// One VM: its own files and key; returns the guest's exit status and output.
async fn sync_vm(vm: &Path, n: u32, heads: &str) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_comet-guest"))
        .args(["--once", "--hosts", heads, "--slice", "slice-7"])
        .args([
            "--reservation",
            &format!("rid-{n}"),
            "--read-token",
            "slice-read",
        ])
        .args([
            "--write-token",
            "slice-write",
            "--hostname",
            &format!("vm{n}"),
        ])
        .args(["--ip", &format!("10.7.0.{n}")])
        .arg("--hosts-file")
        .arg(vm.join("hosts"))
        .arg("--authorized-keys")
        .arg(vm.join("authorized_keys"))
        .arg("--public-key")
        .arg(vm.join("id_rsa.pub"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.success(), text)
}

#[tokio::test]
async fn vms_converge_through_the_head_that_is_up_and_keep_user_lines() {
    let dir = tempfile::tempdir().unwrap();
    let exchange = comet_context::open(&ContextConfig::default(), dir.path())
        .await
        .unwrap();
    let up = head(exchange.clone()).await;
    let down = head(exchange).await;
    down.task.abort();
    let _ = (&mut { down.task }).await;
    // The stopped head is listed first: it must be skipped, whatever the order tried.
    let heads = format!("{}/,{}/", down.url, up.url);

    let vms: Vec<_> = (1..=3).map(|n| dir.path().join(format!("vm{n}"))).collect();
    for (i, vm) in vms.iter().enumerate() {
        std::fs::create_dir_all(vm).unwrap();
        std::fs::write(vm.join("hosts"), USER_HOSTS).unwrap();
        std::fs::write(vm.join("authorized_keys"), USER_KEYS).unwrap();
        std::fs::write(
            vm.join("id_rsa.pub"),
            format!("ssh-rsa AAAAB3key{} root@vm{}\n", i + 1, i + 1),
        )
        .unwrap();
    }
    // Two rounds: in the first, early VMs cannot see the later ones yet.
    for _round in 0..2 {
        for (i, vm) in vms.iter().enumerate() {
            let (ok, out) = sync_vm(vm, i as u32 + 1, &heads).await;
            assert!(ok, "vm{} failed: {out}", i + 1);
        }
    }
    for vm in &vms {
        let hosts = std::fs::read_to_string(vm.join("hosts")).unwrap();
        assert!(hosts.starts_with(USER_HOSTS), "user lines lost:\n{hosts}");
        for n in 1..=3 {
            assert!(
                hosts.contains(&format!("10.7.0.{n} vm{n}\n")),
                "vm{n} missing:\n{hosts}"
            );
        }
        assert_eq!(
            hosts.matches("# BEGIN comet-guest hostsall").count(),
            1,
            "{hosts}"
        );
        let keys = std::fs::read_to_string(vm.join("authorized_keys")).unwrap();
        assert!(keys.starts_with(USER_KEYS), "user key lost:\n{keys}");
        for n in 1..=3 {
            assert!(
                keys.contains(&format!("ssh-rsa AAAAB3key{n} root@vm{n}\n")),
                "{keys}"
            );
        }
    }
    // The user edits the hosts file between rounds; the next round keeps the edit.
    let hosts1 = vms[0].join("hosts");
    let edited = std::fs::read_to_string(&hosts1).unwrap() + "10.9.9.9 added-later\n";
    std::fs::write(&hosts1, &edited).unwrap();
    assert!(sync_vm(&vms[0], 1, &heads).await.0);
    assert_eq!(std::fs::read_to_string(&hosts1).unwrap(), edited);
    up.task.abort();
}

#[tokio::test]
async fn with_every_head_down_the_round_fails_and_the_files_are_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts"), USER_HOSTS).unwrap();
    std::fs::write(dir.path().join("authorized_keys"), USER_KEYS).unwrap();
    let (ok, out) = sync_vm(dir.path(), 1, "http://127.0.0.1:9/,http://127.0.0.1:1/").await;
    assert!(!ok);
    assert!(out.contains("127.0.0.1"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hosts")).unwrap(),
        USER_HOSTS
    );
}

/// The value of the entry `(slice-7, family, key)`, decoded as every COMET client does.
async fn published(
    exchange: &comet_context::Exchange,
    family: &str,
    key: &str,
) -> serde_json::Value {
    let id = comet_context::entry::EntryId {
        context_id: "slice-7".into(),
        family: family.into(),
        key: key.into(),
    };
    let entry = exchange.store().get(&id).await.unwrap().unwrap();
    let outer: serde_json::Value = serde_json::from_str(&entry.value).unwrap();
    serde_json::from_str(outer["val_"].as_str().unwrap()).unwrap()
}

/// A slice where neuca-guest-tools' agents and comet-guest live together: neuca publishes its
/// key with the `.pub` file's newline and writes what it reads verbatim before its END line, so
/// comet-guest must publish the same way; comet-guest reads both forms and stays stable.
#[tokio::test]
async fn keys_are_published_as_neuca_does_and_read_in_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    let exchange = comet_context::open(&ContextConfig::default(), dir.path())
        .await
        .unwrap();
    let up = head(exchange.clone()).await;
    let heads = format!("{}/", up.url);
    // A neuca VM's entry, as its agent writes it.
    let neuca_key = "ssh-rsa AAAAB3neuca root@neuca\n";
    let params = comet_context::service::Params {
        context_id: Some("slice-7".into()),
        family: Some("pubkeysall".into()),
        key: Some("rid-neuca".into()),
        read_token: Some("slice-read".into()),
        write_token: Some("slice-write".into()),
    };
    let items = serde_json::json!([{ "publicKey": neuca_key }]).to_string();
    let body = serde_json::json!({ "val_": items }).to_string();
    exchange
        .write(&params, body, Default::default())
        .await
        .unwrap();

    let vm = dir.path().join("vm1");
    std::fs::create_dir_all(&vm).unwrap();
    std::fs::write(vm.join("hosts"), USER_HOSTS).unwrap();
    std::fs::write(vm.join("authorized_keys"), USER_KEYS).unwrap();
    // A key file without its final newline: what is published has one all the same.
    std::fs::write(vm.join("id_rsa.pub"), "ssh-rsa AAAAB3key1 root@vm1").unwrap();
    let (ok, out) = sync_vm(&vm, 1, &heads).await;
    assert!(ok, "{out}");
    let mine = published(&exchange, "pubkeysall", "rid-1").await;
    let key = mine[0]["publicKey"].as_str().unwrap();
    assert_eq!(key, "ssh-rsa AAAAB3key1 root@vm1\n");
    // What a neuca reader's block looks like with it: every line ends, END stays a line.
    let neuca_block = format!("### BEGIN keys\n{neuca_key}{key}### END keys\n");
    assert!(
        neuca_block.lines().any(|l| l == "### END keys"),
        "{neuca_block}"
    );

    let keys = std::fs::read_to_string(vm.join("authorized_keys")).unwrap();
    assert!(keys.contains("ssh-rsa AAAAB3neuca root@neuca\n"), "{keys}");
    assert!(keys.contains("ssh-rsa AAAAB3key1 root@vm1\n"), "{keys}");
    assert!(keys.contains("# END comet-guest pubkeysall\n"), "{keys}");
    // Round after round, nothing changes.
    for _ in 0..3 {
        assert!(sync_vm(&vm, 1, &heads).await.0);
        assert_eq!(
            std::fs::read_to_string(vm.join("authorized_keys")).unwrap(),
            keys
        );
    }
    up.task.abort();
}
