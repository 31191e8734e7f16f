# Circulo: `make demo` (the main job) and `make test` each set up a fresh Debian 12 machine first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMPS := .stamps
PYTEST_ARGS ?=

.PHONY: setup system venv demo test lint typecheck pytest bench format clean help

help:
	@echo "make demo   - set up, then run a simulated co-op day end to end (circulo demo)"
	@echo "make test   - set up, then ruff, mypy and pytest"
	@echo "make bench  - set up, then the benchmarks (writes docs/benchmarks.md numbers to stdout)"

setup: system venv

# Debian packages and the TimescaleDB build: checked every time (a second or two when present).
system:
	@bash deploy/setup/debian.sh

venv: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@
	@echo "[setup] virtual environment ready: $(VENV)"

demo: setup
	$(BIN)/circulo demo $(DEMO_ARGS)

test: setup lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(STAMPS) .mypy_cache .ruff_cache
