# airflow-ops: every entry point (CI, pre-commit, GitHub Actions, GitLab) calls these targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-lock
# uv lives in its own tool venv: `uv pip sync` keeps .venv exactly equal to the lock.
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# plugins/ (runtime package), tools/ (the airflow-ops command) and the root (tests.harness for demo/bench).
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)/tools:$(CURDIR)

.DEFAULT_GOAL := help
.PHONY: help venv lock generate check-generated lint typecheck test test-prereqs test-unit test-integration test-compose demo bench soak clean browser

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9

$(STAMP): requirements/lock.txt pyproject.toml | $(UV)
	test -x $(BIN)/python || $(UV) venv -q --python $(PYTHON) $(VENV)
	@# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (common in CI and images) every Airflow
	@# process would otherwise recompile its imports from source on each start.
	$(UV) pip sync -q --compile-bytecode --python $(BIN)/python --require-hashes requirements/lock.txt
	@# The project itself, editable and without dependencies: puts `airflow-ops` on .venv/bin.
	$(UV) pip install -q --no-deps --python $(BIN)/python -e .
	touch $@

venv: $(STAMP) ## Build .venv from the committed lock (no unpinned resolution)

lock: | $(UV) ## Re-resolve requirements/requirements.in into the hashed lock
	$(UV) pip compile requirements/requirements.in -o requirements/lock.txt --python-version 3.11 --generate-hashes

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
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .demo

.PHONY: validate
validate: $(STAMP) check-generated ## Drift check, DAG import/policy tests, airflow.cfg profiles: lint + Airflow schema
	$(BIN)/pytest -q -p no:cacheprovider tests/dags
	$(BIN)/airflow-ops render-cfg --validate-all

.PHONY: mutation
mutation: $(STAMP) ## mutmut on the rules that delete, keep or refuse: mutation-results.json, every survivor (MUTATION_MODULES=a.py,b.py)
	nice -n 10 $(BIN)/python scripts/mutation.py
