//! Reading records from JSONL or CSV. A record that cannot be read stops the build with its line
//! number: nothing is dropped silently.

use std::io::{BufRead, Read};

use serde_json::Value;

use super::BuildError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: `{"key": "...", "value": ...}` (field names configurable). A
    /// string value is stored as its text, anything else as its JSON.
    Jsonl,
    /// Comma-separated; the key and value columns by header name, else the first two columns.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(format!("unknown input format '{other}': use jsonl or csv")),
        }
    }
}

impl Format {
    /// The format a file name implies (`.jsonl`, `.ndjson`, `.csv`).
    pub fn of_path(path: &std::path::Path) -> Option<Format> {
        path.extension()?.to_str()?.parse().ok()
    }
}

/// Which fields hold the key and the value.
#[derive(Debug, Clone)]
pub struct Fields {
    pub key: String,
    pub value: String,
    /// CSV only: whether the first row is a header.
    pub csv_header: bool,
}

/// Calls `each(key, value)` for every record of `input`.
pub fn read(
    format: Format,
    fields: &Fields,
    input: impl Read,
    each: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    match format {
        Format::Jsonl => read_jsonl(fields, input, each),
        Format::Csv => read_csv(fields, input, each),
    }
}

fn read_jsonl(
    fields: &Fields,
    input: impl Read,
    each: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let reader = std::io::BufReader::with_capacity(1 << 20, input);
    for (index, line) in reader.lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| BuildError::Input(line_no, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| BuildError::Input(line_no, m);
        let mut record: serde_json::Map<String, Value> =
            serde_json::from_str(&line).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let key = match record.remove(&fields.key) {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(bad(format!("'{}' must be a string or number", fields.key))),
            None => return Err(bad(format!("no '{}' field", fields.key))),
        };
        let value = match record.remove(&fields.value) {
            Some(Value::String(s)) => s.into_bytes(),
            Some(other) => other.to_string().into_bytes(),
            None => return Err(bad(format!("no '{}' field", fields.value))),
        };
        check_key(line_no, &key)?;
        each(key.into_bytes(), value)?;
    }
    Ok(())
}

fn read_csv(
    fields: &Fields,
    input: impl Read,
    each: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(fields.csv_header)
        .flexible(false)
        .from_reader(input);
    let (key_col, value_col) = if fields.csv_header {
        let headers = reader
            .byte_headers()
            .map_err(|e| BuildError::Input(1, e.to_string()))?;
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h == name.as_bytes())
                .ok_or_else(|| {
                    BuildError::Input(
                        1,
                        format!("no column '{name}' in the header (or pass --no-header)"),
                    )
                })
        };
        (find(&fields.key)?, find(&fields.value)?)
    } else {
        (0, 1)
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| BuildError::Input(line_of(&e), e.to_string()))?;
        if !more {
            return Ok(());
        }
        let line_no = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let (Some(key), Some(value)) = (record.get(key_col), record.get(value_col)) else {
            return Err(BuildError::Input(line_no, "too few columns".into()));
        };
        let key = std::str::from_utf8(key)
            .map_err(|_| BuildError::Input(line_no, "key is not UTF-8".into()))?;
        check_key(line_no, key)?;
        each(key.as_bytes().to_vec(), value.to_vec())?;
    }
}

fn line_of(e: &csv::Error) -> usize {
    e.position().map(|p| p.line() as usize).unwrap_or(0)
}

fn check_key(line_no: usize, key: &str) -> Result<(), BuildError> {
    if key.is_empty() || key.len() > crate::service::MAX_KEY {
        return Err(BuildError::Input(
            line_no,
            format!("a key must be 1 to {} bytes", crate::service::MAX_KEY),
        ));
    }
    Ok(())
}

/// Counts the bytes read, for the progress bar.
pub struct Counting<R> {
    pub inner: R,
    pub progress: indicatif::ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
