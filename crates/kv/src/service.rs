//! [`Kv`]: the service behind the routes. It owns the open databases, the tokens, the base paths
//! of admin operations and the metrics; the HTTP layer only parses, calls one method and maps the
//! result.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;

use crate::auth::{AuthError, Scope, Tokens};
use crate::config::KvConfig;
use crate::database::{Database, IngestRecord};
use crate::engine::{EngineError, WriteOp};
use crate::error::KvError;
use crate::metrics::Metrics;
use crate::paths;
use crate::puller::Puller;
use crate::value::{self, StoredValue};

/// Longest key accepted.
pub const MAX_KEY: usize = 4096;
/// Most keys one multi-get may ask for.
pub const MAX_MULTI_GET: usize = 1000;

#[derive(Debug, Error)]
pub enum OpenError {
    #[error("database '{name}' at {path}: {source}")]
    Database {
        name: String,
        path: PathBuf,
        source: EngineError,
    },
    #[error("database '{0}' is configured twice")]
    Duplicate(String),
    #[error("database '{0}': {1}")]
    Invalid(String, String),
    #[error(transparent)]
    Tokens(#[from] AuthError),
    #[error("{path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct Kv {
    databases: HashMap<String, Arc<Database>>,
    pullers: HashMap<String, Arc<Puller>>,
    tokens: Tokens,
    backup_path: PathBuf,
    ingest_path: PathBuf,
    max_value_size: usize,
    config: KvConfig,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.databases.keys().collect();
        names.sort();
        f.debug_struct("Kv").field("databases", &names).finish()
    }
}

impl Kv {
    /// Opens every configured database. Call [`KvConfig::with_defaults`] first.
    pub fn open(config: KvConfig) -> Result<Kv, OpenError> {
        let tokens = Tokens::from_config(&config.tokens)?;
        let backup_path = config.backup_path.clone().unwrap_or_default();
        let ingest_path = config.ingest_path.clone().unwrap_or_default();
        for path in [&backup_path, &ingest_path] {
            std::fs::create_dir_all(path).map_err(|source| OpenError::Dir {
                path: path.clone(),
                source,
            })?;
        }
        let mut databases = HashMap::new();
        let mut pullers = HashMap::new();
        for db in &config.databases {
            validate(db)?;
            let opened = Database::open(db).map_err(|source| OpenError::Database {
                name: db.name.clone(),
                path: db.path.clone(),
                source,
            })?;
            let opened = Arc::new(opened);
            if let Some(p) = &db.puller {
                let staging = ingest_path.join(".pulled").join(&db.name);
                let puller = Puller::new(opened.clone(), p.clone(), staging)
                    .map_err(|e| OpenError::Invalid(db.name.clone(), e.to_string()))?;
                pullers.insert(db.name.clone(), Arc::new(puller));
            }
            if databases.insert(db.name.clone(), opened).is_some() {
                return Err(OpenError::Duplicate(db.name.clone()));
            }
        }
        let mut names: Vec<String> = databases.keys().cloned().collect();
        names.sort();
        if tokens.is_open() {
            tracing::warn!(
                "KV: NO TOKENS CONFIGURED: every KV and admin route is open to anyone who can \
                 reach this port. Add kv.tokens to the config file."
            );
        }
        Ok(Kv {
            databases,
            pullers,
            tokens,
            backup_path,
            ingest_path,
            max_value_size: config.max_value_size(),
            metrics: Metrics::new(&names),
            config,
        })
    }

    pub fn config(&self) -> &KvConfig {
        &self.config
    }

    pub fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    pub fn authorize(&self, authorization: Option<&[u8]>, scope: Scope) -> Result<(), KvError> {
        Ok(self.tokens.check(authorization, scope)?)
    }

    pub fn database(&self, name: &str) -> Result<&Arc<Database>, KvError> {
        self.databases
            .get(name)
            .ok_or_else(|| KvError::UnknownDatabase(name.into()))
    }

    pub fn databases(&self) -> impl Iterator<Item = &Arc<Database>> {
        self.databases.values()
    }

    pub fn get(&self, db: &str, key: &str) -> Result<StoredValue, KvError> {
        check_key(key)?;
        let raw = self.database(db)?.engine().get(key.as_bytes())?;
        raw.map(|raw| StoredValue::decode(Bytes::from(raw)))
            .ok_or(KvError::KeyNotFound)
    }

    pub async fn put(
        &self,
        db: &str,
        key: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), KvError> {
        check_key(key)?;
        if body.len() > self.max_value_size {
            return Err(KvError::TooLarge {
                max: self.max_value_size,
            });
        }
        if content_type.is_some_and(|ct| ct.len() > value::MAX_CONTENT_TYPE) {
            return Err(KvError::BadRequest(format!(
                "Content-Type longer than {} bytes",
                value::MAX_CONTENT_TYPE
            )));
        }
        // What `value` can tell apart from a foreign value: anything else would be served back
        // with our header glued to the body.
        if content_type.is_some_and(|ct| !ct.bytes().all(|b| (0x20..0x7f).contains(&b))) {
            return Err(KvError::BadRequest(
                "Content-Type must be printable ASCII".into(),
            ));
        }
        let op = WriteOp::Put {
            key: key.as_bytes().to_vec(),
            value: value::encode(content_type, body),
        };
        self.database(db)?.write(op, "a write").await
    }

