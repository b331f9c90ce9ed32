#!/bin/sh
# Creates the bundle's buckets on the compose MinIO (idempotent), so that the backup, export and
# log-archive DAGs work out of the box. Runs in the minio/mc image as the `minio-init` service.
set -eu
# The password comes from the file airflow-secrets wrote (MINIO_ROOT_PASSWORD_FILE) unless set directly.
if [ -z "${MINIO_ROOT_PASSWORD:-}" ] && [ -n "${MINIO_ROOT_PASSWORD_FILE:-}" ]; then
  MINIO_ROOT_PASSWORD="$(cat "$MINIO_ROOT_PASSWORD_FILE")"
fi
: "${MINIO_ROOT_USER:?minio-init: MINIO_ROOT_USER is empty: set it in .env or unset it for the default}"
: "${MINIO_ROOT_PASSWORD:?minio-init: no MinIO password: MINIO_ROOT_PASSWORD_FILE must name the file airflow-secrets wrote}"
BUCKETS="${AIRFLOW_OPS_BUCKETS:-airflow-ops-backups airflow-ops-exports airflow-ops-archive airflow-ops-logs}"

i=0
until mc alias set local "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 30 ]; then echo "minio-init: MinIO not reachable at ${MINIO_URL:-http://minio:9000}" >&2; exit 1; fi
  sleep 2
done
for bucket in $BUCKETS; do
  mc mb --ignore-existing "local/$bucket"
done
# Backups are the last line of defence: keep object versions so an overwrite or delete is recoverable.
mc version enable local/airflow-ops-backups
echo "minio-init: buckets ready: $BUCKETS"
