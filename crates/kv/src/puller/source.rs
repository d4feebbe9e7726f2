//! Where pulled folders come from, through the object_store crate: a plain path is a local
//! directory; a URL (`file:///…`, `memory:///`, `s3://bucket/prefix`) names an object store,
//! configured from the environment (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, …) for S3.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, parse_url_opts};
use tokio::io::AsyncWriteExt;

use crate::error::KvError;

/// Name of the marker that says a folder is complete.
pub const SUCCESS_MARKER: &str = "_SUCCESS";

pub struct Source {
    store: Box<dyn ObjectStore>,
    prefix: ObjectPath,
}

/// A `<base>_<n>` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub n: u64,
    location: ObjectPath,
}

impl Source {
    pub fn open(source: &str) -> Result<Source, object_store::Error> {
        if source.contains("://") {
            let url = url::Url::parse(source).map_err(|e| object_store::Error::Generic {
                store: "url",
                source: Box::new(e),
            })?;
            let env = std::env::vars().filter(|(k, _)| k.starts_with("AWS_"));
            let options = env.map(|(k, v)| (k.to_ascii_lowercase(), v));
            let (store, prefix) = parse_url_opts(&url, options)?;
            return Ok(Source { store, prefix });
        }
        Ok(Source {
            store: Box::new(LocalFileSystem::new_with_prefix(source)?),
            prefix: ObjectPath::default(),
        })
    }

    /// The `<base>_<n>` folders, by `n`.
    pub async fn folders(&self, base: &str) -> Result<Vec<Folder>, object_store::Error> {
        let listing = self.store.list_with_delimiter(Some(&self.prefix)).await?;
        let mut folders: Vec<Folder> = listing
            .common_prefixes
            .into_iter()
            .filter_map(|location| {
                let name = location.filename()?.to_string();
                let n = name.strip_prefix(base)?.strip_prefix('_')?.parse().ok()?;
                Some(Folder { name, n, location })
            })
            .collect();
        folders.sort_by_key(|f| f.n);
        Ok(folders)
    }

    pub async fn is_complete(&self, folder: &Folder) -> bool {
        self.store
            .head(&folder.location.child(SUCCESS_MARKER))
            .await
            .is_ok()
    }

    /// Downloads the `.sst` files directly inside the folder into `dir`; returns their paths,
    /// sorted.
    pub async fn download_ssts(
        &self,
        folder: &Folder,
        dir: &Path,
    ) -> Result<Vec<PathBuf>, KvError> {
        // Only the folder's own files: not its subfolders (a writer's leftover `_temporary`).
        let listing = self
            .store
            .list_with_delimiter(Some(&folder.location))
            .await
            .map_err(source_error)?;
        let mut files = Vec::new();
        for meta in listing.objects {
            let Some(name) = meta.location.filename().filter(|n| n.ends_with(".sst")) else {
                continue;
            };
            let target = dir.join(name);
            let mut out = tokio::fs::File::create(&target).await?;
            let mut body = self
                .store
                .get(&meta.location)
                .await
                .map_err(source_error)?
                .into_stream();
            while let Some(chunk) = body.next().await {
                out.write_all(&chunk.map_err(source_error)?).await?;
            }
            out.sync_all().await?;
            files.push(target);
        }
        files.sort();
        Ok(files)
    }
}

fn source_error(e: object_store::Error) -> KvError {
    KvError::Io(std::io::Error::other(e.to_string()))
}
