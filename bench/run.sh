#!/usr/bin/env bash
# Warm invoke latency and throughput over HTTP, beside the bare cost of each handler, in one run.
# Usage: bench/run.sh [--duration 3s] [--clients 4]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/nova-target}"
cargo build --release --workspace --bins
exec "$CARGO_TARGET_DIR/release/nova-bench" invoke "$@"
