//! `comet kv build-sst`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use comet_kv::sst::{self, BuildOptions, Fields, Format};

#[derive(Args)]
pub struct BuildSstArgs {
    /// Input file: JSONL (one {"key": ..., "value": ...} object per line) or CSV. Need not be
    /// sorted; the last value of a repeated key wins.
    #[arg(short, long)]
    input: PathBuf,
    /// Output directory for the .sst files (created; must hold no .sst file yet).
    #[arg(short, long)]
    output: PathBuf,
    /// jsonl or csv. Default: from the input's extension.
    #[arg(short, long)]
    format: Option<Format>,
    /// The field (JSONL) or header column (CSV) holding the key.
    #[arg(long, default_value = "key")]
    key_field: String,
    /// The field (JSONL) or header column (CSV) holding the value.
    #[arg(long, default_value = "value")]
    value_field: String,
    /// CSV without a header row: the key is column 1, the value column 2.
    #[arg(long)]
    no_header: bool,
    /// Content-Type that GET serves the values with (default application/octet-stream).
    #[arg(long)]
    content_type: Option<String>,
    /// Memory for sorting, in MiB; more input than this is sorted in runs spilled to disk.
    #[arg(long, default_value_t = 256)]
    memory_mb: usize,
    /// Start a new SST file past this size, in MiB.
    #[arg(long, default_value_t = 256)]
    file_size_mb: u64,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

pub fn build_sst(a: BuildSstArgs) -> Result<ExitCode> {
    let Some(format) = a.format.or_else(|| Format::of_path(&a.input)) else {
        bail!(
            "cannot tell the format of {} from its extension: pass --format jsonl or csv",
            a.input.display()
        );
    };
    if a.memory_mb == 0 || a.file_size_mb == 0 {
        bail!("--memory-mb and --file-size-mb must be at least 1");
    }
    let report = sst::build(&BuildOptions {
        input: a.input,
        format,
        fields: Fields {
            key: a.key_field,
            value: a.value_field,
            csv_header: !a.no_header,
        },
        output: a.output.clone(),
        content_type: a.content_type,
        memory_limit: a.memory_mb * 1024 * 1024,
        target_file_size: a.file_size_mb * 1024 * 1024,
        progress: !a.quiet,
    })?;
    println!(
        "{} records, {} keys, {} SST files in {} ({} sorted runs spilled to disk)",
        report.records,
        report.keys,
        report.files.len(),
        a.output.display(),
        report.spilled_runs
    );
    Ok(ExitCode::SUCCESS)
}
