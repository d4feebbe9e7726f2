#!/usr/bin/env bash
# Makes sure the services the tests talk to are up: PostgreSQL on 127.0.0.1:5432 with a database
# `test` that user postgres (password postgres) can reach over TCP, and Redis on 127.0.0.1:6379.
# Installs them with apt-get if missing, starts them if stopped. Safe to run repeatedly.
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
dsn="postgres://postgres:postgres@127.0.0.1:5432/test"

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "services: installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "services: starting postgresql" >&2
  $sudo pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
if ! psql "$dsn" -qtAc 'select 1' >/dev/null 2>&1; then
  echo "services: preparing database test for user postgres" >&2
  as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
  as_postgres "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
  as_postgres "createdb test" 2>/dev/null || true
  psql "$dsn" -qtAc 'select 1' >/dev/null
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "services: installing redis" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends redis-server redis-tools
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting redis" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  $sudo redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
