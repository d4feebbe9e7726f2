use super::*;

#[test]
fn addresses() {
    assert_eq!(parse_addr(":8080").expect("ok").to_string(), "0.0.0.0:8080");
    assert_eq!(
        parse_addr("localhost:1").expect("ok").to_string(),
        "127.0.0.1:1"
    );
    assert_eq!(parse_addr("[::1]:80").expect("ok").to_string(), "[::1]:80");
    assert!(parse_addr("8080").is_err());
    assert!(parse_addr("host:99999").is_err());
}

#[test]
fn durations() {
    assert_eq!(
        parse_duration("t", "60s").expect("ok"),
        Duration::from_secs(60)
    );
    assert_eq!(
        parse_duration("t", "90").expect("ok"),
        Duration::from_secs(90)
    );
    assert_eq!(
        parse_duration("t", "250ms").expect("ok"),
        Duration::from_millis(250)
    );
    assert!(parse_duration("t", "0s").is_err());
    assert!(parse_duration("t", "soon").is_err());
}

#[test]
fn file_then_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nova.yaml");
    std::fs::write(&path, "http:\n  addr: ':9000'\npool:\n  idle_ttl: 5s\n").expect("write");
    let mut o = Overrides {
        config_file: Some(path.clone()),
        data_dir: Some(dir.path().into()),
        ..Overrides::default()
    };
    let s = Settings::resolve(&o).expect("settings");
    assert_eq!(
        (s.http_addr.port(), s.idle_ttl),
        (9000, Duration::from_secs(5))
    );
    o.http_addr = Some("127.0.0.1:9100".into());
    assert_eq!(
        Settings::resolve(&o).expect("settings").http_addr.port(),
        9100
    );
}

#[test]
fn unknown_keys_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nova.yaml");
    std::fs::write(&path, "pool:\n  idle_tll: 5s\n").expect("write");
    let err = comet_plumbing::load_file::<FileConfig>(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("idle_tll"), "{err}");
}

#[test]
fn the_printed_default_parses() {
    let parsed: FileConfig = serde_yaml::from_str(&default_file()).expect("default file parses");
    assert_eq!(parsed.http.addr.as_deref(), Some(DEFAULT_HTTP_ADDR));
}

/// defaults < file < environment < flags, for settings whose variable has no flag and for one
/// whose flag carries its variable.
#[test]
fn environment_between_file_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nova.yaml");
    std::fs::write(
        &path,
        "runtimes:\n  python: /file/python\nauth:\n  allow_anonymous: false\n\
         sandbox:\n  isolation: required\nredis:\n  addr: file:1\ncomet:\n  token: file-token\n",
    )
    .expect("write");
    let file_only = Overrides {
        config_file: Some(path.clone()),
        data_dir: Some(dir.path().into()),
        ..Overrides::default()
    };
    let s = Settings::resolve(&file_only).expect("settings");
    assert_eq!(
        s.python.as_deref(),
        Some(std::path::Path::new("/file/python"))
    );
    assert!(!s.allow_anonymous);
    assert_eq!(s.isolation.mode, IsolationMode::Required);
    assert_eq!(s.redis_url.as_deref(), Some("redis://file:1/0"));
    assert_eq!(s.comet_token, Some(Hidden("file-token".into())));
    assert_eq!(s.master_key, None);

    let vars = [
        ("NOVA_PYTHON", "/env/python"),
        ("NOVA_ALLOW_ANONYMOUS", "yes"),
        ("NOVA_ISOLATION", "off"),
        ("NOVA_REDIS_ADDR", "env:2"),
        ("NOVA_REDIS_DB", "3"),
        ("NOVA_COMET_TOKEN", "env-token"),
        ("NOVA_MASTER_KEY", "a2V5"),
        ("NOVA_MASTER_KEY_FILE", ""),
    ];
    let env = Environment::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| std::ffi::OsString::from(v))
    });
    let with_env = Overrides {
        env: env.clone(),
        ..file_only.clone()
    };
    let s = Settings::resolve(&with_env).expect("settings");
    assert_eq!(
        s.python.as_deref(),
        Some(std::path::Path::new("/env/python"))
    );
    assert!(s.allow_anonymous);
    assert_eq!(s.isolation.mode, IsolationMode::Off);
    assert_eq!(s.redis_url.as_deref(), Some("redis://env:2/3"));
    assert_eq!(s.comet_token, Some(Hidden("env-token".into())));
    assert_eq!(s.master_key, Some(Hidden("a2V5".into())));
    // Empty counts as unset.
    assert_eq!(s.master_key_file, None);
    // Secrets do not show in Debug output.
    let shown = format!("{s:?} {env:?}");
    assert!(
        !shown.contains("env-token") && !shown.contains("a2V5"),
        "{shown}"
    );

    let with_flags = Overrides {
        redis_addr: Some("flag:4".into()),
        redis_db: Some(5),
        ..with_env.clone()
    };
    let s = Settings::resolve(&with_flags).expect("settings");
    assert_eq!(s.redis_url.as_deref(), Some("redis://flag:4/5"));

    let bad = Overrides {
        env: Environment {
            allow_anonymous: Some("maybe".into()),
            ..Environment::default()
        },
        ..file_only
    };
    let err = Settings::resolve(&bad).unwrap_err().to_string();
    assert!(err.contains("NOVA_ALLOW_ANONYMOUS"), "{err}");
}

#[test]
fn a_relative_data_dir_is_made_absolute() {
    let o = Overrides {
        data_dir: Some("relative/data".into()),
        ..Overrides::default()
    };
    let settings = Settings::resolve(&o).expect("settings");
    assert!(settings.data_dir.is_absolute(), "{:?}", settings.data_dir);
    assert!(settings.data_dir.ends_with("relative/data"));
}
