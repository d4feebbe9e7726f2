//! Migrations: every shipped one applied exactly once however many daemons open the store
//! together, on SQLite and on a fresh Postgres database; a store opened again left as it was;
//! shipped files never edited; and data from before a migration carried into it.

use nova_store::testing::FreshDatabase;
use nova_store::{KeyStore as _, SettingStore as _, SqlStore};
use sha2::{Digest as _, Sha256};

/// (version, name) of every migration shipped in `migrations/`, oldest first.
fn shipped_migrations() -> Vec<(i64, String)> {
    let mut shipped: Vec<(i64, String)> = migration_files()
        .iter()
        .map(|(file, _)| {
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

/// Every file in `migrations/` and its bytes, by name.
fn migration_files() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("migrations directory")
        .map(|e| {
            let entry = e.expect("entry");
            let file = entry.file_name().to_string_lossy().into_owned();
            (file, std::fs::read(entry.path()).expect("read a migration"))
        })
        .collect();
    files.sort();
    files
}

/// A database that applied a migration never applies it again, so a shipped migration must not
/// change: a new one is added instead. Add the new file's digest here.
#[test]
fn shipped_migrations_are_never_edited() {
    const SHIPPED: &[(&str, &str)] = &[
        (
            "0001_functions.sql",
            "139a4059d9c17f6663b53b9e44648c2d6358a00a254eb2dc43199368bdf326c7",
        ),
        (
            "0002_network.sql",
            "aac7cd1271d8d51604749abfc94675c78839c42753b502bf01c3320f925ee7e9",
        ),
        (
            "0003_invocations.sql",
            "5aa499be557c0d16bd7bdc4e24d35be4c2905a01356689b71172630a78243aec",
        ),
        (
            "0004_api_keys.sql",
            "92c70640d7d3d8937ac83062f827d39363660f8209bc820f3413c8e584eb52b6",
        ),
        (
            "0005_secrets.sql",
            "dfbb7b8aff81aaa5408e9b1a6b5b3f9494435220e235b635fed4d270ac585053",
        ),
        (
            "0006_store_identity.sql",
            "4375eb53c9aa88a2ffdf7e5b4cbbc19d9a88b05919cdded7db8ccba6fbe57ba6",
        ),
        (
            "0007_settings.sql",
            "c88084a6fd678d6389ea7d15cd8327d882707e0330ccaaf30e833b4637ae4bc4",
        ),
        (
            "0008_versions.sql",
            "4db3eae25488a003cc828573bc79001b19fd50bf039686555823b2faf4af3f07",
        ),
        (
            "0009_aliases.sql",
            "65ec786f68b6e6b18a669e20b54cbf5f9a8701b5b71559f6e88982934c90c811",
        ),
        (
            "0010_async.sql",
            "379cb8fd17cd251b06c75b62be214f891fbc9f683f548a7e0bd55adbf4e62efe",
        ),
        (
            "0011_schedules.sql",
            "6569b7aac2a5761ba64a3a2de5dd93e6db4c1f7b2c3869aec9fef2e2cf0d77ab",
        ),
        (
            "0012_async_configs.sql",
            "0df83e1dae9c688596c7fc6bd07db3d0a0a05b1d4d944632ae42b19c7adc9e2f",
        ),
        (
            "0013_async_claim_indexes.sql",
            "6f98bef9208b6cd62ab7b253b771c2e2677446779fe082146f2ba21b0bb25226",
        ),
        (
            "0014_packages.sql",
            "28204afa42bc490b4f908e3f2f60f7a803eb056608f8d03a6d595fd109246348",
        ),
    ];
    let found: Vec<(String, String)> = migration_files()
        .into_iter()
        .map(|(file, bytes)| (file, hex::encode(Sha256::digest(bytes))))
        .collect();
    let expected: Vec<(String, String)> = SHIPPED
        .iter()
        .map(|(f, d)| (f.to_string(), d.to_string()))
        .collect();
    assert_eq!(found, expected);
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
    let db = FreshDatabase::create().await;
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

/// Issue 13, point 9: several daemons opening one fresh Postgres schema at once all start (the
/// ledger's own CREATE TABLE raced on the catalog before the lock came first).
#[tokio::test]
async fn daemons_starting_together_on_a_fresh_schema_all_start() {
    for _ in 0..3 {
        let db = FreshDatabase::create().await;
        let open = || SqlStore::postgres(&db.dsn);
        let (a, b, c, d) = tokio::join!(open(), open(), open(), open());
        for opened in [a, b, c, d] {
            if let Err(e) = opened {
                panic!("a daemon starting beside others failed: {e}");
            }
        }
        // A worker reading the keys creates nothing, and finds the store usable.
        let keys = nova_keys::sql::SqlKeys::open(&db.dsn).await.expect("open");
        assert!(
            !nova_keys::KeySource::keys_required(&keys)
                .await
                .expect("read")
        );
    }
}

/// A store that had keys before the mark existed gets it when migration 7 runs (both
/// databases), so upgrading does not open an API whose keys have all expired.
#[tokio::test]
async fn the_mark_is_backfilled_from_existing_keys() {
    let db = FreshDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("nova.db").display());
    for (location, postgres) in [(db.dsn.clone(), true), (sqlite, false)] {
        let open = || async {
            if postgres {
                SqlStore::postgres(&location).await
            } else {
                SqlStore::sqlite(&dir.path().join("nova.db")).await
            }
            .expect("open")
        };
        let store = open().await;
        let mut key = nova_keys::mint("old", &[nova_keys::Scope::Admin], None, 0).record;
        key.expires_at = Some(1);
        store.insert_api_key(&key).await.expect("insert");
        assert!(store.keys_required().await.expect("read"));
        drop(store);
        // As the store was before migration 7.
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&location)
            .await
            .expect("connect");
        sqlx::raw_sql("DROP TABLE nova_settings; DELETE FROM nova_migrations WHERE version = 7")
            .execute(&mut conn)
            .await
            .expect("undo migration 7");
        let store = open().await;
        assert_eq!(
            store
                .setting("keys_required")
                .await
                .expect("read")
                .as_deref(),
            Some("1"),
            "backfilled ({location})"
        );
    }
}

/// A store that had functions before versions were kept gets each one's current state as a
/// version when migration 8 runs (both databases), its code kept by it, so upgrading loses
/// nothing.
#[tokio::test]
async fn current_functions_become_versions() {
    use nova_store::{FunctionStore as _, VersionQuery, VersionStore as _};
    let db = FreshDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("nova.db").display());
    for (location, postgres) in [(db.dsn.clone(), true), (sqlite, false)] {
        let open = || async {
            if postgres {
                SqlStore::postgres(&location).await
            } else {
                SqlStore::sqlite(&dir.path().join("nova.db")).await
            }
            .expect("open")
        };
        let store = open().await;
        let code = b"print('kept')".to_vec();
        let now = nova_store::record_now();
        let function = nova_api::Function {
            id: "id-1".into(),
            name: "old".into(),
            runtime: nova_api::Runtime::Python,
            handler: "main.handler".into(),
            mode: nova_api::Mode::Process,
            network: nova_api::Network::None,
            memory_mb: 64,
            timeout_s: 5,
            min_replicas: 0,
            max_replicas: 0,
            instance_concurrency: 1,
            env_vars: Default::default(),
            limits: Default::default(),
            version: 7,
            code_hash: nova_api::code_hash(&code),
            code_size: code.len() as u64,
            created_at: now.clone(),
            updated_at: now,
        };
        store
            .insert_function(&function, &code)
            .await
            .expect("insert");
        drop(store);
        // As the store was before migration 8.
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&location)
            .await
            .expect("connect");
        sqlx::raw_sql(
            "DROP TABLE function_versions; DELETE FROM nova_migrations WHERE version = 8",
        )
        .execute(&mut conn)
        .await
        .expect("undo migration 8");
        let store = open().await;
        let versions = store
            .list_versions("old", &VersionQuery::default())
            .await
            .expect("list");
        assert_eq!(versions.len(), 1, "{location}");
        assert_eq!(versions[0].function, function, "{location}");
        assert!(store.delete_function("old").await.expect("delete"));
    }
}
