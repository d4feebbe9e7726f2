//! `nova package check -f FILE` as a user runs it (issue 16, a first step): the example package
//! passes and is described; a broken one is refused with every problem and its YAML path; a file
//! that is not a package names the line or the field.

mod common;

use common::process::Env;

fn env() -> Env {
    Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    }
}

#[test]
fn the_example_package_passes() {
    let file = common::examples().join("objects/package.yaml");
    let out = env().ok(&["package", "check", "-f", &file.display().to_string()]);
    assert!(
        out.starts_with("package counters 1.0: 1 class(es), 1 function(s)"),
        "{out}"
    );
    assert!(
        out.contains("class Counter: 4 partition(s); inc → Counter.inc (Public), peek → Counter.inc (Internal)"),
        "{out}"
    );
}

#[test]
fn a_broken_package_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "name: broken\n\
         classes:\n\
         - key: Thing\n  \
           function_bindings:\n  \
           - {name: go, function_key: Thing.go}\n  \
           - {name: go, function_key: Thing.gone}\n\
         functions:\n\
         - key: Thing.go\n  \
           provision_config: {runtime: cobol, code: missing.py}\n\
         - key: Thing.image\n  \
           provision_config: {container_image: registry/x:1}\n\
         deployments:\n\
         - {key: Thing, package_name: broken, class_key: Thing, odgm: {partition_count: 70000}}\n",
    )
    .expect("write");
    let path = file.display().to_string();
    let out = env().nova(&["package", "check", "-f", &path]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "functions[0].provision_config.runtime: ",
        "functions[0].provision_config.code: no file ",
        "functions[1].provision_config: say how to run it here: runtime and code",
        "(a container_image is not run here)",
        "classes[0].function_bindings[1].name: 'go' is bound in this class already",
        "classes[0].function_bindings[1].function_key: no function 'Thing.gone' in functions",
        "deployments[0].odgm.partition_count: must be 1 to 65536, not 70000",
        "6 problem(s); nothing would be applied",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in\n{stderr}");
    }
}

#[test]
fn what_is_not_a_package_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = env();
    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "name: p\nclasses:\n- key: A\n  fuction_bindings: []\n",
    )
    .expect("write");
    env.fails(
        &["package", "check", "-f", &typo.display().to_string()],
        "unknown field `fuction_bindings`",
    );
    let syntax = dir.path().join("syntax.yaml");
    std::fs::write(&syntax, "name: p\nclasses: [\n").expect("write");
    env.fails(
        &["package", "check", "-f", &syntax.display().to_string()],
        "line 3",
    );
    env.fails(
        &["package", "check", "-f", "/nonexistent/package.yaml"],
        "cannot read /nonexistent/package.yaml",
    );
}
