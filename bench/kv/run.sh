#!/usr/bin/env bash
# Comet KV throughput and latency at 64 connections: 16-byte keys, 100-byte values, 1M keys,
# with wrk as the load generator on the same machine. Beside it, in the same run: the same GET
# load against Redis through webdis (HTTP in front of Redis), and redis-benchmark -t get (Redis's
# own protocol, no HTTP) as a reference.
#   bench/kv/run.sh [--duration 10s] [--connections 64] [--keys 1000000] [--threads 1]
# One wrk thread: on two cores a second one mostly fights the server for CPU (more req/s, worse p99).
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=10s connections=64 keys=1000000 threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
./scripts/deps.sh wrk webdis redis-tools redis-server
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/nova-target}"
# The comet binary lives in package comet-cli.
cargo build --release -p comet-cli --bin comet
comet="$CARGO_TARGET_DIR/release/comet"
here=bench/kv
work=$(mktemp -d /var/tmp/comet-kv-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -n 9 flushdb >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_http() {
  for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "nothing answers at $1" >&2; exit 1
}
# run_wrk NAME METHOD PATH_FMT TOKEN URL: one load, one table row.
run_wrk() {
  local name=$1 method=$2 fmt=$3 token=$4 url=$5
  local line
  line=$(METHOD=$method PATH_FMT=$fmt KEYS=$keys TOKEN=$token wrk -t"$threads" -c"$connections" \
           -d"$duration" -s "$here/load.lua" "$url" | grep '^RESULT')
  read -r _ rps p50 p99 errors total <<<"$line"
  printf "%-34s %10s req/s   p50 %6.3f ms   p99 %6.3f ms   errors %s/%s\n" \
    "$name" "$rps" "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$errors" "$total"
}

echo "dataset: $keys keys of 16 bytes, values of 100 bytes; $connections connections, $threads wrk threads, $duration each"
# The dataset, built offline and ingested, the way bulk data reaches Comet KV.
awk -v n="$keys" 'BEGIN { v = sprintf("%0100d", 0); gsub("0", "v", v);
  for (i = 0; i < n; i++) printf("{\"key\":\"k%015d\",\"value\":\"%s\"}\n", i, v) }' > "$work/data.jsonl"
"$comet" kv build-sst --quiet --input "$work/data.jsonl" --output "$work/data/kv-ingest/load" \
  --content-type text/plain
token=bench-token-0123456789abcdef
cat > "$work/comet.yaml" <<YAML
data_dir: $work/data
http:
  addr: 127.0.0.1:18080
kv:
  databases:
    - {name: bench, path: $work/data/bench, block_cache_mb: 256}
  tokens:
    - {name: bench, token: $token, scopes: [admin]}
YAML
COMET_LOG=warn "$comet" kv serve --config "$work/comet.yaml" & pids+=($!)
wait_http http://127.0.0.1:18080/healthcheck
curl -sf -X PUT -H "Authorization: Bearer $token" \
  http://127.0.0.1:18080/admin/databases/bench/ingest/load >/dev/null
curl -sf -H "Authorization: Bearer $token" \
  "http://127.0.0.1:18080/databases/bench/keys/k$(printf %015d 42)" | grep -q vvvv

# Redis with the same keys (db 9, flushed afterwards) and webdis in front of it.
redis-cli ping >/dev/null 2>&1 || { echo "redis is not running on 127.0.0.1:6379" >&2; exit 1; }
redis-cli -n 9 flushdb >/dev/null
awk -v n="$keys" 'BEGIN { v = sprintf("%0100d", 0); gsub("0", "v", v);
  for (i = 0; i < n; i++) printf("*3\r\n$3\r\nSET\r\n$16\r\nk%015d\r\n$100\r\n%s\r\n", i, v) }' \
  | redis-cli -n 9 --pipe >/dev/null
cat > "$work/webdis.json" <<JSON
{"redis_host": "127.0.0.1", "redis_port": 6379, "http_host": "127.0.0.1", "http_port": 17379,
 "threads": 2, "pool_size": 64, "daemonize": false, "database": 9, "verbosity": 0,
 "logfile": "$work/webdis.log"}
JSON
webdis "$work/webdis.json" >"$work/webdis.out" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:17379/PING

echo
run_wrk "comet kv GET (bearer token)" GET "/databases/bench/keys/k%015d" "$token" http://127.0.0.1:18080
run_wrk "webdis GET (redis over HTTP)" GET "/GET/k%015d.raw" "" http://127.0.0.1:17379
run_wrk "comet kv PUT (bearer token)" PUT "/databases/bench/keys/k%015d" "$token" http://127.0.0.1:18080
echo
echo "redis-benchmark GET (RESP, no HTTP; reference):"
redis-benchmark --dbnum 9 -c "$connections" -n 1000000 -r "$keys" -q GET k000__rand_int__ 2>/dev/null \
  | tr '\r' '\n' | grep -E "requests per second" | tail -1
