# The README's two commands: `make demo` (the main job) and `make test` (the tests).
# Both create the virtual environment and install the project first, so they work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q -c constraints.txt
DEMO_DIR ?= multirun/demo
# One folder per headline sweep (e.g. multirun/figures/offswitch_shutdown); see README "Report".
FIGURE_RUNS ?= multirun/figures

.PHONY: install demo test lint format bench figures notebooks clean

$(BIN)/instrumental-train: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) -e ".[dev]"
	touch $@

install: $(BIN)/instrumental-train

demo: install
	$(BIN)/instrumental-train -m +experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/instrumental-report $(DEMO_DIR)

# Two pytest workers (pytest-xdist): the suite is CPU-bound and single-threaded per test,
# so on a 2-core machine this halves its time (~12 -> ~7 minutes).
test: install lint
	$(BIN)/python -m pytest -q -n 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README gallery: one report per sweep folder below $(FIGURE_RUNS), into docs/figures/<sweep>/.
figures: install
	@test -d $(FIGURE_RUNS) || { echo "no $(FIGURE_RUNS): run the presets first (README, Report)"; exit 2; }
	@for dir in $(FIGURE_RUNS)/*/; do \
		$(BIN)/instrumental-report "$$dir" --out "docs/figures/$$(basename "$$dir")" || exit 1; \
	done

# The lecture notebooks on a tiny budget, as the test suite runs them.
notebooks: install
	INSTRUMENTAL_NOTEBOOK_SMOKE=1 $(BIN)/python -m pytest -q --nbmake notebooks/

bench: install
	$(BIN)/python bench/env_throughput.py
	$(BIN)/python bench/exact_evaluation.py

clean:
	rm -rf $(VENV) multirun runs outputs
