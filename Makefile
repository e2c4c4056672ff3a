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
REPLICA := tests/replica
NPM_MODULES := $(REPLICA)/node_modules

.PHONY: all install system-deps replica-deps test lint fmt docs run demo bench bench-deps clean install-systemd

all: test

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Chromium, its driver, a PostgreSQL server and npm (the replica page's Vue and Element Plus)
# for the tests, from Debian, only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The replica page's pinned npm packages (package-lock.json); again when the lock file changes.
# No install scripts: only the prebuilt dist files are used (and it runs as root in CI).
$(NPM_MODULES)/.installed: $(REPLICA)/package-lock.json | system-deps
	npm ci --prefix $(REPLICA) --no-audit --no-fund --ignore-scripts
	touch $@

replica-deps: $(NPM_MODULES)/.installed

test: system-deps replica-deps $(STAMP)
	$(BIN)/pytest --cov=dogcli --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dogcli tests migrations bench
	$(BIN)/ruff format --check dogcli tests migrations bench
	$(BIN)/mypy dogcli

fmt: $(STAMP)
	$(BIN)/ruff check --fix dogcli tests migrations bench
	$(BIN)/ruff format dogcli tests migrations bench

# README's command reference (between <!-- commands:start/end -->) from each command's --help.
docs: $(STAMP)
	$(BIN)/python -m dogcli.cli.docs README.md

# A real fetch into ./data with SQLite (needs the internet).
run: system-deps $(STAMP)
	$(BIN)/dogcli fetch

# Offline: the replica of tests/ serves the site; backfill, fetch and stats against it.
demo: system-deps replica-deps $(STAMP)
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

# What the benchmark compares dogcli with (aria2c, curl) and times start-up with (hyperfine).
bench-deps:
	@missing=""; \
	command -v aria2c >/dev/null || missing="$$missing aria2"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v hyperfine >/dev/null || missing="$$missing hyperfine"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# All sections, about 10 minutes; BENCH_ARGS=--quick for about 2 (see python -m bench --help).
bench: system-deps bench-deps replica-deps $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# systemd deployment (systemd/): dogcli in a virtualenv at /opt/dogcli made with Debian's
# Python (the dogcli user must be able to run it: no pyenv under /root), /usr/local/bin/dogcli
# (the units' ExecStart), user dogcli, the units, /etc/dogcli/dogcli.env from the example if
# absent, timers enabled. Without systemd as PID 1, or with DRY_RUN=1, it only prints the steps.
OPT_DIR := /opt/dogcli
SYSTEM_PY ?= /usr/bin/python3
UNIT_DIR := /etc/systemd/system
UNITS := $(addprefix systemd/,dogcli-fetch.service dogcli-fetch.timer dogcli-cleanup.service \
	dogcli-cleanup.timer dogcli-health.service dogcli-health.timer \
	dogcli-fetch@.service dogcli-fetch@.timer)

install-systemd:
	@set -e; \
	if [ -d /run/systemd/system ] && [ -z "$(DRY_RUN)" ]; then run() { echo "+ $$*"; "$$@"; }; \
	else echo "systemd is not running here (or DRY_RUN is set); make install-systemd would run:"; \
	  run() { echo "  $$*"; }; fi; \
	missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	$(SYSTEM_PY) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  run $(SUDO) apt-get update -qq; \
	  run $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi; \
	run $(SUDO) $(SYSTEM_PY) -m venv $(OPT_DIR); \
	run $(SUDO) $(OPT_DIR)/bin/pip install --quiet --upgrade pip; \
	run $(SUDO) $(OPT_DIR)/bin/pip install --quiet --upgrade .; \
	run $(SUDO) ln -sfn $(OPT_DIR)/bin/dogcli /usr/local/bin/dogcli; \
	run $(SUDO) install -D -m 0644 systemd/dogcli.sysusers /etc/sysusers.d/dogcli.conf; \
	run $(SUDO) systemd-sysusers /etc/sysusers.d/dogcli.conf; \
	run $(SUDO) install -m 0644 $(UNITS) $(UNIT_DIR)/; \
	run $(SUDO) install -d -m 0755 /etc/dogcli; \
	if [ -e /etc/dogcli/dogcli.env ]; then echo "  keeping the existing /etc/dogcli/dogcli.env"; \
	else run $(SUDO) install -m 0600 systemd/dogcli.env.example /etc/dogcli/dogcli.env; fi; \
	run $(SUDO) systemctl daemon-reload; \
	run $(SUDO) systemctl enable --now dogcli-fetch.timer dogcli-cleanup.timer dogcli-health.timer

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov $(DEMO_DIR)
