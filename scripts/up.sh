#!/usr/bin/env bash
# One command from a fresh checkout to a running platform: installs what is missing, builds the
# release binaries and starts `nova daemon` on its embedded defaults (SQLite in the data
# directory, the process backend, HTTP on 127.0.0.1:8080). Extra arguments go to `nova daemon`,
# e.g. ./scripts/up.sh --http :8080 --idle-ttl 5m
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/nova-target}"
cargo build --release --workspace --bins
bin="$CARGO_TARGET_DIR/release"
echo "Binaries: $bin/nova, $bin/comet, $bin/comet-agent (add $bin to PATH to use them)" >&2
exec "$bin/nova" daemon "$@"
