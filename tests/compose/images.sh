# Stand-in images for `make test-compose` (sourced by run.sh). No image registry is reachable, so each
# image the compose file names is built here: a debootstrapped Debian bookworm base (`podman import`),
# then one Containerfile per stand-in. An image is rebuilt only when the hash of its inputs changed
# (kept in the label airflow-ops.test.inputs).

IMAGES_DIR="$COMPOSE_DIR/images"
BASE_IMAGE=localhost/airflow-ops-test/bookworm-base:latest
SUITE=bookworm
BUILD_LOG_DIR="$STATE_DIR/build-logs"
BUILD_PIDS=()  # background builds, stopped by run.sh's teardown on failure

# sha256 over files and strings: inputs_hash FILE... [-- STRING...]
inputs_hash() {
  { for arg in "$@"; do
      if [ -f "$arg" ]; then printf '%s\n' "$arg" | sed "s|^$REPO/||"; cat "$arg"; else printf '%s\n' "$arg"; fi
    done; } | sha256sum | cut -c1-16
}

image_is_current() {  # image_is_current REF HASH
  [ "$(podman image inspect --format '{{index .Labels "airflow-ops.test.inputs"}}' "$1" 2>/dev/null)" = "$2" ]
}

# Host CA certificates: the package index is reached through the host's TLS setup.
host_ca_files() {
  find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort
}

build_base() {
  local mirrors main security key
  mirrors="$(python3 "$IMAGES_DIR/base/apt-sources.py" "$SUITE")" \
    || die "no Debian $SUITE mirror in the host's apt sources: add one to /etc/apt/sources.list.d" 2
  read -r main security <<<"$mirrors"
  # shellcheck disable=SC2046
  key="$(inputs_hash "$IMAGES_DIR"/base/* $(host_ca_files) -- "$main" "$security" "$SUITE")"
  if image_is_current "$BASE_IMAGE" "$key"; then
    echo "base image up to date ($BASE_IMAGE, $key)"
    BASE_KEY="$key"
    return 0
  fi
  local root="$STATE_DIR/rootfs-$SUITE"
  rm -rf "$root"
  mkdir -p "$root" "$BUILD_LOG_DIR"
  echo "debootstrap --variant=minbase $SUITE from $main (log: $BUILD_LOG_DIR/base.log)"
  bash "$IMAGES_DIR/base/build-rootfs.sh" "$root" "$SUITE" "$main" "$security" >"$BUILD_LOG_DIR/base.log" 2>&1 \
    || die "debootstrap of $SUITE from $main failed ($(tail -1 "$BUILD_LOG_DIR/base.log")): check the mirror in /etc/apt and $BUILD_LOG_DIR/base.log"
  tar -C "$root" --numeric-owner -c . | podman import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL airflow-ops.test.inputs=$key" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    - "$BASE_IMAGE" >>"$BUILD_LOG_DIR/base.log" 2>&1 \
    || die "podman import of the $SUITE rootfs failed: see $BUILD_LOG_DIR/base.log"
  rm -rf "$root"
  BASE_KEY="$key"
  echo "built $BASE_IMAGE ($key)"
}

# build_image NAME KEY CONTEXT TAG... -- [podman build args]
build_image() {
  local name="$1" key="$2" context="$3"
  shift 3
  local tags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do tags+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  if image_is_current "${tags[0]}" "$key"; then
    echo "$name image up to date (${tags[0]}, $key)"
    return 0
  fi
  mkdir -p "$BUILD_LOG_DIR"
  echo "building $name (${tags[*]}; log: $BUILD_LOG_DIR/$name.log)"
  local tag_args=() t
  for t in "${tags[@]}"; do tag_args+=(--tag "$t"); done
  podman build --pull=never --network=host --label "airflow-ops.test.inputs=$key" "${tag_args[@]}" "$@" "$context" \
    >"$BUILD_LOG_DIR/$name.log" 2>&1 \
    || die "building the $name image failed ($(grep -v '^\s*$' "$BUILD_LOG_DIR/$name.log" | tail -1)): see $BUILD_LOG_DIR/$name.log"
}

# The image names and build arguments, as the compose file resolves them for this trial.
compose_images_json() {
  $(compose_bin) "${COMPOSE_ARGS[@]}" --profile celery config --format json 2>"$STATE_DIR/config.err" \
    | python3 -c '
import json, sys
c = json.load(sys.stdin)
s = c["services"]
build = s["airflow-init"]["build"]
print(json.dumps({
    "postgres": s["postgres"]["image"], "minio": s["minio"]["image"], "mc": s["minio-init"]["image"],
    "redis": s["redis"]["image"], "airflow_ops": s["airflow-init"]["image"],
    "build_args": build.get("args", {}), "dockerfile": build["dockerfile"],
}))' || die "docker compose config failed ($(tail -1 "$STATE_DIR/config.err")): fix docker-compose.yaml"
}

