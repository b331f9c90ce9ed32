#!/usr/bin/env bash
# make test-compose: bring the project's unchanged docker-compose.yaml up on a real container engine
# (podman + Docker Compose v2) with stand-in images, run every maintenance DAG through the REST API,
# check the S3 side, run ops_log_cleanup on a Celery worker, and tear everything down (down -v).
# Needs root on Debian bookworm (it installs podman, buildah, runc, debootstrap when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$COMPOSE_DIR/engine.sh"
source "$COMPOSE_DIR/images.sh"

PROJECT="${AIRFLOW_OPS_COMPOSE_PROJECT:-airflow-ops-test}"
COMPOSE_ARGS=(--project-name "$PROJECT" --project-directory "$REPO" -f "$REPO/docker-compose.yaml"
  --env-file "$COMPOSE_DIR/trial.env")
HEALTH_TIMEOUT="${AIRFLOW_OPS_COMPOSE_HEALTH_TIMEOUT:-480}"
PY="$REPO/.venv/bin/python"
[ -x "$PY" ] || PY=python3
STARTED_AT=$(date +%s)
STACK_UP=0

compose() { $(compose_bin) "${COMPOSE_ARGS[@]}" "$@"; }

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${BUILD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "$STACK_UP" = 1 ]; then
    if [ "$rc" != 0 ]; then
      mkdir -p "$STATE_DIR/logs"
      COMPOSE_PROFILES=celery compose logs --no-color --timestamps >"$STATE_DIR/logs/compose.log" 2>&1 || true
      echo "test-compose: service logs of the failed run: $STATE_DIR/logs/compose.log" >&2
    fi
    echo "== test-compose: teardown (down -v)"
    COMPOSE_PROFILES=celery compose down -v --remove-orphans --timeout 20 >"$STATE_DIR/down.log" 2>&1 \
      || echo "test-compose: teardown: docker compose down -v failed: see $STATE_DIR/down.log" >&2
    local left
    left="$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT"; \
      podman volume ls -q --filter "label=com.docker.compose.project=$PROJECT"; \
      podman network ls -q --filter "label=com.docker.compose.project=$PROJECT")"
    if [ -n "$left" ]; then
      echo "test-compose: teardown: left behind: $(echo "$left" | tr '\n' ' '): remove them with podman rm/volume rm/network rm" >&2
      [ "$rc" = 0 ] && rc=1
    else
      echo "no containers, volumes or networks of project $PROJECT left"
    fi
  fi
  healthchecks_stop
  engine_stop
  echo "test-compose: $([ "$rc" = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - STARTED_AT )) s"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# A published port that is taken fails `up` halfway; say which one before anything starts.
