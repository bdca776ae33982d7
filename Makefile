# The two set-up commands of the README: `make demo` (main job) and `make test` (lint, type
# check, test suite).
# Each creates its own virtual environment in .venv and installs torch==2.13.0 (CPU) and tinvnn.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export TINVNN_DATA ?= $(abspath ../shared/data)

.PHONY: venv demo test clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[tasks,test]'
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/tinvnn demo

# The formatter check, the linter and the type check (configured in pyproject.toml) run before the tests.
test: venv
	$(BIN)/ruff format --check tinvnn tests benchmarks
	$(BIN)/ruff check tinvnn tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
