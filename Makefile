# make up | plan | test | setup | engine | lint | bench   (setup, and engine before it, are prerequisites)
SHELL := /bin/bash
PYTHON ?= python3
PY := .venv/bin/python
STACK ?= prod
ARGS ?=

.PHONY: setup engine engine-bin up down plan test lint bench mutation clean

setup: engine .venv/.installed .venv-checkov/.installed /usr/bin/promtool /usr/bin/pgbackrest

# The real engine and the local control plane, built from Go modules once per recipe (ops/engine/).
# Standard-library Python only: it runs before .venv exists.
engine:
	@$(PYTHON) -m ops.engine

engine-bin:
	@$(PYTHON) -m ops.engine --bin

# Deploy the `local` stack with the real engine on the local control plane, then show the release. The
# exports are taken whole or not at all: a failed `ops local env` must not leave an ambient `pulumi` to run.
up: engine .venv/.installed /usr/bin/promtool
	$(PY) -m ops local up
	exports=$$($(PY) -m ops local env) || exit 1; eval "$$exports"; \
	  pulumi up --stack local --yes --non-interactive && $(PY) -m ops status -s local

down:
	$(PY) -m ops local down

.venv/.installed: requirements.txt requirements-dev.txt
	@echo "setup: creating .venv and installing requirements-dev.txt"
	$(PYTHON) -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -r requirements-dev.txt
	@touch $@

# checkov pins versions that conflict with the Pulumi SDK's, so it gets a venv of its own.
.venv-checkov/.installed:
	@echo "setup: creating .venv-checkov (checkov for tier T5)"
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==3.3.30
	@touch $@

# promtool (tier T6) and the Prometheus server (gate tests) come from Debian's prometheus package.
/usr/bin/promtool:
	@echo "setup: installing Debian's prometheus package (promtool, prometheus)"
	@if [ "$$(id -u)" != 0 ]; then echo "need root for apt-get: run 'sudo apt-get install -y prometheus'"; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null

# The restore drill (tests/ops/test_restore_drill.py) runs Debian's PostgreSQL 15 and pgBackRest.
/usr/bin/pgbackrest:
	@echo "setup: installing Debian's postgresql-15 and pgbackrest packages (the restore drill)"
	@if [ "$$(id -u)" != 0 ]; then echo "need root for apt-get: run 'sudo apt-get install -y postgresql-15 pgbackrest'"; exit 1; fi
	@# The drill starts its own clusters: the package's default cluster (and its 5432 listener) is not wanted.
	@[ -e /etc/postgresql-common/createcluster.conf ] || { mkdir -p /etc/postgresql-common && \
	  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 pgbackrest >/dev/null

plan: setup
	$(PY) -m ops plan --stack $(STACK) $(ARGS)

test: setup
	$(PY) -m pytest -n 2 -p no:cacheprovider

lint: setup
	.venv/bin/ruff check components ops policies tests __main__.py
	.venv/bin/mypy components ops

bench: setup
	$(PY) -m ops.bench $(ARGS)

# Mutation testing of the decision cores (minutes; not part of `make test`): ops/mutation_score.py.
mutation: setup
	@$(PY) -c "import mutmut" 2>/dev/null || .venv/bin/pip install --quiet mutmut==3.8.1
	$(PY) -m ops.mutation_score

clean:
	rm -rf build mutants .mypy_cache .ruff_cache
