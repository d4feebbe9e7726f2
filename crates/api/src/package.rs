//! Packages (seed 004, OaaS): one YAML file declaring classes (state and the functions bound to
//! it) and the functions they run, read as oaas-rs writes them, apart from `provision_config`,
//! where ours says how to run a function here (`runtime`, `code` relative to the package file,
//! `handler`, `mode`, `memory`, `timeout`) instead of a container image.
//!
//! This module holds the model and its checks; nothing here reads files. Every field oaas-rs
//! knows is taken (what we do not use is kept as written), any other is refused by serde with its
//! name, and [`Package::check`] reports every problem at once, each with the path of what it
//! refuses: `classes[0].function_bindings[1].function_key: no function 'Counter.inc' in functions`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest class key, function key or binding name.
pub const MAX_KEY: usize = 128;
/// Most partitions a class may have (oaas-rs's partition ids are 16-bit).
pub const MAX_PARTITIONS: u32 = 65_536;

/// A package as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Its name (a function name's characters).
    pub name: String,
    /// Its version, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Author, description, tags …: kept as written.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub metadata: serde_json::Value,
    /// Its classes.
    #[serde(default)]
    pub classes: Vec<Class>,
    /// The functions its classes bind.
    #[serde(default)]
    pub functions: Vec<PackageFunction>,
    /// Other packages it names (kept; not resolved yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
    /// How each class is deployed: here, its partition count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<Deployment>,
}

/// A class: state, and the functions bound to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Class {
    /// Its key, unique in the package.
    pub key: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// oaas-rs's state specification (key specs, consistency model): kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_spec: Option<serde_json::Value>,
    /// The functions callable on its objects, by name.
    #[serde(default)]
    pub function_bindings: Vec<Binding>,
}

/// A function bound to a class under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// The name callers invoke (`…/invokes/{name}`), unique in the class.
    pub name: String,
    /// The key of the package function it runs.
    pub function_key: String,
    /// Who may call it.
    #[serde(default)]
    pub access_modifier: Access,
    /// Runs without loading an object.
    #[serde(default)]
    pub stateless: bool,
    /// Names of its parameters, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// Who may call a bound function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Access {
    /// Anyone with an invoke key.
    #[default]
    #[serde(rename = "PUBLIC")]
    Public,
    /// Functions of the same package (triggers, other classes' functions).
    #[serde(rename = "INTERNAL")]
    Internal,
    /// Functions of the same class.
    #[serde(rename = "PRIVATE")]
    Private,
}

/// A function of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFunction {
    /// Its key, unique in the package (bindings name it).
    pub key: String,
    /// What kind of function it is.
    #[serde(default)]
    pub function_type: FunctionKind,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How to run it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision_config: Option<Provision>,
    /// Environment of its instances (oaas-rs injects these as variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// oaas-rs's function types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionKind {
    /// One of the platform's own (create, get, update, delete, list): no code.
    #[serde(rename = "BUILTIN")]
    Builtin,
    /// Code of the developer's.
    #[default]
    #[serde(rename = "CUSTOM")]
    Custom,
    /// A composition of other functions (not run here yet).
    #[serde(rename = "MACRO")]
    Macro,
    /// Logic evaluated by the platform (not run here yet).
    #[serde(rename = "LOGICAL")]
    Logical,
    /// A WebAssembly module.
    #[serde(rename = "WASM")]
    Wasm,
}

/// How a function runs: ours (`runtime`, `code`, …), beside oaas-rs's fields, which are taken so
/// that its files parse and refused when they are all there is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    /// python, go, rust or wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The code's path, relative to the package file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The entry point (`main.handler` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// process or persistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Memory in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// oaas-rs's: a container image (not run here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_image: Option<String>,
    /// oaas-rs's: where its WebAssembly module is (not fetched here: give `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_module_url: Option<String>,
    /// oaas-rs's Knative settings, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_http2: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scale: Option<u32>,
}

