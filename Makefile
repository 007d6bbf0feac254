# The README's two commands: `make demo` (the main job) and `make test` (the tests).
# Both create the virtual environment and install the project first, so they work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
DEMO_DIR ?= multirun/demo

.PHONY: install demo test lint format bench clean

$(BIN)/instrumental-train: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) -e ".[dev]"
	touch $@

install: $(BIN)/instrumental-train

demo: install
	$(BIN)/instrumental-train -m +experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/instrumental-report $(DEMO_DIR)

test: install lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/env_throughput.py

clean:
	rm -rf $(VENV) multirun runs outputs
