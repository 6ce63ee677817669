# durableapp: `make run` for the one-machine app, `make test` for the whole suite.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff

# Services used by the production-shaped test runs; override on the command line.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672/
REDIS_URL ?= redis://127.0.0.1:6379/0
export POSTGRES_URL RABBITMQ_URL REDIS_URL

.PHONY: venv run lint fmt test test-engine test-sqlite test-postgres test-redis services bench bench-quick bench-compare bench-scale clean

# `make .venv` (or `make venv`) creates the virtualenv if missing and re-installs
# whenever pyproject.toml is newer than the stamp.
.PHONY: $(VENV)
$(VENV) venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The one-machine demo: DJANGO_DEBUG=1 (debug pages, a generated secret key, plain HTTP).
run: $(VENV)
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py durable serve

lint: $(VENV)
	$(RUFF) check .
	$(RUFF) format --check .
	$(VENV)/bin/lint-imports

fmt: $(VENV)
	$(RUFF) format .
	$(RUFF) check --fix .

# The suites side by side (scripts/run_tests.py): it starts the services that are installed
# and down, an embedded PostgreSQL where none is installed; a suite whose broker is not
# installed is reported as not run, with the command that installs it.
test: lint
	$(PY) scripts/run_tests.py

# One suite alone: test-engine (no database, no broker), test-sqlite (the one-machine
# default: SQLite + embedded worker), test-postgres (PostgreSQL + RabbitMQ), test-redis
# (PostgreSQL + Redis, the tests that run workers: the broker only changes transport).
test-engine test-sqlite test-postgres test-redis: $(VENV)
	$(PY) scripts/run_tests.py $(@:test-%=%)

# Start the services the suites use, where installed and down (also done by `make test`).
services: $(VENV)
	$(PY) scripts/services.py

# Overhead figures against a baseline measured in the same run (needs PostgreSQL +
# RabbitMQ like test-postgres). Prints a table, writes bench-results/bench.json.
bench: $(VENV)
	$(PY) -m tests.bench.run
	$(PY) -m tests.entities.bench  # entities: batching, 10,000 entities, call round trip

bench-quick: $(VENV)
	$(PY) -m tests.bench.run --quick

# durableapp side by side with DBOS Transact 3.4 on the same PostgreSQL (tests/bench/compare.py):
# dbos lives in its own virtualenv, never the project's. Writes bench-results/compare.json.
DBOS_VENV := .bench-venv/dbos
$(DBOS_VENV)/.installed:
	test -x $(DBOS_VENV)/bin/python || $(PYTHON) -m venv $(DBOS_VENV)
	$(DBOS_VENV)/bin/pip install 'dbos==3.4.0'
	touch $@

bench-compare: $(VENV) $(DBOS_VENV)/.installed
	$(PY) -m tests.bench.compare

# Operator pages timed server-side at 10,000,000 instances (tests/bench/scale.py); the seeded
# database is dropped afterwards unless SCALE_ARGS=--keep. Writes bench-results/scale.json.
SCALE_ARGS ?=
bench-scale: $(VENV)
	$(PY) -m tests.bench.scale $(SCALE_ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles artifacts bench-results *.egg-info
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-db.sqlite3*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
