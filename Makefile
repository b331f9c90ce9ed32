# airflow-ops: every entry point (CI, pre-commit, GitHub Actions, GitLab) calls these targets.
SHELL := /bin/bash
PYTHON ?= python3.11
# The Airflow release of the environment: the newest supported by default. Each supported minor has its
# own hashed lock (requirements/lock-<minor>.txt, its newest patch); another patch of that minor is
# installed over its lock. `make demo AIRFLOW_VERSION=3.1.8` builds and uses .venv-3.1.8.
DEFAULT_AIRFLOW := 3.3.2
AIRFLOW_VERSION ?= $(DEFAULT_AIRFLOW)
AIRFLOW_MINOR := $(shell echo '$(AIRFLOW_VERSION)' | cut -d. -f1,2)
LOCK := requirements/lock-$(AIRFLOW_MINOR).txt
LOCK_AIRFLOW := $(shell sed -n 's/^apache-airflow==\([0-9.]*\).*/\1/p' $(LOCK) 2>/dev/null)
VENV := $(if $(filter $(DEFAULT_AIRFLOW),$(AIRFLOW_VERSION)),.venv,.venv-$(AIRFLOW_VERSION))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock
# uv lives in its own tool venv: `uv pip sync` keeps each venv exactly equal to its lock.
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# plugins/ (runtime package), tools/ (the airflow-ops command) and the root (tests.harness for demo/bench).
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)/tools:$(CURDIR)
MINORS := 3.1 3.2 3.3

.DEFAULT_GOAL := help
.PHONY: help venv lock generate check-generated lint typecheck test test-prereqs test-unit test-integration test-compose test-compat print-venv demo bench soak clean browser

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@test -f $(LOCK) || { echo "error: airflow-ops supports Airflow $(MINORS) (no $(LOCK) for AIRFLOW_VERSION=$(AIRFLOW_VERSION))"; exit 2; }
	test -x $(BIN)/python || $(UV) venv -q --python $(PYTHON) $(VENV)
	@# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (common in CI and images) every Airflow
	@# process would otherwise recompile its imports from source on each start.
	$(UV) pip sync -q --compile-bytecode --python $(BIN)/python --require-hashes $(LOCK)
	@# Another patch of the same minor: that release's Airflow over the minor's lock.
	@if [ "$(AIRFLOW_VERSION)" != "$(LOCK_AIRFLOW)" ]; then \
	  echo "$(UV) pip install apache-airflow==$(AIRFLOW_VERSION) over $(LOCK)"; \
	  $(UV) pip install -q --compile-bytecode --python $(BIN)/python "apache-airflow[celery,postgres,amazon,smtp,statsd]==$(AIRFLOW_VERSION)" "apache-airflow-core==$(AIRFLOW_VERSION)"; fi
	@# The checkout on the venv's path (a .pth file) and its own `airflow-ops` command, without
	@# installing the project: its `airflow.plugins` entry point would stand in for plugins/ (the
	@# git-sync path the suite tests); the pip-install path is tested in a venv of its own
	@# (tests/integration/test_package.py).
	@$(UV) pip uninstall -q --python $(BIN)/python airflow-ops 2>/dev/null || true
	@printf '%s\n%s\n' "$(CURDIR)/plugins" "$(CURDIR)/tools" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/airflow_ops_checkout.pth"
	@printf '#!/bin/sh\nexec "%s/python" -m airflow_ops_tools.cli "$$@"\n' "$(CURDIR)/$(BIN)" > $(BIN)/airflow-ops && chmod +x $(BIN)/airflow-ops
	touch $@

venv: $(STAMP) ## Build .venv from the committed lock (no unpinned resolution)

lock: | $(UV) ## Re-resolve requirements/airflow-<minor>.in into each minor's hashed lock
	cd requirements && for m in $(MINORS); do \
	  ../$(UV) pip compile airflow-$$m.in -o lock-$$m.txt --python-version 3.11 --generate-hashes -q || exit 1; done

generate: $(STAMP) ## Render config/*.yml into dags/*.py (pruning DAGs whose config is gone) and README.md's generated sections
	$(BIN)/airflow-ops generate --prune
	$(BIN)/airflow-ops readme

check-generated: $(STAMP) ## Fail when dags/ or README.md's generated sections are stale
	$(BIN)/airflow-ops generate --check
	$(BIN)/airflow-ops readme --check

lint: $(STAMP) ## ruff (with the AIR rules)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check plugins tools scripts tests bench

typecheck: $(STAMP) ## mypy --strict on plugins/airflow_ops and tools/airflow_ops_tools
	$(BIN)/mypy

test-unit: $(STAMP) ## Unit and DAG-integrity tests only (fast)
	$(BIN)/pytest -m "not integration" tests

test-integration: $(STAMP) browser ## Tests against real PostgreSQL, S3 and Airflow processes
	$(BIN)/pytest -m integration tests

test-prereqs: ## Install (as root) / check what the suite needs: PostgreSQL, Redis, git, docker-compose, Node.js
	@bash tests/host-setup.sh

test: test-prereqs $(STAMP) browser check-generated lint typecheck ## Everything CI runs: drift check, lint, types, the whole suite
	$(BIN)/pytest tests

COMPAT_MINORS ?= $(MINORS)
test-compat: test-prereqs browser | $(UV) ## Each Airflow minor's newest patch: unit suite + compat integration tests; dags/ on every other patch
	bash tests/compat/run.sh $(COMPAT_MINORS)

print-venv:
	@echo $(VENV)

test-compose: ## `docker compose up` for real on podman with stand-in images; every DAG via the REST API
	bash tests/compose/run.sh

# The Maintenance page's browser test drives Debian's headless Chromium through chromedriver.
browser: ## Install Debian's chromium and chromium-driver when missing (apt; sudo when not root)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

demo: $(STAMP) ## Local Airflow with the bundle: run every DAG once under the real scheduler (DEMO_ARGS=--keep)
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

bench: $(STAMP) ## Write bench-results.json
	$(BIN)/python -m bench --output bench-results.json

soak: $(STAMP) ## The whole bundle for 30 min on compressed schedules (SOAK_MINUTES=30); writes soak-results.json
	$(BIN)/python -m tests.soak --minutes $(or $(SOAK_MINUTES),30) --output soak-results.json

clean: ## Remove the virtualenv and caches
	rm -rf .venv .venv-* .compat $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .demo

.PHONY: validate
validate: $(STAMP) check-generated ## Drift check, DAG import/policy tests, airflow.cfg profiles: lint + Airflow schema
	$(BIN)/pytest -q -p no:cacheprovider tests/dags
	$(BIN)/airflow-ops render-cfg --validate-all
