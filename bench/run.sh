#!/usr/bin/env bash
# The benchmarks, each printing its figures beside a baseline measured in the same run.
#   bench/run.sh invoke [--duration 3s] [--clients 4]    warm invoke over HTTP vs bare handlers
#   bench/run.sh coldstart [--starts 100] [--warm 3000]  sandbox cold start and warm path vs bare
#   bench/run.sh wasm [--duration 3s] [--clients 4]      wasm instantiation and warm path vs python
#   bench/run.sh context [--vms 1000] [--clients 64]     context exchange: a slice sync round, reads
#   bench/run.sh dataplane [--duration 3s]               warm invoke embedded vs remote vs cluster
#   bench/run.sh access [--rounds 3] [--redis ADDR]      API keys + rate limits + logs, on vs off
#   bench/run.sh serving [--duration 2s] [--rounds 3]    our HTTP serving loop + guard vs axum::serve
#   bench/run.sh async [--duration 2s] [--clients 8]     async queue: accepted/s, accept→start, e2e
#   bench/run.sh load URL [--method POST] [--body {}]     one route of a running daemon under load
#   bench/kv/run.sh                                       the KV service with wrk beside webdis and redis
#   bench/run.sh                                          all of the above but serving and kv
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/nova-target}"
cargo build --release --workspace --bins
bench="$CARGO_TARGET_DIR/release/nova-bench"
if [ $# -eq 0 ]; then
  "$bench" invoke
  echo
  "$bench" coldstart
  echo
  "$bench" wasm
  echo
  "$bench" context
  echo
  "$bench" dataplane
  echo
  "$bench" access
  echo
  "$bench" async
else
  exec "$bench" "$@"
fi
