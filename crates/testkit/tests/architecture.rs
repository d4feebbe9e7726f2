//! Keeps `docs/architecture.md` true to the workspace: every crate under `crates/` (and the
//! benchmarks) has a paragraph that names it in bold, nothing in bold names a crate that does not
//! exist, and the "Who depends on whom" list matches each `Cargo.toml`'s `[dependencies]` among
//! our own crates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// A manifest's package name and the names of its normal dependencies (any crate, ours or not).
#[derive(Debug)]
struct Manifest {
    name: String,
    dependencies: BTreeSet<String>,
}

/// Reads the little of a `Cargo.toml` this test needs, by line: the `name` in `[package]` and
/// the keys of `[dependencies]`, `[dependencies.x]` and `[target.….dependencies]` tables.
fn manifest(path: &Path) -> Manifest {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut section = String::new();
    let mut name = None;
    let mut dependencies = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_end_matches(']').trim().to_string();
            if let Some(dep) = section.strip_prefix("dependencies.") {
                dependencies.insert(dep.to_string());
            }
            continue;
        }
        let key = line
            .split(['=', '.', ' '])
            .next()
            .unwrap_or_default()
            .trim_matches('"');
        if section == "package" && key == "name" {
            let value = line
                .split_once('=')
                .map(|(_, v)| v.trim().trim_matches('"'));
            name = value.map(str::to_string);
        } else if section == "dependencies"
            || (section.starts_with("target.") && section.ends_with(".dependencies"))
        {
            dependencies.insert(key.to_string());
        }
    }
    Manifest {
        name: name.unwrap_or_else(|| panic!("{} has no package name", path.display())),
        dependencies,
    }
}

/// Every package of the workspace: `crates/*` and `bench`.
fn packages() -> Vec<Manifest> {
    let root = root();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .map(|entry| entry.expect("a crates/ entry").path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.push(root.join("bench"));
    dirs.sort();
    let packages: Vec<Manifest> = dirs
        .iter()
        .map(|d| manifest(&d.join("Cargo.toml")))
        .collect();
    assert!(
        packages.len() > 10,
        "found only {} packages: is the workspace layout what this test expects?",
        packages.len()
    );
    packages
}

fn doc() -> String {
    let path = root().join("docs/architecture.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The names written in bold (`**name**`) that look like one of our package names.
fn bold_crate_names(doc: &str) -> BTreeSet<String> {
    doc.split("**")
        .skip(1)
        .step_by(2)
        .filter(|s| {
            (s.starts_with("nova") || s.starts_with("comet"))
                && s.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .map(str::to_string)
        .collect()
}

/// The "Who depends on whom" list: lines "- `name` → `a`, `b`" (or "→ none").
fn documented_dependencies(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut listed = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((name, deps)) = rest.split_once("` → ") else {
            continue;
        };
        let deps: BTreeSet<String> = if deps.trim() == "none" {
            BTreeSet::new()
        } else {
            deps.split(',')
                .map(|d| d.trim().trim_matches('`').to_string())
                .collect()
        };
        assert!(
            listed.insert(name.to_string(), deps).is_none(),
            "`{name}` is listed twice under \"Who depends on whom\""
        );
    }
    listed
}

#[test]
fn every_crate_has_a_paragraph_and_no_paragraph_names_a_crate_that_does_not_exist() {
    let doc = doc();
    let names: BTreeSet<String> = packages().into_iter().map(|m| m.name).collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("**{n}**")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md has no paragraph (a `**name**`) for {missing:?}"
    );
    let unknown: Vec<String> = bold_crate_names(&doc).difference(&names).cloned().collect();
    assert!(
        unknown.is_empty(),
        "docs/architecture.md describes crates that do not exist: {unknown:?}"
    );
}

#[test]
fn the_dependency_list_matches_the_manifests() {
    let packages = packages();
    let ours: BTreeSet<&str> = packages.iter().map(|m| m.name.as_str()).collect();
    let actual: BTreeMap<String, BTreeSet<String>> = packages
        .iter()
        .map(|m| {
            let deps = m.dependencies.iter().filter(|d| ours.contains(d.as_str()));
            (m.name.clone(), deps.cloned().collect())
        })
        .collect();
    let documented = documented_dependencies(&doc());
    let mut wrong = Vec::new();
    for (name, deps) in &actual {
        match documented.get(name) {
            None => wrong.push(format!("`{name}` is not listed")),
            Some(listed) if listed != deps => wrong.push(format!(
                "`{name}`: the doc says {listed:?}, Cargo.toml says {deps:?}"
            )),
            Some(_) => {}
        }
    }
    for name in documented.keys().filter(|n| !actual.contains_key(*n)) {
        wrong.push(format!("`{name}` is listed but is no package"));
    }
    assert!(
        wrong.is_empty(),
        "docs/architecture.md, \"Who depends on whom\", disagrees with the manifests:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_manifest_reader_reads_what_it_needs() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("Cargo.toml");
    let text = "[package]\nname = \"comet-x\"\nversion.workspace = true\n\n[dependencies]\n\
                comet-util.workspace = true\nnova-api = { workspace = true }\nserde = \"1\"\n\n\
                [dependencies.comet-kv]\npath = \"../kv\"\n\n[dev-dependencies]\ncomet-testkit.workspace = true\n";
    std::fs::write(&path, text).expect("write a manifest");
    let m = manifest(&path);
    assert_eq!(m.name, "comet-x");
    let expected: BTreeSet<String> = ["comet-kv", "comet-util", "nova-api", "serde"]
        .map(String::from)
        .into();
    assert_eq!(m.dependencies, expected);
    let doc = "- `a` → `b`, `c`\n- `d` → none\ntext\n";
    let listed = documented_dependencies(doc);
    assert_eq!(listed["a"], ["b", "c"].map(String::from).into());
    assert!(listed["d"].is_empty());
    assert_eq!(
        bold_crate_names("**comet-kv** and **Nova** and **nova**"),
        ["comet-kv", "nova"].map(String::from).into()
    );
}