# Docker normalises short names to docker.io/...; tag both forms so either lookup finds the stand-in.
tags_for() {
  local ref="$1"
  case "$ref" in
    */*/*) echo "$ref" ;;
    */*) echo "docker.io/$ref localhost/$ref" ;;
    *) echo "docker.io/library/$ref localhost/$ref" ;;
  esac
}

build_standins() {
  local info
  info="$(compose_images_json)"
  jq_() { python3 -c "import json,sys; v=json.loads(sys.argv[1]); print($2)" "$info"; }
  local airflow_ref pg_ref minio_ref mc_ref redis_ref ops_ref
  airflow_ref="$(jq_ x 'v["build_args"]["AIRFLOW_IMAGE"]')"
  pg_ref="$(jq_ x 'v["postgres"]')"; minio_ref="$(jq_ x 'v["minio"]')"; mc_ref="$(jq_ x 'v["mc"]')"
  redis_ref="$(jq_ x 'v["redis"]')"; ops_ref="$(jq_ x 'v["airflow_ops"]')"

  build_base

  local ctx="$STATE_DIR/context"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -r "$IMAGES_DIR/airflow" "$ctx/airflow"
  # The stand-in Airflow image installs the lock of the release the compose file names (its tag).
  local airflow_minor lock
  airflow_minor="$(python3 -c 'import re,sys; print(re.search(r":(\d+\.\d+)\.", sys.argv[1]).group(1))' "$airflow_ref")"
  lock="$REPO/requirements/lock-$airflow_minor.txt"
  cp "$lock" "$ctx/airflow/lock.txt"
  local uv_cache=()
  [ -d "$HOME/.cache/uv" ] && uv_cache=(--volume "$HOME/.cache/uv:/root/.cache/uv")
  local index_args=()
  [ -n "${UV_DEFAULT_INDEX:-${UV_INDEX_URL:-}}" ] && index_args=(--build-arg "UV_DEFAULT_INDEX=${UV_DEFAULT_INDEX:-$UV_INDEX_URL}")
  # PostgreSQL and Redis need only the base: build them while the Airflow image installs the lock.
  local pg_key redis_key
  pg_key="$(inputs_hash "$IMAGES_DIR"/postgres/* -- "$BASE_KEY")"
  redis_key="$(inputs_hash "$IMAGES_DIR"/redis/* -- "$BASE_KEY")"
  # shellcheck disable=SC2046
  (build_image postgres "$pg_key" "$IMAGES_DIR/postgres" $(tags_for "$pg_ref") -- --build-arg "BASE=$BASE_IMAGE") &
  BUILD_PIDS+=($!)
  # shellcheck disable=SC2046
  (build_image redis "$redis_key" "$IMAGES_DIR/redis" $(tags_for "$redis_ref") -- --build-arg "BASE=$BASE_IMAGE") &
  BUILD_PIDS+=($!)

  local airflow_key
  airflow_key="$(inputs_hash "$IMAGES_DIR"/airflow/* "$lock" -- "$BASE_KEY")"
  # shellcheck disable=SC2046
  build_image airflow "$airflow_key" "$ctx/airflow" $(tags_for "$airflow_ref") -- \
    --build-arg "BASE=$BASE_IMAGE" "${uv_cache[@]}" "${index_args[@]}"

  # The product's own docker/Dockerfile on top, with the build arguments the compose file passes.
  local build_args=() ops_key
  mapfile -t build_args < <(jq_ x '"\n".join(f"--build-arg={k}={a}" for k, a in v["build_args"].items())')
  ops_key="$(inputs_hash "$REPO/docker/Dockerfile" -- "$airflow_key" "${build_args[@]}")"
  mkdir -p "$ctx/empty"
  # shellcheck disable=SC2046
  build_image airflow-ops "$ops_key" "$ctx/empty" $(tags_for "$ops_ref") -- \
    --file "$REPO/docker/Dockerfile" "${build_args[@]}"

  local pid key
  for pid in "${BUILD_PIDS[@]}"; do wait "$pid" || exit $?; done
  BUILD_PIDS=()
  key="$(inputs_hash "$IMAGES_DIR"/minio/* -- "$airflow_key")"
  # shellcheck disable=SC2046
  build_image s3 "$key" "$IMAGES_DIR/minio" $(tags_for "$minio_ref") $(tags_for "$mc_ref") -- \
    --build-arg "AIRFLOW_STANDIN=$(tags_for "$airflow_ref" | cut -d' ' -f1)"
}

# Superseded stand-ins (untagged after a rebuild) would pile up in podman's storage.
prune_standins() {
  podman image prune -f --filter label=airflow-ops.test.inputs >/dev/null 2>&1 || true
}