check_ports() {
  local var port service
  while read -r var port service; do
    if "$PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$port"; then :; else
      die "port $port ($var, service $service) is already in use on 127.0.0.1: stop what listens there or run with $var=<free port>" 2
    fi
  done < <(echo "AIRFLOW_API_PORT ${AIRFLOW_API_PORT:-8080} airflow-api-server
MINIO_CONSOLE_PORT ${MINIO_CONSOLE_PORT:-9001} minio
FLOWER_PORT ${FLOWER_PORT:-5555} flower")
}

# Every container of the project: one-shot services exited 0, the others running and healthy. An
# unhealthy service may still recover (a slow start on a busy machine): only the deadline fails it.
wait_healthy() {  # wait_healthy WHAT
  local since deadline pending
  since=$(date +%s)
  deadline=$(( since + HEALTH_TIMEOUT ))
  while true; do
    pending="$(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
      --format '{{.Names}}' | while read -r name; do
        podman inspect --format '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}} {{index .Config.Labels "com.docker.compose.service"}}' "$name"
      done | awk '
        $2 == "exited" && $3 == 0 { next }
        $2 == "exited" { print "FAILED:" $5 " exited " $3; next }
        $2 == "running" && ($4 == "healthy" || $4 == "") { next }
        { print $5 "(" $2 "/" $4 ")" }')"
    [ -z "$pending" ] && { echo "$1: every service healthy $(( $(date +%s) - since )) s after up ($(( $(date +%s) - STARTED_AT )) s into the run)"; return 0; }
    case "$pending" in
      *FAILED:*)
        local svc
        svc="$(echo "$pending" | grep -oE 'FAILED:[^ ]+' | head -1)"
        die "${svc#FAILED:} exited non-zero; last lines: $(compose logs --no-color --tail 3 "${svc#FAILED:}" 2>&1 | tr '\n' ' ' | cut -c1-400)" ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      local first last_check
      first="$(echo "$pending" | head -1 | cut -d'(' -f1)"
      last_check="$(podman inspect --format '{{range .State.Health.Log}}{{.Output}}{{end}}' "${PROJECT}-${first}-1" 2>/dev/null | tail -2 | tr '\n' ' ' | cut -c1-300)"
      die "not healthy within ${HEALTH_TIMEOUT}s: $(echo "$pending" | tr '\n' ' '); $first's last check: ${last_check:-none}: see docker compose logs $first"
    fi
    sleep 3
  done
}

# The compose file bind-mounts the checkout read-only into containers that run as uid 50000: it must
# be readable by others. A plain `git clone` (umask 022) is; a clone made straight into `mktemp -d`
# has a 0700 top directory (then only that directory is opened up, and said), and a checkout made
# under umask 077 has private files (then it stops, naming the fix).
check_checkout() {
  local private
  private="$(cd "$REPO" && git ls-files -z | xargs -0 -r stat -L -c '%a %n' 2>/dev/null \
    | awk '{ if (int(substr($1, length($1), 1)) % 8 < 4) print $2 }' | head -3 | tr '\n' ' ' || true)"
  [ -z "$private" ] || die "files of the checkout are not readable by others ($private...); the containers (uid 50000) bind-mount it: run \`chmod -R go+rX $REPO\` or clone with umask 022"
  # The containers' user is 50000:0, so a directory owned by group root is judged by its group bits.
  if [ "$(( 0$(stat -c %a "$REPO") & 055 ))" != 45 ]; then
    echo "the checkout $REPO is mode $(stat -c %a "$REPO"): the containers (uid 50000, gid 0) could not read the bind mount; adding go+rx to that directory only"
    chmod go+rx "$REPO"
  fi
}

memory_report() {  # memory_report LABEL
  echo "steady-state memory ($1):"
  podman stats --no-stream --format '{{.Name}} {{.MemUsage}}' \
    $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT") | sort | tee "$STATE_DIR/memory-$1.txt" | sed 's/^/  /'
}

admin_password() {
  compose exec -T airflow-api-server cat /opt/airflow/secrets/admin_password
}

step "engine: packages, containers.conf, compose plugin"
engine_prepare
step "engine: podman system service"
engine_start
step "images: debootstrap base and stand-ins"
build_standins
prune_standins
step "checkout: readable by the containers"
check_checkout
step "ports"
check_ports
step "up: local profile (docker compose up)"
# Nothing of the project may linger from an interrupted earlier run.
COMPOSE_PROFILES=celery compose down -v --remove-orphans >/dev/null 2>&1 || true
healthchecks_start "$PROJECT"
STACK_UP=1
compose up -d --pull never --no-build >"$STATE_DIR/up-local.log" 2>&1 \
  || die "docker compose up failed: $(grep -iE 'error|fail|unhealthy' "$STATE_DIR/up-local.log" | tail -1): see $STATE_DIR/up-local.log"
step "health: local profile"
wait_healthy "local profile"
for pair in "airflow-api-server 8080" "minio 9001"; do
  bound="$(compose port $pair)"
  case "$bound" in
    127.0.0.1:*) echo "${pair% *} publishes $bound (loopback only)" ;;
    *) die "${pair% *} publishes port ${pair#* } on '$bound', not 127.0.0.1: the default must stay loopback (AIRFLOW_OPS_BIND_ADDRESS)" ;;
  esac
done
step "DAGs: every maintenance DAG through the REST API"
AIRFLOW_OPS_TRIAL_PASSWORD="$(admin_password)" "$PY" "$COMPOSE_DIR/trial.py" run-all \
  --url "http://127.0.0.1:${AIRFLOW_API_PORT:-8080}" --dags-dir "$REPO/dags"
step "S3: backup object and export in the S3 stand-in"
for bucket in airflow-ops-backups airflow-ops-exports; do
  objects="$(compose exec -T minio mc ls --recursive "local/$bucket")"
  [ -n "$objects" ] || die "bucket $bucket is empty after the DAG runs: see the ops_metadata_backup / ops_config_export task logs"
  echo "$bucket:"; echo "$objects" | sed 's/^/  /'
done
memory_report local
step "up: celery profile"
COMPOSE_PROFILES=celery AIRFLOW_OPS_PROFILE=celery compose up -d --pull never --no-build \
  >"$STATE_DIR/up-celery.log" 2>&1 \
  || die "docker compose up (celery profile) failed: $(grep -iE 'error|fail|unhealthy' "$STATE_DIR/up-celery.log" | tail -1): see $STATE_DIR/up-celery.log"
step "health: celery profile"
wait_healthy "celery profile"
step "DAGs: ops_log_cleanup on the Celery worker"
AIRFLOW_OPS_TRIAL_PASSWORD="$(admin_password)" "$PY" "$COMPOSE_DIR/trial.py" run-on-worker \
  --url "http://127.0.0.1:${AIRFLOW_API_PORT:-8080}" --dag ops_log_cleanup \
  --worker-hostname "$(podman inspect --format '{{.Config.Hostname}}' "$(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter label=com.docker.compose.service=airflow-worker)")"
memory_report celery
