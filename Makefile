# `make demo` and `make test` are the whole set-up on a fresh machine (README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Tests that need PostgreSQL read this; they skip with a reason when it is unset.
export PRIMER_SEARCH_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
# Keep TensorFlow's start-up chatter out of test and demo output.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test lint typecheck pytest demo bench clean

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

# pytest exits 5 when it collects nothing; any non-zero status fails make.
pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

demo: $(STAMP)
	$(BIN)/primer-search demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
