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

.PHONY: run test lint install install-test system-run system-test clean-var help

help:
	@echo "make run    install what is missing, then run the control centre on the simulated hospital"
	@echo "make test   install what is missing, then run every test"

run: system-run $(VENV)/.installed
	$(PY) -m centre.launcher

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
