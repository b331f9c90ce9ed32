# Shared by the tests/compose/*.sh scripts (sourced, not run).
# Every failure is one line: "test-compose: <step>: <what failed>: <how to fix it>", exit 2 for bad
# input (a port in use, a missing engine the user must install), 1 for a failed check.

COMPOSE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$COMPOSE_DIR/../.." && pwd)"
STEP="${STEP:-setup}"
PODMAN_SOCK="${AIRFLOW_OPS_PODMAN_SOCK:-/run/podman/podman.sock}"
export DOCKER_HOST="${DOCKER_HOST:-unix://$PODMAN_SOCK}"
COMPOSE_PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
STATE_DIR="${AIRFLOW_OPS_COMPOSE_STATE:-/var/lib/airflow-ops-test-compose}"

step() {
  STEP="$1"
  printf '\n== test-compose: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"
}

die() {  # die MESSAGE [EXIT_CODE]
  echo "test-compose: $STEP: $1" >&2
  exit "${2:-1}"
}

# `docker compose` when the docker CLI is there, else the compose binary on its own (same arguments).
compose_bin() {
  if command -v docker >/dev/null 2>&1 && [ -x "$COMPOSE_PLUGIN_DIR/docker-compose" ]; then
    echo docker compose
  else
    echo "$COMPOSE_PLUGIN_DIR/docker-compose"
  fi
}
