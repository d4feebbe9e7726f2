//! The store's contract, one case per aggregate, run against both databases: SQLite in a
//! temporary directory and a fresh database on the Postgres of this machine
//! (`scripts/services.sh` starts it; NOVA_TEST_PG_DSN points elsewhere), and once more through a
//! [`Breaker`], which must change nothing while the database answers. Each case takes only its
//! aggregate's trait, as the services do.

#[path = "contract/aliases.rs"]
mod aliases;
#[path = "contract/packages.rs"]
mod packages;
#[path = "contract/queue.rs"]
mod queue;
#[path = "contract/schedules.rs"]
mod schedules;
#[path = "contract/versions.rs"]
mod versions;

use std::collections::BTreeMap;

use nova_api::{Function, Limits, Mode, Network, Runtime, code_hash};
use nova_store::testing::FreshDatabase;
use nova_store::{
    Breaker, FunctionStore, InvocationLog, KeyStore, Kind, ListQuery, LogQuery, LogStore,
    SecretRecord, SecretStore, SettingStore, SqlStore, StoreError, Stores, record_now,
};

fn function(name: &str, code: &[u8], version: u64) -> Function {
    // One instant for both times, as a new function has (two readings can straddle a
    // millisecond, and a version copies its function's times).
    let now = record_now();
    Function {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        runtime: Runtime::Python,
        handler: "main.handler".into(),
        mode: Mode::Process,
        network: Network::None,
        memory_mb: 128,
        timeout_s: 30,
        min_replicas: 0,
        max_replicas: 0,
        instance_concurrency: 1,
        env_vars: BTreeMap::from([("K".to_string(), "v w".to_string())]),
        limits: Limits::default(),
        version,
        code_hash: code_hash(code),
        code_size: code.len() as u64,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// Every case, against the aggregates of one fresh store; `p` prefixes every name.
async fn contract(stores: Stores, p: &str) {
    functions(stores.functions.as_ref(), p).await;
    versions::versions(stores.functions.as_ref(), stores.versions.as_ref(), p).await;
    aliases::aliases(stores.functions.as_ref(), stores.aliases.as_ref(), p).await;
    invocation_logs(stores.logs.as_ref(), p).await;
    settings(stores.settings.as_ref(), p).await;
    api_keys(stores.keys.as_ref(), p).await;
    secrets(stores.secrets.as_ref(), p).await;
    queue::queue(stores.queue.as_ref(), p).await;
    schedules::schedules(
        stores.functions.as_ref(),
        stores.schedules.as_ref(),
        stores.queue.as_ref(),
        p,
    )
    .await;
    queue::batches_destinations_and_configs(stores.functions.as_ref(), stores.queue.as_ref(), p)
        .await;
    packages::packages(stores.packages.as_ref(), p).await;
}

/// Functions and code: unique names, optimistic concurrency, search, code kept while used.
async fn functions(store: &dyn FunctionStore, p: &str) {
    let name = format!("{p}-fn");
    let code = b"print('hi')".to_vec();
    let f = function(&name, &code, 1);
    store.insert_function(&f, &code).await.expect("insert");
    let got = store
        .get_function(&name)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, f);
    assert_eq!(
        store.get_code(&f.code_hash).await.expect("code"),
        Some(code.clone())
    );
    let taken = store
        .insert_function(&function(&name, &code, 1), &code)
        .await
        .expect_err("the name is taken");
    assert!(
        matches!(&taken, StoreError::AlreadyExists { kind: Kind::Function, name: n } if *n == name),
        "{taken:?}"
    );
    assert_eq!(
        taken.to_string(),
        format!("function '{name}' already exists")
    );

    // Optimistic concurrency: the version must still be the one read.
    let new_code = b"print('v2')".to_vec();
    let v2 = Function {
        version: 2,
        ..function(&name, &new_code, 2)
    };
    store
        .replace_function(&v2, Some(&new_code), 1)
        .await
        .expect("replace");
    let stale = store
        .replace_function(&v2, None, 1)
        .await
        .expect_err("stale");
    assert!(
        matches!(
            stale,
            StoreError::Conflict {
                kind: Kind::Function,
                ..
            }
        ),
        "{stale:?}"
    );
    assert_eq!(
        stale.to_string(),
        format!("function '{name}' was changed by someone else meanwhile; retry")
    );
    let missing = function(&format!("{p}-missing"), &code, 2);
    let gone = store
        .replace_function(&missing, None, 1)
        .await
        .expect_err("missing");
    assert!(
        matches!(
            gone,
            StoreError::NotFound {
                kind: Kind::Function,
                ..
            }
        ),
        "{gone:?}"
    );
    assert_eq!(
        gone.to_string(),
        format!("function '{p}-missing' not found")
    );
    assert_eq!(
        store
            .get_function(&name)
            .await
            .expect("get")
            .expect("found")
            .version,
        2
    );
    // The old code stays while version 1 uses it; the new one is there.
    assert_eq!(
        store.get_code(&f.code_hash).await.expect("code"),
        Some(code.clone())
    );
    assert_eq!(
        store.get_code(&v2.code_hash).await.expect("code"),
        Some(new_code)
    );

    // Two writers from version 2: exactly one wins.
    let (one, other) = (
        Function {
            version: 3,
            ..v2.clone()
        },
        Function {
            version: 3,
            memory_mb: 256,
            ..v2.clone()
        },
    );
    let (a, b) = tokio::join!(
        store.replace_function(&one, None, 2),
        store.replace_function(&other, None, 2),
    );
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");

    // Listing: search is a substring, case-insensitive, with % and _ taken literally.
    for n in ["a_b", "axb", "a%c", "Zeta"] {
        let other = function(&format!("{p}-{n}"), n.as_bytes(), 1);
        store
            .insert_function(&other, n.as_bytes())
            .await
            .expect("insert");
    }
    let names = |fs: Vec<Function>| fs.into_iter().map(|f| f.name).collect::<Vec<_>>();
    let search = |s: &str| ListQuery {
        search: Some(format!("{p}-{s}")),
        ..ListQuery::default()
    };
    assert_eq!(
        names(store.list_functions(&search("a_")).await.expect("list")),
        [format!("{p}-a_b")]
    );
    assert_eq!(
        names(store.list_functions(&search("a%")).await.expect("list")),
        [format!("{p}-a%c")]
    );
    assert_eq!(
        names(store.list_functions(&search("zeta")).await.expect("list")),
        [format!("{p}-Zeta")]
    );
    let page = ListQuery {
        search: Some(p.to_string()),
        limit: 2,
        offset: 1,
    };
    assert_eq!(store.list_functions(&page).await.expect("list").len(), 2);

    assert!(store.delete_function(&name).await.expect("delete"));
    assert!(!store.delete_function(&name).await.expect("delete"));
    assert_eq!(store.get_function(&name).await.expect("get"), None);
    assert_eq!(
        store.get_code(&f.code_hash).await.expect("code"),
        None,
        "gone with its function's versions"
    );
    for n in ["a_b", "axb", "a%c", "Zeta"] {
        assert!(
            store
                .delete_function(&format!("{p}-{n}"))
                .await
                .expect("delete")
        );
    }
}

/// Settings: the first value initialised wins, a put replaces it.
async fn settings(store: &dyn SettingStore, p: &str) {
    let name = format!("{p}-setting");
    assert_eq!(store.setting(&name).await.expect("read"), None);
    assert_eq!(
        store.init_setting(&name, "first").await.expect("init"),
        "first"
    );
    assert_eq!(
        store.init_setting(&name, "second").await.expect("init"),
        "first"
    );
    store.put_setting(&name, "third").await.expect("put");
    assert_eq!(
        store.setting(&name).await.expect("read").as_deref(),
        Some("third")
    );
}

/// API key records: stored, listed (the one query comet workers read too), named uniquely (and
/// the error says it is a key), renamed, revoked once, deleted; the first key marks keys as
/// required for good. Every key here is already expired.
async fn api_keys(store: &dyn KeyStore, p: &str) {
    assert!(
        !store.keys_required().await.expect("read"),
        "a fresh store needs no key"
    );
    let now = comet_util::now_ms();
    let mint = |name: &str| {
        let mut key = nova_keys::mint(name, &[nova_keys::Scope::Read], None, now).record;
        key.expires_at = Some(now - 1);
        key
    };
    let key = mint(&format!("{p}-key"));
    store.insert_api_key(&key).await.expect("insert key");
    assert!(store.keys_required().await.expect("read"));
    let taken = store
        .insert_api_key(&mint(&key.name))
        .await
        .expect_err("the name is taken");
    assert!(
        matches!(&taken, StoreError::AlreadyExists { kind: Kind::ApiKey, name } if *name == key.name),
        "{taken:?}"
    );
    assert_eq!(
        taken.to_string(),
        format!("API key '{}' already exists", key.name)
    );
    let listed = store.list_api_keys().await.expect("list keys");
    assert_eq!(listed.iter().find(|k| k.name == key.name), Some(&key));

    // Renaming to a taken name is refused the same way; to a free one, it is done.
    let other = mint(&format!("{p}-other"));
    store.insert_api_key(&other).await.expect("insert key");
    let clash = nova_keys::ApiKeyRecord {
        name: key.name.clone(),
        ..other.clone()
    };
    let taken = store.update_api_key(&clash).await.expect_err("taken");
    assert_eq!(
        taken.to_string(),
        format!("API key '{}' already exists", key.name)
    );
    let renamed = nova_keys::ApiKeyRecord {
        name: format!("{p}-renamed"),
        ..other.clone()
    };
    assert!(store.update_api_key(&renamed).await.expect("rename"));
    let nobody = mint(&format!("{p}-nobody"));
    assert!(!store.update_api_key(&nobody).await.expect("no such key"));

    assert!(store.revoke_api_key(&key.name, now).await.expect("revoke"));
    assert!(!store.revoke_api_key(&key.name, now).await.expect("revoke"));
    let revoked = store.list_api_keys().await.expect("list keys");
    let revoked = revoked.iter().find(|k| k.name == key.name).expect("kept");
    assert_eq!(revoked.revoked_at, Some(now));
    for name in [&key.name, &renamed.name] {
        assert!(store.delete_api_key(name).await.expect("delete"));
        assert!(!store.delete_api_key(name).await.expect("delete"));
    }
    assert!(
        store.keys_required().await.expect("read"),
        "still required with every key gone"
    );
}

/// Secret records: bytes kept exactly, replaced in place, listed, deleted.
async fn secrets(store: &dyn SecretStore, p: &str) {
    let name = format!("{p}-secret");
    let mut secret = SecretRecord {
        name: name.clone(),
        nonce: vec![0, 1, 2, 255],
        ciphertext: (0..=255).collect(),
        created_at: 1,
        updated_at: 1,
    };
    store.put_secret(&secret).await.expect("put");
    assert_eq!(
        store.get_secret(&name).await.expect("get"),
        Some(secret.clone())
    );
    secret.ciphertext = vec![9; 3];
    secret.updated_at = 2;
    secret.created_at = 2;
    store.put_secret(&secret).await.expect("replace");
    let got = store.get_secret(&name).await.expect("get").expect("there");
    assert_eq!(
        (got.ciphertext, got.created_at, got.updated_at),
        (vec![9; 3], 1, 2),
        "replaced, keeping when it was made"
    );
    assert!(
        store
            .list_secrets()
            .await
            .expect("list")
            .iter()
            .any(|s| s.name == name)
    );
    assert!(store.delete_secret(&name).await.expect("delete"));
    assert!(!store.delete_secret(&name).await.expect("delete"));
    assert_eq!(store.get_secret(&name).await.expect("get"), None);
}

/// Invocation logs: batches, newest first, by function and by id, retention.
async fn invocation_logs(store: &dyn LogStore, p: &str) {
    let now = comet_util::now_ms();
    let log = |i: i64, age_ms: i64| InvocationLog {
        id: format!("{p}-req-{i}"),
        function: format!("{p}-logged"),
        version: 1,
        duration_us: 100 + i as u64,
        cold_start: i == 0,
        success: i % 2 == 0,
        error: (i % 2 == 1).then(|| "boom".to_string()),
        input_bytes: 2,
        output_bytes: 3,
        stdout: "out ✓".into(),
        stderr: String::new(),
        created_at: now - age_ms,
    };
    let batch: Vec<InvocationLog> = (0..5).map(|i| log(i, 1000 * (5 - i))).collect();
    store.insert_invocations(&batch).await.expect("insert logs");
    store
        .insert_invocations(&[log(9, 86_400_000 * 30)])
        .await
        .expect("old log");
    let query = LogQuery {
        function: Some(format!("{p}-logged")),
        limit: 3,
        ..LogQuery::default()
    };
    let got = store.list_invocations(&query).await.expect("list logs");
    let ids: Vec<String> = got.iter().map(|l| l.id.clone()).collect();
    assert_eq!(
        ids,
        [
            format!("{p}-req-4"),
            format!("{p}-req-3"),
            format!("{p}-req-2")
        ]
    );
    assert_eq!(got[1], batch[3]);
    let by_id = LogQuery {
        request_id: Some(format!("{p}-req-1")),
        limit: 10,
        ..LogQuery::default()
    };
    assert_eq!(
        store.list_invocations(&by_id).await.expect("by id"),
        [batch[1].clone()]
    );
    let deleted = store
        .delete_invocations_before(now - 86_400_000)
        .await
        .expect("retention");
    assert!(deleted >= 1);
    let all = LogQuery {
        function: Some(format!("{p}-logged")),
        limit: 100,
        ..LogQuery::default()
    };
    assert_eq!(store.list_invocations(&all).await.expect("list").len(), 5);

    // A batch of several statements' worth, with a record already stored in it (kept once).
    let big: Vec<InvocationLog> = (100..250)
        .map(|i| InvocationLog {
            function: format!("{p}-busy"),
            ..log(i, 0)
        })
        .chain([batch[0].clone()])
        .collect();
    store
        .insert_invocations(&big)
        .await
        .expect("insert a big batch");
    let busy = LogQuery {
        function: Some(format!("{p}-busy")),
        limit: 1000,
        ..LogQuery::default()
    };
    let stored = store.list_invocations(&busy).await.expect("list");
    assert_eq!(stored.len(), 150);
    assert!(stored.iter().any(|l| l == &big[77]));
    assert_eq!(store.list_invocations(&all).await.expect("list").len(), 5);
}

#[tokio::test]
async fn sqlite_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::sqlite(&dir.path().join("nova.db"))
        .await
        .expect("open");
    contract(Stores::of(store), "s").await;
}

