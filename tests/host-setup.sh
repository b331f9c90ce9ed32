#!/usr/bin/env bash
# What `make test` needs on the host, set up idempotently (run by `make test`; `.ci/run` calls make test):
# the Debian packages (PostgreSQL server and client, Redis, git, docker-compose for the static compose
# checks, Node.js and npm for s3rver), PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379 and
# s3rver from its committed lock (tests/s3rver).
#   tests/host-setup.sh           install what is missing (as root) and start the servers
#   tests/host-setup.sh --check   change nothing; exit 2 naming the exact command when something is missing
# AIRFLOW_OPS_TEST_PG pointing elsewhere skips the local PostgreSQL.
set -euo pipefail
check_only=0
[ "${1:-}" = --check ] && check_only=1

need_apt=()
command -v pg_dump >/dev/null || need_apt+=(postgresql-client)
[ -n "${AIRFLOW_OPS_TEST_PG:-}" ] || command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v git >/dev/null || need_apt+=(git)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)  # static checks of docker-compose.yaml
command -v node >/dev/null || need_apt+=(nodejs)  # s3rver, the second S3 implementation of the tests
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})); then
  if [ "$check_only" = 1 ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "make test: missing ${need_apt[*]}: run: sudo apt-get install -y ${need_apt[*]} (then make test again)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[ "$check_only" = 1 ] && exit 0

# PostgreSQL on 127.0.0.1:5432 (the Debian cluster), Redis on 127.0.0.1:6379.
if [ -z "${AIRFLOW_OPS_TEST_PG:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  [ "$(id -u)" = 0 ] || { echo "make test: no PostgreSQL on 127.0.0.1:5432: start it (sudo pg_ctlcluster 15 main start) or set AIRFLOW_OPS_TEST_PG" >&2; exit 2; }
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 -q || { echo "make test: PostgreSQL did not start: see /var/log/postgresql" >&2; exit 2; }
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

# s3rver from its committed lock (the test fixture does the same when node_modules is missing).
[ -d tests/s3rver/node_modules/s3rver ] || (cd tests/s3rver && npm ci --no-audit --no-fund --loglevel=error)
