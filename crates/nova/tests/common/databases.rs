//! What daemons sharing a store need besides the store (a fresh one is nova-store's
//! `nova_store::testing::FreshDatabase`): the same master key for its secrets.

/// Daemons sharing a store must share its secrets' master key: writes one into `dir` and
/// returns the config file section that names it.
pub fn master_key_config(dir: &std::path::Path) -> String {
    use base64::Engine as _;
    let path = dir.join("shared-master.key");
    let key: [u8; 32] = *uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .copied()
        .collect::<Vec<u8>>()
        .first_chunk()
        .expect("32 bytes");
    std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode(key))
        .expect("write the master key");
    format!("secrets:\n  master_key_file: {}\n", path.display())
}

/// Two daemons on the fresh Postgres `dsn` and this machine's Redis, as a shared deployment runs
/// them, with one master key; the key's directory is returned so it lives as long as they do.
pub async fn shared_pair(dsn: &str) -> (super::TestDaemon, super::TestDaemon, tempfile::TempDir) {
    let keys = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "postgres:\n  dsn: {dsn}\nredis:\n  addr: 127.0.0.1:6379\n{}",
        master_key_config(keys.path())
    );
    let a = super::TestDaemon::start_with_config(&config).await;
    let b = super::TestDaemon::start_with_config(&config).await;
    (a, b, keys)
}