/// How a class is deployed. Here only `odgm.partition_count` matters; oaas-rs's other fields
/// are kept as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Its key.
    pub key: String,
    /// The package it belongs to (this one).
    pub package_name: String,
    /// The class it deploys.
    pub class_key: String,
    /// The class's data grid: its partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odgm: Option<Odgm>,
    /// oaas-rs's placement and requirements, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_envs: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_envs: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nfr_requirements: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_templates: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<serde_json::Value>,
}

/// A class's data grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Odgm {
    /// Partitions of the class (1 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<u32>,
    /// oaas-rs's replication and placement, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collections: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_node_ids: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// One problem of a package: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageProblem {
    /// The YAML path of what is refused: `functions[1].provision_config`.
    pub path: String,
    /// Why.
    pub message: String,
}

impl fmt::Display for PackageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A key's characters: a letter or digit, then letters, digits, `.`, `_`, `-`.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && key.len() <= MAX_KEY
}

impl Package {
    /// Every problem of the package, in file order; none means it can be applied.
    pub fn check(&self) -> Vec<PackageProblem> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| {
            problems.push(PackageProblem { path, message });
        };
        if let Err(e) = crate::validate_name(&self.name) {
            problem("name".into(), e.to_string());
        }
        let mut functions = HashSet::new();
        for (i, f) in self.functions.iter().enumerate() {
            let path = format!("functions[{i}]");
            if !valid_key(&f.key) {
                problem(format!("{path}.key"), bad_key(&f.key));
            } else if !functions.insert(f.key.as_str()) {
                problem(
                    format!("{path}.key"),
                    format!("'{}' is a key already", f.key),
                );
            }
            match f.function_type {
                FunctionKind::Custom | FunctionKind::Wasm => {
                    let provision = f.provision_config.clone().unwrap_or_default();
                    if provision.runtime.is_none() || provision.code.is_none() {
                        let found = if provision.container_image.is_some() {
                            " (a container_image is not run here)"
                        } else if provision.wasm_module_url.is_some() {
                            " (a wasm_module_url is not fetched here: give the module's path as code)"
                        } else {
                            ""
                        };
                        problem(
                            format!("{path}.provision_config"),
                            format!(
                                "say how to run it here: runtime and code (a path relative to the package file){found}"
                            ),
                        );
                    }
                }
                FunctionKind::Builtin => {}
                kind @ (FunctionKind::Macro | FunctionKind::Logical) => problem(
                    format!("{path}.function_type"),
                    format!("{kind:?} functions are not run here yet"),
                ),
            }
        }
        let mut classes = HashSet::new();
        for (c, class) in self.classes.iter().enumerate() {
            let path = format!("classes[{c}]");
            if !valid_key(&class.key) {
                problem(format!("{path}.key"), bad_key(&class.key));
            } else if !classes.insert(class.key.as_str()) {
                problem(
                    format!("{path}.key"),
                    format!("'{}' is a class already", class.key),
                );
            }
            let mut names = HashSet::new();
            for (b, binding) in class.function_bindings.iter().enumerate() {
                let path = format!("{path}.function_bindings[{b}]");
                if !valid_key(&binding.name) {
                    problem(format!("{path}.name"), bad_key(&binding.name));
                } else if !names.insert(binding.name.as_str()) {
                    problem(
                        format!("{path}.name"),
                        format!("'{}' is bound in this class already", binding.name),
                    );
                }
                if !functions.contains(binding.function_key.as_str()) {
                    problem(
                        format!("{path}.function_key"),
                        format!("no function '{}' in functions", binding.function_key),
                    );
                }
            }
        }
        for (d, deployment) in self.deployments.iter().enumerate() {
            let path = format!("deployments[{d}]");
            if deployment.package_name != self.name {
                problem(
                    format!("{path}.package_name"),
                    format!(
                        "'{}' is not this package ('{}')",
                        deployment.package_name, self.name
                    ),
                );
            }
            if !classes.contains(deployment.class_key.as_str()) {
                problem(
                    format!("{path}.class_key"),
                    format!("no class '{}' in classes", deployment.class_key),
                );
            }
            if let Some(n) = deployment.odgm.as_ref().and_then(|o| o.partition_count)
                && !(1..=MAX_PARTITIONS).contains(&n)
            {
                problem(
                    format!("{path}.odgm.partition_count"),
                    format!("must be 1 to {MAX_PARTITIONS}, not {n}"),
                );
            }
        }
        problems
    }

    /// How many partitions `class` has: its deployment's `odgm.partition_count`, else 1.
    pub fn partitions(&self, class: &str) -> u32 {
        (self.deployments.iter())
            .filter(|d| d.class_key == class)
            .find_map(|d| d.odgm.as_ref().and_then(|o| o.partition_count))
            .unwrap_or(1)
    }
}

