#!/usr/bin/env bash
# `make test-compat MINORS...`: for the newest patch of each Airflow minor given (its lock's pin), the unit
# suite and the `compat` integration tests (tests/conftest.py COMPAT_MODULES: every DAG under a real
# scheduler, db clean on aged rows archived to S3, metrics into a real StatsD listener, alerts, the
# Maintenance page in Chromium); then dags/ imported with DagBag on every other 3.1-3.3 patch release.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$SECONDS
for minor in "$@"; do
  lock="requirements/lock-$minor.txt"
  [[ -f $lock ]] || { echo "error: no $lock: supported minors are those with a lock in requirements/" >&2; exit 2; }
  version=$(sed -n 's/^apache-airflow==\([0-9.]*\).*/\1/p' "$lock")
  make --no-print-directory venv AIRFLOW_VERSION="$version"
  venv=$(make --no-print-directory -s print-venv AIRFLOW_VERSION="$version")
  echo "== Airflow $version: unit suite ($venv)"
  "$venv/bin/pytest" -m "not integration" -p no:cacheprovider tests
  echo "== Airflow $version: every DAG under a real scheduler, db clean, metrics, alerts, the Maintenance page"
  "$venv/bin/pytest" -m compat -p no:cacheprovider tests/integration
  echo "== Airflow $version: done at $((SECONDS - started)) s"
done
make --no-print-directory venv
echo "== dags/ with DagBag on every other Airflow 3.1-3.3 patch release (and 3.0's refusal)"
.venv/bin/python -m tests.compat.patches
echo "== test-compat took $((SECONDS - started)) s"
