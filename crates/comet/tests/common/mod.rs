//! Shared by the executor tests: function specs for Python source.

#![allow(dead_code)]

use nova_api::{FunctionSpec, Mode, Runtime};

/// A Python function spec (5 s timeout) whose code hash follows its source.
pub fn python_spec(name: &str, code: &str, mode: Mode) -> FunctionSpec {
    FunctionSpec {
        mode,
        timeout_s: 5,
        ..FunctionSpec::with_defaults(name, Runtime::Python, code.as_bytes().to_vec())
    }
}
