# durableapp: `make run` for the one-machine app, `make test` for the whole suite.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff
PYTEST := $(PY) -m pytest

# Services used by the production-shaped test runs; override on the command line.
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672/
REDIS_URL ?= redis://127.0.0.1:6379/0

# The one-machine default: no service URLs, whatever the calling shell exports.
DEFAULT_ENV := env -u DATABASE_URL -u DURABLE_BROKER_URL -u CHANNEL_LAYER_URL

.PHONY: venv run lint fmt test test-engine test-sqlite test-postgres test-redis bench bench-quick clean

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

test: lint test-engine test-sqlite test-postgres test-redis

# The pure engine: no database, no broker.
test-engine: $(VENV)
	$(DEFAULT_ENV) $(PYTEST) tests/engine -q

# The one-machine default: SQLite (WAL) + embedded worker.
test-sqlite: $(VENV)
	$(DEFAULT_ENV) $(PYTEST) tests -q --ignore tests/engine -m "not postgres"

# Production shape: PostgreSQL + RabbitMQ.
test-postgres: $(VENV)
	DATABASE_URL=$(POSTGRES_URL) DURABLE_BROKER_URL=$(RABBITMQ_URL) \
		$(PYTEST) tests -q --ignore tests/engine

# The Redis broker only changes transport, so only the runtime tests run again.
test-redis: $(VENV)
	DATABASE_URL=$(POSTGRES_URL) DURABLE_BROKER_URL=$(REDIS_URL) \
		$(PYTEST) -m integration tests -q --ignore tests/engine

# Overhead figures against a baseline measured in the same run (needs PostgreSQL +
# RabbitMQ like test-postgres). Prints a table, writes bench-results/bench.json.
bench: $(VENV)
	$(PY) -m tests.bench.run

bench-quick: $(VENV)
	$(PY) -m tests.bench.run --quick

clean:
	rm -rf .pytest_cache .ruff_cache staticfiles artifacts bench-results *.egg-info
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm test-db.sqlite3*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
