#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts PostgreSQL if it is stopped
# (scripts/services.sh), builds every binary (the tests drive the real
# nova, comet and comet-agent), then runs every test of the workspace.
# With NOVA_CI_LINT=1 (CI) it first checks formatting and clippy.
# Extra arguments go to `cargo test`, e.g. ./scripts/test.sh -p comet
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/nova-target}"
if [ "${NOVA_CI_LINT:-0}" = 1 ]; then
  cargo fmt --all -- --check
  cargo clippy --workspace --all-targets -- -D warnings
fi
cargo build --workspace --bins
cargo test --workspace "$@"
