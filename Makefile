# FloorOps: `make run` and `make test` on a fresh Debian machine (root, no services running).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the control centre needs, and those the tests need on top (a real browser; systemd-analyze
# to verify deploy/systemd/; nginx to check deploy/nginx/ with nginx -t).
APT_RUN := mosquitto mosquitto-clients influxdb socat
APT_TEST := $(APT_RUN) chromium fonts-noto-cjk systemd nginx-light
PYTEST_ARGS ?=
# A demo clock for make run ([clock], docs/configuration.md): `make run DEMO_START=07:30 DEMO_SPEED=10` starts the
# site's day at 07:30 (site local, today or DEMO_DATE=YYYY-MM-DD) and runs it ten times real time. Empty: real time.
DEMO_START ?=
DEMO_SPEED ?=
DEMO_DATE ?=
RUN_ARGS := $(if $(DEMO_START),--start $(DEMO_START)) $(if $(DEMO_SPEED),--speed $(DEMO_SPEED)) \
	$(if $(DEMO_DATE),--date $(DEMO_DATE))

.PHONY: run test lint install install-test system-run system-test clean-var help

help:
	@echo "make run    install what is missing, then run the control centre on the simulated hospital"
	@echo "            (make run DEMO_START=07:30 DEMO_SPEED=10: the site's day from 07:30, ten times real time)"
	@echo "make test   install what is missing, then run every test"

run: system-run $(VENV)/.installed
	$(PY) -m centre.launcher $(RUN_ARGS)

test: system-test $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

# What tests/test_ruff.py, tests/test_mypy.py and tests/test_layering.py check (also part of make test), alone.
lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m mypy --cache-dir $${TMPDIR:-/tmp}/floorops-mypy-cache
	$(VENV)/bin/lint-imports

# Install the Debian packages that are not installed yet (root, or sudo).
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

system-run:
	$(call apt_install,$(APT_RUN))

system-test:
	$(call apt_install,$(APT_TEST))

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@ $(VENV)/.installed

install: system-run $(VENV)/.installed
install-test: system-test $(VENV)/.installed-test

clean-var:
	rm -rf var/
