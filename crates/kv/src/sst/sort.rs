//! External sort for inputs larger than memory: records are gathered into a buffer; a full buffer
//! is sorted, reduced to the last value of each key, and spilled to a run file; the runs are then
//! merged. Later input wins over earlier input for the same key, inside a run (stable sort) and
//! across runs (the later run wins).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::BuildError;

pub type Record = (Vec<u8>, Vec<u8>);
/// Receives each unique key, in order, with its last value.
pub type Sink<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<(), BuildError>;

pub struct Sorter {
    buffer: Vec<Record>,
    buffered_bytes: usize,
    memory_limit: usize,
    spill_dir: PathBuf,
    runs: Vec<PathBuf>,
}

impl Sorter {
    pub fn new(memory_limit: usize, spill_dir: &Path) -> Sorter {
        Sorter {
            buffer: Vec::new(),
            buffered_bytes: 0,
            memory_limit,
            spill_dir: spill_dir.to_path_buf(),
            runs: Vec::new(),
        }
    }

    pub fn push(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), BuildError> {
        // Vec headers and allocator slack count too, roughly.
        self.buffered_bytes += key.len() + value.len() + 64;
        self.buffer.push((key, value));
        if self.buffered_bytes >= self.memory_limit {
            self.spill()?;
        }
        Ok(())
    }

    /// How many run files were written so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> Result<(), BuildError> {
        let records = sorted_unique(std::mem::take(&mut self.buffer));
        self.buffered_bytes = 0;
        let path = self.spill_dir.join(format!("run-{:06}", self.runs.len()));
        let mut out = RunWriter::create(&path)?;
        for (k, v) in &records {
            out.write(k, v)?;
        }
        out.finish()?;
        self.runs.push(path);
        Ok(())
    }

    /// Feeds every unique key, in order, with its last value, to `each`.
    pub fn finish(mut self, each: Sink<'_>) -> Result<(), BuildError> {
        if self.runs.is_empty() {
            for (k, v) in sorted_unique(std::mem::take(&mut self.buffer)) {
                each(&k, &v)?;
            }
            return Ok(());
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        // At most MAX_FAN_IN runs are open at once (each holds a file and a read buffer): more
        // are first merged, oldest first so later input still wins, into fewer, longer runs.
        let buffer = (self.memory_limit / MAX_FAN_IN).clamp(64 * 1024, 1 << 20);
        let mut runs = std::mem::take(&mut self.runs);
        let mut next = runs.len();
        while runs.len() > MAX_FAN_IN {
            let group: Vec<PathBuf> = runs.drain(..MAX_FAN_IN).collect();
            let merged = self.spill_dir.join(format!("run-{next:06}"));
            next += 1;
            let mut out = RunWriter::create(&merged)?;
            merge(&group, buffer, &mut |k, v| out.write(k, v))?;
            out.finish()?;
            runs.insert(0, merged);
        }
        merge(&runs, buffer, each)?;
        for run in &runs {
            let _ = std::fs::remove_file(run);
        }
        Ok(())
    }
}

/// Most runs merged at once.
const MAX_FAN_IN: usize = 64;

/// Merges sorted runs (later runs win on equal keys) into `each`, then deletes them.
fn merge(runs: &[PathBuf], buffer: usize, each: Sink<'_>) -> Result<(), BuildError> {
    let mut readers = runs
        .iter()
        .map(|p| Ok(RunReader::new(File::open(p)?, buffer)))
        .collect::<Result<Vec<_>, BuildError>>()?;
    // Min-heap on key; among equal keys the later run (higher index) pops last and wins.
    let mut heap = BinaryHeap::new();
    for (i, reader) in readers.iter_mut().enumerate() {
        if let Some((k, v)) = reader.next_record()? {
            heap.push(Reverse((k, i, v)));
        }
    }
    let mut pending: Option<Record> = None;
    while let Some(Reverse((key, run, value))) = heap.pop() {
        if let Some(next) = readers[run].next_record()? {
            heap.push(Reverse((next.0, run, next.1)));
        }
        match &mut pending {
            Some((k, v)) if *k == key => *v = value,
            _ => {
                if let Some((k, v)) = pending.take() {
                    each(&k, &v)?;
                }
                pending = Some((key, value));
            }
        }
    }
    if let Some((k, v)) = pending {
        each(&k, &v)?;
    }
    for run in runs {
        let _ = std::fs::remove_file(run);
    }
    Ok(())
}

struct RunWriter {
    out: BufWriter<File>,
}

impl RunWriter {
    fn create(path: &Path) -> Result<RunWriter, BuildError> {
        Ok(RunWriter {
            out: BufWriter::with_capacity(1 << 20, File::create(path)?),
        })
    }

    fn write(&mut self, key: &[u8], value: &[u8]) -> Result<(), BuildError> {
        self.out.write_all(&(key.len() as u32).to_le_bytes())?;
        self.out.write_all(&(value.len() as u32).to_le_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(value)?;
        Ok(())
    }

    fn finish(mut self) -> Result<(), BuildError> {
        Ok(self.out.flush()?)
    }
}

/// Sorted by key (stable, so input order among equal keys is kept), then the last of each key.
fn sorted_unique(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Record> = Vec::with_capacity(records.len());
    for record in records {
        match out.last_mut() {
            Some(last) if last.0 == record.0 => *last = record,
            _ => out.push(record),
        }
    }
    out
}

struct RunReader {
    inner: BufReader<File>,
}

impl RunReader {
    fn new(file: File, buffer: usize) -> RunReader {
        RunReader {
            inner: BufReader::with_capacity(buffer, file),
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>, BuildError> {
        let mut lens = [0u8; 8];
        match self.inner.read_exact(&mut lens) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let klen = u32::from_le_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
        let vlen = u32::from_le_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
        let mut key = vec![0; klen];
        let mut value = vec![0; vlen];
        self.inner.read_exact(&mut key)?;
        self.inner.read_exact(&mut value)?;
        Ok(Some((key, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(sorter: Sorter) -> Vec<(String, String)> {
        let mut out = Vec::new();
        sorter
            .finish(&mut |k, v| {
                out.push((
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                ));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn in_memory_and_spilled_give_the_same_order_and_last_writer_wins() {
        let dir = tempfile::tempdir().unwrap();
        let input: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("k{:05}", (i * 7919) % 3000), format!("v{i}")))
            .collect();
        let mut expected = std::collections::BTreeMap::new();
        for (k, v) in &input {
            expected.insert(k.clone(), v.clone());
        }
        let expected: Vec<_> = expected.into_iter().collect();
        // In memory; spilled into a few runs; spilled into more runs than one merge takes.
        for limit in [usize::MAX, 65536, 4096] {
            let mut sorter = Sorter::new(limit, dir.path());
            for (k, v) in &input {
                sorter
                    .push(k.clone().into_bytes(), v.clone().into_bytes())
                    .unwrap();
            }
            let runs = sorter.runs();
            match limit {
                usize::MAX => assert_eq!(runs, 0),
                65536 => assert!((1..=MAX_FAN_IN).contains(&runs), "{runs}"),
                _ => assert!(runs > MAX_FAN_IN, "{runs}"),
            }
            assert_eq!(collect(sorter), expected, "limit {limit}");
        }
    }
}
