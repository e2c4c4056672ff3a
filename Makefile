# dogcli: make test sets everything up (Debian packages, virtualenv) and runs the whole suite.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBS := chromium chromium-driver postgresql
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
DEMO_PORT ?= 8123
DEMO_DIR ?= demo-data

.PHONY: all install system-deps test lint fmt run demo bench clean install-systemd

all: test

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Chromium, its driver and a PostgreSQL server for the tests, from Debian, only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: system-deps $(STAMP)
	$(BIN)/pytest --cov=dogcli --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dogcli tests migrations bench
	$(BIN)/ruff format --check dogcli tests migrations bench
	$(BIN)/mypy dogcli

fmt: $(STAMP)
	$(BIN)/ruff check --fix dogcli tests migrations bench
	$(BIN)/ruff format dogcli tests migrations bench

# A real fetch into ./data with SQLite (needs the internet).
run: system-deps $(STAMP)
	$(BIN)/dogcli fetch

# Offline: the replica of tests/ serves the site; backfill, fetch and stats against it.
demo: system-deps $(STAMP)
	@set -e; rm -rf $(DEMO_DIR); \
	$(BIN)/python -m tests.replica --port $(DEMO_PORT) --days 3 & pid=$$!; \
	trap "kill $$pid 2>/dev/null" EXIT; \
	for i in $$(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$(DEMO_PORT)/terminal_cameras/apm?streamName=in_gate && break; sleep 0.1; done; \
	export DOGCLI_DATA_DIR=$(DEMO_DIR) DOGCLI_SITE_URL=http://127.0.0.1:$(DEMO_PORT) \
	       DOGCLI_CDN_URL=http://127.0.0.1:$(DEMO_PORT)/cdn; \
	yesterday=$$($(BIN)/python -c "import datetime,zoneinfo;print(datetime.datetime.now(zoneinfo.ZoneInfo('America/Los_Angeles')).date()-datetime.timedelta(days=2))"); \
	before=$$($(BIN)/python -c "import datetime,zoneinfo;print(datetime.datetime.now(zoneinfo.ZoneInfo('America/Los_Angeles')).date()-datetime.timedelta(days=1))"); \
	$(BIN)/dogcli backfill $$yesterday..$$before; \
	$(BIN)/dogcli fetch; \
	$(BIN)/dogcli stats

bench: system-deps $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov $(DEMO_DIR)
