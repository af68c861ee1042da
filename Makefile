# PulseBoard: `make run` serves the embedded deployment, `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What is installed, one stamp each: the runtime (make run) and the runtime plus the test
# tools (make test, make venv). Installing the test tools also marks the runtime as done.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
# npm ci empties node_modules first, so these stamps say which of the two installs is there.
NPM_RUNTIME := node_modules/.installed-runtime
NPM_TEST := node_modules/.installed-test
# No dependency needs its install scripts (package.json "allowScripts"): --ignore-scripts
# says the same to an npm older than 11.
NPM_CI := npm ci --no-audit --no-fund --ignore-scripts

.PHONY: run test venv sdk services browser nginx bench-ingest bench-query bench-sdk bench-live bench-merge chaos clean

$(RUNTIME_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(TEST_STAMP): requirements.txt requirements-test.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@ $(RUNTIME_STAMP)

# The development environment: runtime and test tools.
venv: $(TEST_STAMP)

# Runtime: Chart.js and esbuild (it builds the SDK). Tests add posthog-js (devDependencies).
$(NPM_RUNTIME): package.json package-lock.json
	$(NPM_CI) --omit=dev
	@touch $@

$(NPM_TEST): package.json package-lock.json
	$(NPM_CI)
	@touch $@ $(NPM_RUNTIME)

# The browser SDK: sdk/src bundled and minified into static/sdk/pulseboard.js (not committed).
SDK_BUNDLE := static/sdk/pulseboard.js
$(SDK_BUNDLE): $(NPM_RUNTIME) sdk/build.mjs $(wildcard sdk/src/*.js)
	node sdk/build.mjs

sdk: $(SDK_BUNDLE)

run: $(RUNTIME_STAMP) $(NPM_RUNTIME) sdk
	$(PY) manage.py serve

# Postgres and Redis on 127.0.0.1 (started if they are down), Debian's Chromium and nginx.
services:
	@bash .ci/services

browser:
	@bash .ci/browser

# Debian's nginx: the tests of the server tier run pulseboard/deploy/nginx.conf with it.
nginx:
	@bash .ci/nginx

# Workers (pytest-xdist), each with its own database, Redis prefix and chdb
# (pulseboard/test_settings.py); a test file stays on one worker, with its fixtures. One
# and a half per core: a worker waits for a browser, a server or a flush a fifth of its time.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 3 / 2 )))
test: $(TEST_STAMP) $(NPM_TEST) sdk services browser nginx
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench-ingest: venv services
	@bash .ci/bench-tools
	$(PY) bench/ingest.py

bench-query: venv services
	$(PY) bench/query.py

bench-sdk: venv sdk
	$(PY) bench/sdk_size.py

bench-live: venv services
	$(PY) bench/live.py

bench-merge: venv services
	$(PY) bench/merge.py

# Kill things under load (embedded server, the server tier's worker, Redis), refuse a poison
# batch, and count: accepted events lost, duplicated, rollup drift and dead letters.
chaos: venv services
	$(PY) bench/chaos.py

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache static/sdk
