//! The bare cost of a handler: the same command the agent would run, in a loop, no platform.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::Samples;

/// Runs `program args… input` back to back on `clients` threads for `duration`.
pub fn run(
    program: &Path,
    args: &[&Path],
    input: &Path,
    clients: usize,
    duration: Duration,
) -> Samples {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let program = program.to_path_buf();
            let args: Vec<_> = args.iter().map(|a| a.to_path_buf()).collect();
            let input = input.to_path_buf();
            std::thread::spawn(move || {
                let mut samples = Samples::default();
                while start.elapsed() < duration {
                    let t = Instant::now();
                    let out = Command::new(&program)
                        .args(&args)
                        .arg(&input)
                        .stdin(Stdio::null())
                        .output();
                    match out {
                        Ok(o) if o.status.success() && !o.stdout.is_empty() => {
                            samples.push(t.elapsed())
                        }
                        _ => samples.errors += 1,
                    }
                }
                samples
            })
        })
        .collect();
    let mut all = Samples::default();
    for t in threads {
        if let Ok(s) = t.join() {
            all.merge(s);
        }
    }
    all.elapsed = start.elapsed();
    all
}
