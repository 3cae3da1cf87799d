# Everyday targets. `make run` and `make test` are all a fresh machine needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed
JS_TESTS := tests/js
JS_INSTALLED := $(JS_TESTS)/node_modules/.installed
PACKAGES := orm realtime server migrations

.PHONY: run test lint typecheck pytest pytest-scylla install js services \
	services-stop bench clean

run: $(INSTALLED)
	$(BIN)/roomcast serve

install: $(INSTALLED)

$(INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,mongodb,cassandra,redis]'
	touch $@

# scylla-driver provides the same `cassandra` module as cassandra-driver, so
# it gets a virtualenv of its own, where the Cassandra suites run again.
SCYLLA_VENV := .venv-scylla
SCYLLA_INSTALLED := $(SCYLLA_VENV)/.installed

$(SCYLLA_INSTALLED): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(SCYLLA_VENV)
	$(SCYLLA_VENV)/bin/pip install --quiet --upgrade pip
	$(SCYLLA_VENV)/bin/pip install --quiet -e '.[dev,scylla]'
	touch $@

js: $(JS_INSTALLED)

$(JS_INSTALLED): $(JS_TESTS)/package.json $(JS_TESTS)/package-lock.json
	cd $(JS_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(INSTALLED)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy $(PACKAGES)

# Redis, Cassandra and the MongoDB-wire server (FerretDB) on 127.0.0.1; their
# URLs go to var/services.env, which the tests read.
services:
	scripts/services/all.sh start

services-stop:
	scripts/services/all.sh stop

pytest: $(INSTALLED) $(BENCH_INSTALLED) $(JS_INSTALLED) services
	set -a && . var/services.env && set +a && $(BIN)/pytest

pytest-scylla: $(SCYLLA_INSTALLED) services
	set -a && . var/services.env && set +a && $(SCYLLA_VENV)/bin/pytest -q \
		tests/conformance/test_cassandra_connector.py \
		tests/conformance/test_backends.py -k cassandra

test: lint typecheck pytest pytest-scylla

$(BENCH_INSTALLED): $(INSTALLED) benchmarks/requirements.txt
	$(BIN)/pip install --quiet -r benchmarks/requirements.txt
	touch $@

# The short benchmarks (under 3 minutes on 2 cores): tables printed, JSON
# written to var/bench/. `python -m benchmarks --full` runs the full sizes.
bench: $(BENCH_INSTALLED) services
	set -a && . var/services.env && set +a && $(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(SCYLLA_VENV) $(JS_TESTS)/node_modules .mypy_cache .ruff_cache .pytest_cache
