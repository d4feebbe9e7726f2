#!/usr/bin/env bash
# Installs the system packages Nova + Comet need to build, run and test, if any is missing.
# Debian/Ubuntu (apt-get); elsewhere it only reports what is missing. Safe to run repeatedly.
# Extra arguments are more Debian packages to ensure (bench/run.sh asks for wrk, webdis, ...).
set -euo pipefail

# command → Debian package that provides it
declare -A NEED=(
  [python3]=python3      # the python runtime and the benchmarks' baseline
  [cc]=gcc               # C code in -sys crates, and the C example handler
  [pkg-config]=pkg-config
)
# Libraries checked by package name: RocksDB is linked from Debian's build (minutes instead of
# the 35 CPU-minutes of building it from source), and its Rust bindings are generated with libclang.
# python3-requests: the context-exchange tests drive the server the way real (Python) clients do.
PACKAGES=(librocksdb-dev libclang-dev python3-requests "$@")

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v cargo >/dev/null 2>&1 || { echo "deps: cargo not found: install the Rust toolchain (rustup) first" >&2; exit 1; }
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: please install: ${missing[*]}" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
