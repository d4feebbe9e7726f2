//! The store's contract, run against both databases: SQLite in a temporary directory and the
//! Postgres of this machine (`scripts/services.sh` starts it; NOVA_TEST_PG_DSN points elsewhere).
//! Postgres is shared with other runs, so every name here carries this run's prefix.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use nova::store::{
    InvocationLog, ListQuery, LogQuery, SecretRecord, SqlStore, Store, StoreError, record_now,
};
use nova_api::{Function, Limits, Mode, Network, Runtime, code_hash};

fn pg_dsn() -> String {
    std::env::var("NOVA_TEST_PG_DSN")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

fn function(name: &str, code: &[u8], version: u64) -> Function {
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
        created_at: record_now(),
        updated_at: record_now(),
    }
}

/// Every case, against one store; `p` prefixes every name.
async fn contract(store: Arc<dyn Store>, p: &str) {
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
    assert!(matches!(
        store
            .insert_function(&function(&name, &code, 1), &code)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));

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
    assert!(matches!(
        store.replace_function(&v2, None, 1).await,
        Err(StoreError::Conflict(_))
    ));
    let missing = function(&format!("{p}-missing"), &code, 2);
    assert!(matches!(
        store.replace_function(&missing, None, 1).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .get_function(&name)
            .await
            .expect("get")
            .expect("found")
            .version,
        2
    );
    // The old code is gone with its last user; the new one is there.
    assert_eq!(store.get_code(&f.code_hash).await.expect("code"), None);
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
    for n in ["a_b", "axb", "a%c", "Zeta"] {
        assert!(
            store
                .delete_function(&format!("{p}-{n}"))
                .await
                .expect("delete")
        );
    }
    invocation_logs(store.as_ref(), p).await;
    api_keys(store.as_ref(), p).await;
    secrets(store.as_ref(), p).await;
}

/// API key records: stored, listed (the one query comet workers read too), named uniquely,
/// revoked once, deleted. Every key here is already expired, so daemons sharing this database
/// meanwhile never see an active key (which would close their API).
async fn api_keys(store: &dyn Store, p: &str) {
    let now = nova::logs::now_ms();
    let mut key = nova_keys::mint(&format!("{p}-key"), &[nova_keys::Scope::Read], None, now).record;
    key.expires_at = Some(now - 1);
    store.insert_api_key(&key).await.expect("insert key");
    let twin = nova_keys::mint(&key.name, &[nova_keys::Scope::Admin], None, now).record;
    let twin = nova_keys::ApiKeyRecord {
        expires_at: Some(now - 1),
        ..twin
    };
    assert!(matches!(
        store.insert_api_key(&twin).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let listed = store.list_api_keys().await.expect("list keys");
    assert_eq!(listed.iter().find(|k| k.name == key.name), Some(&key));
    assert!(store.revoke_api_key(&key.name, now).await.expect("revoke"));
    assert!(!store.revoke_api_key(&key.name, now).await.expect("revoke"));
    let revoked = store.list_api_keys().await.expect("list keys");
    let revoked = revoked.iter().find(|k| k.name == key.name).expect("kept");
    assert_eq!(revoked.revoked_at, Some(now));
    assert!(store.delete_api_key(&key.name).await.expect("delete"));
    assert!(!store.delete_api_key(&key.name).await.expect("delete"));
}

/// Secret records: bytes kept exactly, replaced in place, listed, deleted.
async fn secrets(store: &dyn Store, p: &str) {
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
    store.put_secret(&secret).await.expect("replace");
    let got = store.get_secret(&name).await.expect("get").expect("there");
    assert_eq!((got.ciphertext, got.updated_at), (vec![9; 3], 2));
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
async fn invocation_logs(store: &dyn Store, p: &str) {
    let now = nova::logs::now_ms();
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
    contract(Arc::new(store), "s").await;
}

#[tokio::test]
async fn postgres_keeps_the_contract() {
    let store = SqlStore::postgres(&pg_dsn()).await.expect("open postgres");
    let prefix = format!("t{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    contract(Arc::new(store), &prefix).await;
}

/// A comet worker's read-only view of the keys (`--api-keys-from <DSN>`) sees what Nova stored.
#[tokio::test]
async fn a_worker_reads_novas_keys_from_postgres() {
    use nova_keys::KeySource;
    let store = SqlStore::postgres(&pg_dsn()).await.expect("open postgres");
    let now = nova::logs::now_ms();
    let name = format!("w{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let mut key = nova_keys::mint(&name, &[nova_keys::Scope::Invoke], None, now).record;
    key.expires_at = Some(now - 1); // what is read back is the record, active or not
    store.insert_api_key(&key).await.expect("insert key");
    let worker = nova_keys::sql::SqlKeys::open(&pg_dsn())
        .await
        .expect("open as a worker");
    let seen = worker.api_keys().await.expect("read keys");
    assert_eq!(seen.iter().find(|k| k.name == name), Some(&key));
    assert!(store.delete_api_key(&name).await.expect("delete"));
}

/// (version, name) of every migration shipped in `migrations/`, oldest first.
fn shipped_migrations() -> Vec<(i64, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut shipped: Vec<(i64, String)> = std::fs::read_dir(dir)
        .expect("migrations directory")
        .map(|e| {
            let file = e.expect("entry").file_name().to_string_lossy().into_owned();
            let stem = file.strip_suffix(".sql").expect("a .sql file");
            let (version, name) = stem.split_once('_').expect("NNNN_name.sql");
            (
                version.parse().expect("a numbered migration"),
                name.to_string(),
            )
        })
        .collect();
    shipped.sort();
    shipped
}

/// What a store's database holds about its own schema: the migration ledger (with the time each
/// was applied) and a description of every table, column and index.
#[derive(Debug, PartialEq)]
struct Schema {
    ledger: Vec<(i64, String, i64)>,
    objects: Vec<String>,
}

async fn schema(dsn: &str, objects_query: &str) -> Schema {
    use sqlx::{Connection as _, Row as _};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(dsn)
        .await
        .expect("connect to the store's database");
    let ledger =
        sqlx::query("SELECT version, name, applied_at FROM nova_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("read the ledger")
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    let objects = sqlx::query(objects_query)
        .fetch_all(&mut conn)
        .await
        .expect("read the schema")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let _ = conn.close().await;
    Schema { ledger, objects }
}

/// Every migration is in the ledger exactly once, and opening the store again changes nothing:
/// neither the ledger (not re-applied: same times) nor any table, column or index.
fn assert_migrated_once(first: &Schema, again: &Schema) {
    let versions: Vec<(i64, String)> = first
        .ledger
        .iter()
        .map(|(v, n, _)| (*v, n.clone()))
        .collect();
    assert_eq!(
        versions,
        shipped_migrations(),
        "each migration recorded once"
    );
    assert!(
        first.objects.iter().any(|o| o.contains("functions")),
        "the tables exist: {:?}",
        first.objects
    );
    assert_eq!(first, again, "a second open must not migrate again");
}

#[tokio::test]
async fn two_daemons_starting_together_migrate_once() {
    let db = common::databases::FreshDatabase::create().await;
    let (a, b) = tokio::join!(SqlStore::postgres(&db.dsn), SqlStore::postgres(&db.dsn));
    a.expect("first");
    b.expect("second");
    const PG_OBJECTS: &str = "SELECT table_name::text || '.' || column_name::text || ' ' \
         || data_type::text || ' ' || is_nullable::text || ' ' || coalesce(column_default::text, '') \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         UNION ALL SELECT indexdef::text FROM pg_indexes WHERE schemaname = current_schema() \
         ORDER BY 1";
    let first = schema(&db.dsn, PG_OBJECTS).await;
    SqlStore::postgres(&db.dsn).await.expect("third");
    assert_migrated_once(&first, &schema(&db.dsn, PG_OBJECTS).await);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nova.db");
    let (a, b) = tokio::join!(SqlStore::sqlite(&path), SqlStore::sqlite(&path));
    a.expect("first");
    b.expect("second");
    const SQLITE_OBJECTS: &str = "SELECT type || ' ' || name || ' ' || coalesce(sql, '') \
         FROM sqlite_master ORDER BY name";
    let dsn = format!("sqlite://{}", path.display());
    let first = schema(&dsn, SQLITE_OBJECTS).await;
    SqlStore::sqlite(&path).await.expect("third");
    assert_migrated_once(&first, &schema(&dsn, SQLITE_OBJECTS).await);
}

#[tokio::test]
async fn a_bad_dsn_is_named_without_its_password() {
    let err = SqlStore::postgres("postgres://nova:hunter2@127.0.0.1:1/nova")
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("hunter2"),
        "{text}"
    );
}