#[tokio::test]
async fn postgres_keeps_the_contract() {
    let db = FreshDatabase::create().await;
    let store = SqlStore::postgres(&db.dsn).await.expect("open postgres");
    contract(Stores::of(store), "p").await;
}

/// The breaker forwards every aggregate unchanged while the database answers.
#[tokio::test]
async fn a_breaker_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqlStore::sqlite(&dir.path().join("nova.db"))
        .await
        .expect("open");
    contract(Stores::of(Breaker::new(store)), "b").await;
}

/// A comet worker's read-only view of the keys (`--api-keys-from <DSN>`) sees what Nova stored.
#[tokio::test]
async fn a_worker_reads_novas_keys_from_postgres() {
    use nova_keys::KeySource;
    let db = FreshDatabase::create().await;
    let store = SqlStore::postgres(&db.dsn).await.expect("open postgres");
    let now = comet_util::now_ms();
    let mut key = nova_keys::mint("worker", &[nova_keys::Scope::Invoke], None, now).record;
    key.expires_at = Some(now - 1); // what is read back is the record, active or not
    store.insert_api_key(&key).await.expect("insert key");
    let worker = nova_keys::sql::SqlKeys::open(&db.dsn)
        .await
        .expect("open as a worker");
    let seen = worker.api_keys().await.expect("read keys");
    assert_eq!(seen.iter().find(|k| k.name == "worker"), Some(&key));
    assert!(worker.keys_required().await.expect("read"));
}

#[tokio::test]
async fn a_bad_dsn_is_named_without_its_password() {
    let err = SqlStore::postgres("postgres://nova:hunter2@127.0.0.1:1/nova")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Open(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("hunter2"),
        "{text}"
    );
}
