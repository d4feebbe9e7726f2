//! `comet kv build-sst`: JSONL or CSV in, RocksDB SST files out, ready for
//! `PUT /admin/databases/{db}/ingest/{dir}` or a puller folder. The input need not be sorted and
//! may be larger than memory ([`sort`]); the last value of a repeated key wins. Values are stored
//! in the service's format, with the Content-Type given, so GET serves them like PUT ones.

mod input;
mod sort;

use std::fs::File;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rocksdb::{Options, SstFileWriter};
use thiserror::Error;

pub use input::{Fields, Format};

use crate::value;

#[derive(Debug, Error)]
pub enum BuildError {
    #[error("input line {0}: {1}")]
    Input(usize, String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("writing SST: {0}")]
    Sst(#[from] rocksdb::Error),
    #[error("{0}")]
    Usage(String),
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub input: PathBuf,
    pub format: Format,
    pub fields: Fields,
    /// Directory for the `.sst` files; created, and must hold no `.sst` file yet.
    pub output: PathBuf,
    pub content_type: Option<String>,
    /// Memory for sorting before spilling a run to disk.
    pub memory_limit: usize,
    /// A new SST file is started past this size.
    pub target_file_size: u64,
    pub progress: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub records: u64,
    pub keys: u64,
    pub files: Vec<PathBuf>,
    pub spilled_runs: usize,
}

pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    if opts
        .content_type
        .as_ref()
        .is_some_and(|ct| ct.len() > value::MAX_CONTENT_TYPE)
    {
        return Err(BuildError::Usage("--content-type is too long".into()));
    }
    std::fs::create_dir_all(&opts.output)?;
    if !crate::service::sst_files(&opts.output)?.is_empty() {
        return Err(BuildError::Usage(format!(
            "{} already holds .sst files: choose an empty directory",
            opts.output.display()
        )));
    }
    let spill = tempfile::Builder::new()
        .prefix(".build-sst-")
        .tempdir_in(&opts.output)?;
    let file = File::open(&opts.input)?;
    let bar = progress_bar(opts.progress, file.metadata()?.len());
    let reader = input::Counting {
        inner: file,
        progress: bar.clone(),
    };
    let mut sorter = sort::Sorter::new(opts.memory_limit, spill.path());
    let mut records = 0u64;
    let content_type = opts.content_type.as_deref();
    input::read(opts.format, &opts.fields, reader, &mut |key, body| {
        records += 1;
        sorter.push(key, value::encode(content_type, &body))
    })?;
    let spilled_runs = sorter.runs();
    bar.set_message("writing SST files");
    let sst_options = Options::default();
    let mut writer = Writer::new(&opts.output, opts.target_file_size, &sst_options);
    sorter.finish(&mut |k, v| writer.put(k, v))?;
    let (keys, files) = writer.finish()?;
    bar.finish_and_clear();
    Ok(BuildReport {
        records,
        keys,
        files,
        spilled_runs,
    })
}

fn progress_bar(show: bool, len: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta}) {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Writes sorted, unique keys into numbered SST files of about `target` bytes each.
struct Writer<'a> {
    dir: &'a Path,
    target: u64,
    options: &'a Options,
    files: Vec<PathBuf>,
    keys: u64,
    current: Option<SstFileWriter<'a>>,
}

impl<'a> Writer<'a> {
    fn new(dir: &'a Path, target: u64, options: &'a Options) -> Writer<'a> {
        Writer {
            dir,
            target,
            options,
            files: Vec::new(),
            keys: 0,
            current: None,
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), BuildError> {
        if self.current.is_none() {
            let path = self.dir.join(format!("{:06}.sst", self.files.len() + 1));
            let writer = SstFileWriter::create(self.options);
            writer.open(&path)?;
            self.files.push(path);
            self.current = Some(writer);
        }
        if let Some(writer) = &mut self.current {
            writer.put(key, value)?;
            self.keys += 1;
            if writer.file_size() >= self.target {
                writer.finish()?;
                self.current = None;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(u64, Vec<PathBuf>), BuildError> {
        if let Some(mut writer) = self.current.take() {
            writer.finish()?;
        }
        Ok((self.keys, self.files))
    }
}
