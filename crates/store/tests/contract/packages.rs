//! The contract of [`PackageStore`]: a package stored whole, replaced by a later apply (its first
//! apply's time kept), listed by name, deleted.

use nova_store::{PackageRecord, PackageStore};

fn package(name: &str, version: &str, at: i64) -> PackageRecord {
    PackageRecord {
        name: name.into(),
        version: Some(version.into()),
        document: serde_json::json!({"name": name, "version": version, "classes": []}),
        created_at_ms: at,
        updated_at_ms: at,
    }
}

pub async fn packages(store: &dyn PackageStore, p: &str) {
    let name = format!("{p}-pkg");
    assert!(store.get_package(&name).await.expect("get").is_none());
    assert!(
        store
            .put_package(&package(&name, "1.0", 1_000))
            .await
            .expect("put")
    );
    assert!(
        !store
            .put_package(&package(&name, "2.0", 2_000))
            .await
            .expect("again")
    );
    let got = store.get_package(&name).await.expect("get").expect("there");
    assert_eq!(
        (got.version.as_deref(), got.created_at_ms, got.updated_at_ms),
        (Some("2.0"), 1_000, 2_000),
        "replaced whole, first apply's time kept"
    );
    assert_eq!(got.document["version"], "2.0");
    let other = format!("{p}-apkg");
    store
        .put_package(&package(&other, "1", 3_000))
        .await
        .expect("put");
    let names: Vec<String> = (store.list_packages().await.expect("list").into_iter())
        .map(|p| p.name)
        .filter(|n| n == &name || n == &other)
        .collect();
    assert_eq!(names, [other.clone(), name.clone()], "by name");
    assert!(store.delete_package(&name).await.expect("delete"));
    assert!(!store.delete_package(&name).await.expect("again"));
    assert!(store.get_package(&name).await.expect("get").is_none());
}
