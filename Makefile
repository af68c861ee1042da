# PulseBoard: `make run` serves the embedded deployment, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test venv sdk services browser nginx bench-ingest bench-query bench-sdk bench-live chaos clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The browser SDK: sdk/src bundled and minified into static/sdk/pulseboard.js (not committed).
SDK_BUNDLE := static/sdk/pulseboard.js
$(SDK_BUNDLE): node_modules/.installed sdk/build.mjs $(wildcard sdk/src/*.js)
	node sdk/build.mjs

sdk: $(SDK_BUNDLE)

run: venv node_modules/.installed sdk
	$(PY) manage.py serve

# Postgres and Redis on 127.0.0.1 (started if they are down), Debian's Chromium and nginx.
services:
	@bash .ci/services

browser:
	@bash .ci/browser

# Debian's nginx: the tests of the server tier run pulseboard/deploy/nginx.conf with it.
nginx:
	@bash .ci/nginx

test: venv node_modules/.installed sdk services browser nginx
	$(PY) -m pytest

bench-ingest: venv services
	@bash .ci/bench-tools
	$(PY) bench/ingest.py

bench-query: venv services
	$(PY) bench/query.py

bench-sdk: venv sdk
	$(PY) bench/sdk_size.py

bench-live: venv services
	$(PY) bench/live.py

# Kill things under load (embedded server, the server tier's worker, Redis), refuse a poison
# batch, and count: accepted events lost, duplicated, rollup drift and dead letters.
chaos: venv services
	$(PY) bench/chaos.py

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache static/sdk
