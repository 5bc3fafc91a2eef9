# The two commands of the README: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup train test benchmark latency-probe lint clean

setup: $(VENV)/.installed

# Reinstall when pyproject.toml changes. The extras bring the offline MNIST copy, Jupyter and the test tools.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[offline,notebooks,test]"
	touch $@

train: setup
	$(BIN)/gan-train $(ARGS)

test: setup
	$(BIN)/python -m pytest $(ARGS)

benchmark: setup
	$(BIN)/python scripts/benchmark_training_step.py $(ARGS)

# A C program that benchmark_thread_phases.py can run between its blocks (--latency-probe); needs a C compiler.
latency-probe: build/core_to_core_latency

build/core_to_core_latency: scripts/core_to_core_latency.c
	mkdir -p build
	$(CC) -O2 -Wall -pthread -o $@ $<

lint: setup
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check scripts tests conftest.py

clean:
	rm -rf $(VENV) .pytest_cache build
