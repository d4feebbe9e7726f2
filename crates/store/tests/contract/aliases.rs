//! The contract of [`AliasStore`], with the [`FunctionStore`] whose versions aliases point at.

use std::collections::BTreeMap;

use nova_api::{Function, FunctionAlias};
use nova_store::{AliasStore, FunctionStore, Kind, StoreError};

use super::function;

fn alias(function: &str, name: &str, version: u64, routing: &[(u64, u8)]) -> FunctionAlias {
    FunctionAlias {
        function: function.into(),
        name: name.into(),
        version,
        routing: routing.iter().copied().collect(),
        description: String::new(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// Aliases: written only over existing versions, created once or replaced (keeping created_at),
/// listed by name, deleted; the versions they point at keep their code; a function's delete (or
/// a new function of the same name) takes them.
pub async fn aliases(functions: &dyn FunctionStore, store: &dyn AliasStore, p: &str) {
    let name = format!("{p}-aliased");
    let (one, two) = (b"print('one')".to_vec(), b"print('two')".to_vec());
    let v1 = function(&name, &one, 1);
    functions.insert_function(&v1, &one).await.expect("insert");
    let v2 = Function {
        id: v1.id.clone(),
        ..function(&name, &two, 2)
    };
    functions
        .replace_function(&v2, Some(&two), 1)
        .await
        .expect("update");

    let missing = store
        .put_alias(&alias(&format!("{p}-nothing"), "live", 1, &[]), true)
        .await
        .expect_err("no such function");
    assert!(
        matches!(
            &missing,
            StoreError::NotFound {
                kind: Kind::Function,
                ..
            }
        ),
        "{missing:?}"
    );
    for bad in [
        alias(&name, "live", 3, &[]),
        alias(&name, "live", 1, &[(9, 10)]),
    ] {
        let refused = store.put_alias(&bad, true).await.expect_err("no version");
        assert!(
            matches!(
                &refused,
                StoreError::NotFound {
                    kind: Kind::Version,
                    ..
                }
            ),
            "{refused:?}"
        );
    }
    assert!(store.get_alias(&name, "live").await.expect("get").is_none());

    let live = store
        .put_alias(&alias(&name, "live", 1, &[(2, 10)]), false)
        .await
        .expect("create");
    assert_eq!(
        (live.version, live.routing.clone()),
        (1, BTreeMap::from([(2, 10)]))
    );
    assert!(!live.created_at.is_empty() && live.created_at == live.updated_at);
    let taken = store
        .put_alias(&alias(&name, "live", 2, &[]), false)
        .await
        .expect_err("taken");
    assert!(
        matches!(
            &taken,
            StoreError::AlreadyExists {
                kind: Kind::Alias,
                ..
            }
        ),
        "{taken:?}"
    );
    assert_eq!(taken.to_string(), "alias 'live' already exists");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let moved = store
        .put_alias(
            &FunctionAlias {
                description: "all on two".into(),
                ..alias(&name, "live", 2, &[])
            },
            true,
        )
        .await
        .expect("replace");
    assert_eq!((moved.version, moved.routing.len()), (2, 0));
    assert_eq!(moved.description, "all on two");
    assert_eq!(moved.created_at, live.created_at, "created_at kept");
    assert_ne!(moved.updated_at, live.updated_at);
    assert_eq!(
        store.get_alias(&name, "live").await.expect("get"),
        Some(moved.clone())
    );
    store
        .put_alias(&alias(&name, "beta", 1, &[]), false)
        .await
        .expect("second alias");
    let listed: Vec<String> = store
        .list_aliases(&name)
        .await
        .expect("list")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(listed, ["beta", "live"]);

    // Version 1's code stays while "beta" points at it (and its version exists).
    assert_eq!(
        functions.get_code(&v1.code_hash).await.expect("code"),
        Some(one.clone())
    );

    assert!(store.delete_alias(&name, "beta").await.expect("delete"));
    assert!(!store.delete_alias(&name, "beta").await.expect("gone"));
    assert!(functions.delete_function(&name).await.expect("delete fn"));
    assert!(store.list_aliases(&name).await.expect("list").is_empty());
    functions.insert_function(&v1, &one).await.expect("again");
    assert!(
        store.get_alias(&name, "live").await.expect("get").is_none(),
        "a new function of the name has no aliases"
    );
    functions.delete_function(&name).await.expect("clean up");
}