fn bad_key(key: &str) -> String {
    format!(
        "'{}' is not a key: 1 to {MAX_KEY} letters, digits, '.', '_' or '-', starting with a letter or digit",
        crate::preview(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package in oaas-rs's shape (its end-to-end fixture's), with our provision_config.
    const COUNTER: &str = r#"{
        "name": "counters",
        "version": "1.0",
        "metadata": {"tags": []},
        "classes": [{
            "key": "Counter",
            "state_spec": {"consistency_model": "NONE"},
            "function_bindings": [
                {"name": "inc", "function_key": "Counter.inc", "access_modifier": "PUBLIC",
                 "stateless": false, "parameters": []},
                {"name": "echo", "function_key": "Counter.echo", "stateless": true}
            ]
        }],
        "functions": [
            {"key": "Counter.inc", "function_type": "CUSTOM",
             "provision_config": {"runtime": "python", "code": "counter.py", "mode": "persistent",
                                  "container_image": "registry/inc:1"},
             "config": {"HTTP_PORT": 80}},
            {"key": "Counter.echo", "provision_config": {"runtime": "python", "code": "echo.py"}}
        ],
        "deployments": [{"key": "Counter", "package_name": "counters", "class_key": "Counter",
                         "target_envs": ["oaas-1"], "odgm": {"partition_count": 4, "log": "debug"}}]
    }"#;

    #[test]
    fn an_oaas_shaped_package_parses_and_passes() {
        let package: Package = serde_json::from_str(COUNTER).expect("parses");
        assert_eq!(package.check(), vec![]);
        assert_eq!(package.partitions("Counter"), 4);
        assert_eq!(package.partitions("Other"), 1);
        let binding = &package.classes[0].function_bindings[1];
        assert_eq!(
            (binding.access_modifier, binding.stateless),
            (Access::Public, true)
        );
        assert_eq!(package.functions[1].function_type, FunctionKind::Custom);
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let typo = COUNTER.replace("function_bindings", "fuction_bindings");
        let e = serde_json::from_str::<Package>(&typo).expect_err("a typo");
        assert!(e.to_string().contains("fuction_bindings"), "{e}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut package: Package = serde_json::from_str(COUNTER).expect("parses");
        package.name = "no spaces".into();
        package.classes[0].function_bindings[1].name = "inc".into();
        package.classes[0].function_bindings[0].function_key = "Counter.nope".into();
        package.functions[1].provision_config = Some(Provision {
            container_image: Some("registry/echo:1".into()),
            ..Provision::default()
        });
        package.functions.push(package.functions[0].clone());
        package.deployments[0].class_key = "Ghost".into();
        package.deployments[0].odgm = Some(Odgm {
            partition_count: Some(0),
            ..Odgm::default()
        });
        let paths: Vec<String> = package.check().iter().map(|p| p.to_string()).collect();
        let expected = [
            "name: invalid function name 'no spaces'",
            "functions[1].provision_config: say how to run it here: runtime and code (a path relative to the package file) (a container_image is not run here)",
            "functions[2].key: 'Counter.inc' is a key already",
            "classes[0].function_bindings[0].function_key: no function 'Counter.nope' in functions",
            "classes[0].function_bindings[1].name: 'inc' is bound in this class already",
            "deployments[0].package_name: 'counters' is not this package ('no spaces')",
            "deployments[0].class_key: no class 'Ghost' in classes",
            "deployments[0].odgm.partition_count: must be 1 to 65536, not 0",
        ];
        assert_eq!(paths.len(), expected.len(), "{paths:#?}");
        for (got, want) in paths.iter().zip(expected) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
    }
}