    pub async fn delete(&self, db: &str, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        let op = WriteOp::Delete {
            key: key.as_bytes().to_vec(),
        };
        self.database(db)?.write(op, "a delete").await
    }

    pub fn multi_get(
        &self,
        db: &str,
        keys: &[String],
    ) -> Result<Vec<Option<StoredValue>>, KvError> {
        if keys.is_empty() || keys.len() > MAX_MULTI_GET {
            return Err(KvError::BadRequest(format!(
                "ask for 1 to {MAX_MULTI_GET} keys: ?keys=a&keys=b"
            )));
        }
        keys.iter().try_for_each(|k| check_key(k))?;
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let values = self.database(db)?.engine().multi_get(&refs)?;
        Ok(values
            .into_iter()
            .map(|v| v.map(|raw| StoredValue::decode(Bytes::from(raw))))
            .collect())
    }

    pub fn count(&self, db: &str) -> Result<u64, KvError> {
        Ok(self.database(db)?.engine().estimate_count()?)
    }

    pub fn property(&self, db: &str, name: &str) -> Result<String, KvError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KvError::BadRequest(format!("no such property '{name}'")));
        }
        self.database(db)?
            .engine()
            .property(name)?
            .ok_or_else(|| KvError::BadRequest(format!("no such property '{name}'")))
    }

    /// Writes a checkpoint to `<backup_path>/<dir>`, which must not exist yet.
    pub fn checkpoint(&self, db: &str, dir: &str) -> Result<PathBuf, KvError> {
        let database = self.database(db)?;
        let target = paths::under(&self.backup_path, dir)?;
        if target.symlink_metadata().is_ok() {
            return Err(KvError::Exists(dir.into()));
        }
        match database.engine().checkpoint(&target) {
            Ok(()) => Ok(target),
            // Another checkpoint to the same name won the race.
            Err(_) if target.symlink_metadata().is_ok() => Err(KvError::Exists(dir.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Ingests the `.sst` files of `<ingest_path>/<dir>`, in name order.
    pub fn ingest(&self, db: &str, dir: &str) -> Result<IngestRecord, KvError> {
        let database = self.database(db)?;
        database.writable("ingest")?;
        let source = paths::existing_under(&self.ingest_path, dir)?;
        let files = sst_files(&source)?;
        if let Some(bad) = files
            .iter()
            .find(|f| !paths::resolves_inside(&self.ingest_path, f))
        {
            return Err(paths::PathError::Escapes(bad.display().to_string()).into());
        }
        database.ingest(dir, &files, false)
    }

    pub fn last_ingest(&self, db: &str) -> Result<Option<IngestRecord>, KvError> {
        self.database(db)?.last_ingest()
    }

    pub fn catch_up(&self, db: &str) -> Result<(), KvError> {
        self.database(db)?.catch_up()
    }

    pub fn puller(&self, db: &str) -> Result<&Arc<Puller>, KvError> {
        self.database(db)?;
        self.pullers
            .get(db)
            .ok_or_else(|| KvError::NoPuller(db.into()))
    }

    pub fn pullers(&self) -> impl Iterator<Item = &Arc<Puller>> {
        self.pullers.values()
    }
}

fn validate(db: &crate::config::DatabaseConfig) -> Result<(), OpenError> {
    use crate::config::DbMode;
    let invalid = |m: &str| Err(OpenError::Invalid(db.name.clone(), m.into()));
    if db.name.is_empty() || db.name.contains('/') {
        return invalid("a name must be non-empty and have no '/'");
    }
    match (db.mode, &db.primary) {
        (DbMode::Secondary, None) => invalid("a secondary needs `primary`, its primary's path"),
        (DbMode::ReadWrite | DbMode::ReadOnly, Some(_)) => invalid("`primary` is for secondaries"),
        _ if db.catch_up_interval.is_some() && db.mode != DbMode::Secondary => {
            invalid("`catch_up_interval` is for secondaries")
        }
        _ if db.puller.is_some() && db.mode != DbMode::ReadWrite => {
            invalid("a puller needs a read-write database")
        }
        _ => Ok(()),
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(bad_key_length());
    }
    Ok(())
}

/// What a key that is empty or longer than [`MAX_KEY`] is refused with.
pub(crate) fn bad_key_length() -> KvError {
    KvError::BadRequest(format!("a key must be 1 to {MAX_KEY} bytes"))
}

/// The `.sst` files directly inside `dir`, sorted by name.
pub fn sst_files(dir: &std::path::Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "sst") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
