//! The contract of [`VersionStore`], with the [`FunctionStore`] that writes the versions.

use nova_api::Function;
use nova_store::{FunctionStore, Kind, StoreError, VersionQuery, VersionStore};

use super::function;

/// Versions: one per write, newest first, immutable, paged; old code kept while a version uses
/// it; publishing describes the current version once; a delete takes them all.
pub async fn versions(functions: &dyn FunctionStore, store: &dyn VersionStore, p: &str) {
    let name = format!("{p}-versioned");
    let (old, new) = (b"print('one')".to_vec(), b"print('two')".to_vec());
    let v1 = function(&name, &old, 1);
    functions.insert_function(&v1, &old).await.expect("insert");
    let v2 = Function {
        id: v1.id.clone(),
        ..function(&name, &new, 2)
    };
    functions
        .replace_function(&v2, Some(&new), 1)
        .await
        .expect("new code");
    let v3 = Function {
        memory_mb: 256,
        version: 3,
        updated_at: "2030-01-02T03:04:05.006Z".into(),
        ..v2.clone()
    };
    functions
        .replace_function(&v3, None, 2)
        .await
        .expect("new settings");

    let all = store
        .list_versions(&name, &VersionQuery::default())
        .await
        .expect("list");
    let listed: Vec<(u64, &str, u32)> = all
        .iter()
        .map(|v| {
            let f = &v.function;
            (f.version, f.code_hash.as_str(), f.memory_mb)
        })
        .collect();
    assert_eq!(
        listed,
        [
            (3, v3.code_hash.as_str(), 256),
            (2, v2.code_hash.as_str(), 128),
            (1, v1.code_hash.as_str(), 128)
        ]
    );
    assert!(all.iter().all(|v| v.description.is_empty()));
    // A version's created_at is when the version was made, not when the function was.
    assert_eq!(all[0].function.created_at, "2030-01-02T03:04:05.006Z");
    assert!(
        all.iter()
            .all(|v| v.function.created_at == v.function.updated_at)
    );
    let first = store.get_version(&name, 1).await.expect("get").expect("v1");
    assert_eq!(first.function, v1, "version 1 is the function as it was");
    assert_eq!(store.get_version(&name, 4).await.expect("get"), None);
    assert_eq!(store.get_version(&name, u64::MAX).await.expect("get"), None);
    let page = VersionQuery {
        limit: 1,
        offset: 1,
    };
    let second = store.list_versions(&name, &page).await.expect("page");
    assert_eq!(
        second
            .iter()
            .map(|v| v.function.version)
            .collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(
        functions.get_code(&v1.code_hash).await.expect("code"),
        Some(old.clone()),
        "version 1 keeps its code"
    );

    // Publishing describes the current version; a described one keeps its description.
    let published = store
        .publish_version(&name, "first release")
        .await
        .expect("publish");
    assert_eq!(
        (published.function.version, published.description.as_str()),
        (3, "first release")
    );
    assert_eq!(
        published.function,
        Function {
            created_at: v3.updated_at.clone(),
            ..v3.clone()
        }
    );
    let again = store.publish_version(&name, "other").await.expect("again");
    assert_eq!(again, published, "nothing changed: the same version");
    assert_eq!(
        store
            .list_versions(&name, &VersionQuery::default())
            .await
            .expect("list")
            .len(),
        3
    );
    let missing = store
        .publish_version(&format!("{p}-nobody"), "x")
        .await
        .expect_err("no such function");
    assert!(
        matches!(
            missing,
            StoreError::NotFound {
                kind: Kind::Function,
                ..
            }
        ),
        "{missing:?}"
    );
    let none = store
        .list_versions(&format!("{p}-nobody"), &VersionQuery::default())
        .await
        .expect("list");
    assert!(none.is_empty());

    // A delete takes every version and the code only they used.
    assert!(functions.delete_function(&name).await.expect("delete"));
    let gone = store
        .list_versions(&name, &VersionQuery::default())
        .await
        .expect("list");
    assert!(gone.is_empty());
    assert_eq!(functions.get_code(&v1.code_hash).await.expect("code"), None);
    assert_eq!(functions.get_code(&v2.code_hash).await.expect("code"), None);

    // Registered again, the name starts over at version 1.
    let reborn = function(&name, &new, 1);
    functions
        .insert_function(&reborn, &new)
        .await
        .expect("again");
    let versions = store
        .list_versions(&name, &VersionQuery::default())
        .await
        .expect("list");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].function, reborn);
    assert!(functions.delete_function(&name).await.expect("delete"));
}
