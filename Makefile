# redfeed — every developer and CI path goes through these targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.SHELLFLAGS := -eu -o pipefail -c

PYTHON_HOST ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := build/uv/bin/uv
UV_VERSION := 0.13.9
export UV_NATIVE_TLS := 1
export TESTCONTAINERS_RYUK_DISABLED := true
export DOCKER_BUILDKIT := 1
DOCKER := /usr/bin/docker
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ------------------------------------------------------------------------------ environment
$(UV):
	$(PYTHON_HOST) -m venv build/uv
	build/uv/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: requirements/dev.txt pyproject.toml | $(UV)
	test -x $(PY) || $(UV) venv -q --python $(PYTHON_HOST) $(VENV)
	$(UV) pip sync -q --compile-bytecode --python $(PY) requirements/dev.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	$(UV) pip install -q --python $(PY) pip
	# Bytecode ahead of time, as in the images: with PYTHONDONTWRITEBYTECODE set, every process
	# (each loader the benchmark starts) would otherwise compile its imports again (~1 s).
	$(PY) -m compileall -q src
	touch $@

.PHONY: venv
venv: $(VENV)/.synced ## dev venv with the pinned dependencies (requirements/dev.txt)

.PHONY: lock
lock: venv ## re-pin requirements/*.txt (Airflow 3.3.2 constraints win where they overlap)
	# name : python version to solve for : extras. Images run bookworm's Python 3.11.2; the
	# Airflow constraints were frozen on 3.11.7 (see images/airflow/Dockerfile).
	for spec in "images:3.11:--extra scrape --extra load" "s3:3.11:--extra s3" \
	            "airflow:3.11.7:--extra airflow" \
	            "dev:3.11.7:--extra scrape --extra load --extra dev --extra airflow"; do \
	  name=$${spec%%:*}; rest=$${spec#*:}; version=$${rest%%:*}; extras=$${rest#*:}; \
	  $(UV) pip compile -q pyproject.toml $$extras -c requirements/airflow-constraints.txt \
	    --python-version $$version --generate-hashes -o requirements/$$name.txt; \
	done
	# redfeed/python (and the loader on it): the images' pins without the `scrape` extra.
	$(UV) pip compile -q pyproject.toml --extra load -c requirements/airflow-constraints.txt \
	  -c requirements/images.txt --python-version 3.11 --generate-hashes -o requirements/python.txt
	# The benchmark's peer (dlt) lives in its own venv, solved without Airflow's constraints.
	$(UV) pip compile -q pyproject.toml --extra bench --python-version 3.11.7 --generate-hashes \
	  -o requirements/bench.txt

# ------------------------------------------------------------------------------ images
.PHONY: engine
engine: ## install and start the Docker engine (docker.io, mmdebstrap, docker-compose) if needed
	scripts/docker-engine.sh

.PHONY: base
base: engine ## build redfeed/base from Debian packages (mmdebstrap | docker import)
	scripts/build-base.sh

.PHONY: wheels
wheels: venv ## build the wheelhouses the images install from
	PYTHON=$(PY) scripts/wheelhouse.sh images s3 airflow

.PHONY: debs
debs: base ## fetch the .deb files images need beyond the base (build/debs)
	scripts/debhouse.sh postgres redis

.PHONY: images
images: base wheels debs ## build every image under images/ offline (--network none), incrementally
	scripts/build-images.sh

# ------------------------------------------------------------------------------ checks
.PHONY: lint
lint: venv ## ruff format check, ruff lint, mypy
	$(VENV)/bin/ruff format --check src tests migrations scripts dags
	$(VENV)/bin/ruff check src tests migrations scripts dags
	$(VENV)/bin/ruff check --select AIR3 dags
	$(VENV)/bin/mypy

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
define run_pytest
	rc=0; $(VENV)/bin/pytest $(1) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc
endef

# The layers run side by side, a layer at a time on each worker (tests/conftest.py schedules
# them), in collection order: contract and e2e first, then faults, integration and unit.
TEST_WORKERS ?= 2

.PHONY: test
test: venv images ## every test layer (unit, contract, integration, faults, e2e), side by side
	@$(call run_pytest,tests -n $(TEST_WORKERS) --no-loadscope-reorder)

.PHONY: test-unit
test-unit: venv ## unit tests only (no Docker)
	@$(call run_pytest,tests/unit -m unit)

.PHONY: test-contract
test-contract: venv images ## run each image for real
	@$(call run_pytest,tests/contract -m contract)

.PHONY: test-integration
test-integration: venv images ## testcontainers PostgreSQL and local S3
	@$(call run_pytest,tests/integration -m integration)

.PHONY: test-faults
test-faults: venv images ## fault injection: source, archive and warehouse failures (real images)
	@$(call run_pytest,tests/faults -m faults)

.PHONY: test-e2e
test-e2e: venv images ## the compose stack (CeleryExecutor, 2 workers) through the Airflow REST API
	@$(call run_pytest,tests/e2e -m e2e)

# ------------------------------------------------------------------------------ warehouse
.PHONY: redshift-ddl
redshift-ddl: venv ## print the Redshift DDL that `alembic upgrade head --sql` renders
	@$(PY) -m redfeed.warehouse.ddl

.PHONY: redshift-ddl-golden
redshift-ddl-golden: venv ## regenerate tests/golden/redshift-ddl.sql after a migration
	$(PY) -m redfeed.warehouse.ddl --output tests/golden/redshift-ddl.sql

.PHONY: table-specs
table-specs: venv ## regenerate src/redfeed/warehouse/table_specs.json (what loads read) after a model change
	$(PY) -m redfeed.warehouse.jsonpaths --output src/redfeed/warehouse/table_specs.json

.PHONY: drift
drift: venv ## compare $$REDFEED_WAREHOUSE_URL with the models (non-zero exit on drift)
	$(PY) -m redfeed.warehouse.drift

# ------------------------------------------------------------------------------ bench
BENCH_VENV := build/bench-venv
BENCH_PY := $(BENCH_VENV)/bin/python
# QUICK=1: tiny sizes, the same code paths, written to build/ (`make test` checks it runs).
ifeq ($(QUICK),1)
BENCH_SIZES ?= 1000,5000
BENCH_OUTPUT ?= build/bench-quick/BENCHMARKS.md
BENCH_PEER_MAX ?= 1000
BENCH_QUICK_FLAG := --quick
else
BENCH_SIZES ?= 1000,10000,100000,1000000
BENCH_OUTPUT ?= BENCHMARKS.md
BENCH_PEER_MAX ?= 200000
BENCH_QUICK_FLAG :=
endif
BENCH_REPEAT ?= 3

$(BENCH_VENV)/.synced: requirements/bench.txt | $(UV)
	test -x $(BENCH_PY) || $(UV) venv -q --python $(PYTHON_HOST) $(BENCH_VENV)
	$(UV) pip sync -q --compile-bytecode --python $(BENCH_PY) requirements/bench.txt
	touch $@

.PHONY: bench-venv
bench-venv: $(BENCH_VENV)/.synced ## the benchmark's own venv: dlt (the peer) and matplotlib, extra `bench`

.PHONY: bench
bench: venv images bench-venv ## every benchmark side by side; writes BENCHMARKS.md and its chart (QUICK=1: tiny, to build/)
	$(PY) -m tests.bench --sizes $(BENCH_SIZES) --repeat $(BENCH_REPEAT) \
	  --output $(BENCH_OUTPUT) --peer-python $(BENCH_PY) --peer-max $(BENCH_PEER_MAX) \
	  $(BENCH_QUICK_FLAG)

.PHONY: bench-orchestration
bench-orchestration: venv images ## Airflow overhead and 1 vs 2 workers on the compose stack; its section of BENCHMARKS.md (QUICK=1: 2 feeds x 2 days, to build/)
	$(PY) -m tests.bench.orchestration $(BENCH_QUICK_FLAG) --output $(BENCH_OUTPUT)

# ------------------------------------------------------------------------------ demo
.PHONY: demo
demo: venv images ## start the local Airflow stack, backfill confs.tech through the REST API, report
	scripts/demo.sh

.PHONY: down
down: ## stop the local stack and drop its volumes
	scripts/demo.sh down

.PHONY: logs
logs: ## follow the local stack's logs
	scripts/demo.sh logs

.PHONY: clean
clean: ## remove build outputs (not the Docker images)
	rm -rf build
