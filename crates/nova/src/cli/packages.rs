//! `nova package check -f FILE`: reads a package (seed 004's classes and functions, an oaas-rs
//! package file with our `provision_config`) and reports every problem with its YAML path, the
//! code files it names included, without a daemon or a store. The first step of objects
//! (issue 16): `nova apply` will run these checks before it changes anything.

use std::path::Path;

use anyhow::{Context, Result};
use nova_api::package::{FunctionKind, Package, PackageProblem};

/// Largest package file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// The package in `file`, parsed (a YAML or JSON syntax error, or an unknown field, names its
/// line and column), and its problems, the code files relative to the file's directory included.
pub fn read(file: &Path) -> Result<(Package, Vec<PackageProblem>)> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_FILE {
        anyhow::bail!(
            "{}: {size} bytes, a package file is at most {MAX_FILE}",
            file.display()
        );
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let package: Package = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not a package", file.display()))?;
    let mut problems = package.check();
    let base = file.parent().unwrap_or(Path::new("."));
    for (i, f) in package.functions.iter().enumerate() {
        if !matches!(f.function_type, FunctionKind::Custom | FunctionKind::Wasm) {
            continue;
        }
        let Some(provision) = &f.provision_config else {
            continue;
        };
        let path = format!("functions[{i}].provision_config");
        if let Some(runtime) = &provision.runtime
            && let Err(e) = runtime.parse::<nova_api::Runtime>()
        {
            problems.push(PackageProblem {
                path: format!("{path}.runtime"),
                message: e.to_string(),
            });
        }
        if let Some(mode) = &provision.mode
            && let Err(e) = mode.parse::<nova_api::Mode>()
        {
            problems.push(PackageProblem {
                path: format!("{path}.mode"),
                message: e.to_string(),
            });
        }
        if let Some(code) = &provision.code
            && !base.join(code).is_file()
        {
            problems.push(PackageProblem {
                path: format!("{path}.code"),
                message: format!("no file {}", base.join(code).display()),
            });
        }
    }
    Ok((package, problems))
}

/// Prints what the package declares, or every problem; false when there is one.
pub fn check(file: &Path) -> Result<bool> {
    let (package, problems) = read(file)?;
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{}: {p}", file.display());
        }
        eprintln!(
            "{}: {} problem(s); nothing would be applied",
            file.display(),
            problems.len()
        );
        return Ok(false);
    }
    println!(
        "package {}{}: {} class(es), {} function(s)",
        package.name,
        package
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        package.classes.len(),
        package.functions.len()
    );
    for class in &package.classes {
        let bindings: Vec<String> = (class.function_bindings.iter())
            .map(|b| {
                let stateless = if b.stateless { ", stateless" } else { "" };
                format!(
                    "{} → {} ({:?}{stateless})",
                    b.name, b.function_key, b.access_modifier
                )
            })
            .collect();
        println!(
            "  class {}: {} partition(s); {}",
            class.key,
            package.partitions(&class.key),
            if bindings.is_empty() {
                "no functions bound".to_string()
            } else {
                bindings.join(", ")
            }
        );
    }
    Ok(true)
}
