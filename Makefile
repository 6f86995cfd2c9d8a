# `make demo` and `make test` are the whole set-up on a fresh machine (README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Tests that need PostgreSQL read this; they skip with a reason when it is unset.
export PRIMER_SEARCH_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
# Keep TensorFlow's start-up chatter out of test and demo output.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test lint typecheck pytest browser demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy primer_search service workers

# The dashboard's browser tests (tests/test_dashboard_browser.py) drive Debian's headless
# Chromium. As root, install it when it is missing; otherwise say so and go on (they skip, or
# fail when CI=true).
CHROMIUM_BINARIES := /usr/bin/chromium /usr/bin/chromedriver

browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the dashboard's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null \
			|| echo "note: apt-get could not install chromium: the browser tests will skip"; \
	else \
		echo "note: $(CHROMIUM_BINARIES) missing and not root: the browser tests will skip" \
			"(install chromium and chromium-driver to run them)"; \
	fi

# pytest exits 5 when it collects nothing; any non-zero status fails make.
pytest: $(STAMP) browser
	$(BIN)/python -m pytest

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/primer-search demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
