# TuniSER Studio — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Re-install when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: run test install chromium lint migrate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

# torch first, pinned: on the lab machines `pip install torch==2.13.0` takes the CPU build, and
# the project's own range is then already satisfied, so nothing pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	# resemblyzer (speaker embeddings, weights in its wheel) without its dependencies: they are
	# ours already, except `webrtcvad`, whose sdist would replace webrtcvad-wheels' module.
	$(BIN)/pip install --quiet --no-deps 'resemblyzer==0.1.4'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Debian's Chromium for the Playwright browser tests (Playwright's own browser download does
# not work offline).
chromium:
	@if [ -z "$$CHROMIUM_PATH" ] && ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: install migrate
	$(BIN)/python manage.py ensure_demo_admin
	$(BIN)/python manage.py runstack

test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m benchmarks.segmentation

clean:
	rm -rf $(VENV) var/test_db.sqlite3* .pytest_cache
