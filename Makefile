# The README's two commands: `make demo` (the main job) and `make test` (the tests).
# Both create the virtual environment and install the project first, so they work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# --no-compile: byte-compiling every installed module (torch's thousands) took more than
# half of a fresh install (93 s -> 42 s without), and the demo's few processes need not
# wait for it; the dev install (the tests) compiles everything, below.
PIP := $(BIN)/pip install -q --no-compile -c constraints.txt
DEMO_DIR ?= multirun/demo
# One folder per headline sweep (e.g. multirun/figures/offswitch_shutdown); see README "Report".
FIGURE_RUNS ?= multirun/figures

.PHONY: install system-deps demo test lint format bench figures notebooks clean

# Two stamps: the demo needs the project alone; the tests add the dev extra (pytest,
# the browser driver, TensorBoard, ...), which `make demo` need not wait for.
$(VENV)/.installed-base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) -e .
	touch $@

# The tests start hundreds of Python processes: where PYTHONDONTWRITEBYTECODE is set (as
# in CI) each would compile every module it imports again, so the dev install compiles
# the whole environment once, on every core. (compileall exits 1 on the few files in
# third-party packages that are not Python 3 source, as pip's own compile step ignores.)
$(VENV)/.installed-dev: $(VENV)/.installed-base
	$(PIP) -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
	touch $@

install: $(VENV)/.installed-dev

# The tools some tests drive: a headless Chromium and its driver (the HTML report and the
# explorer are tested in a real browser) and ffmpeg (`instrumental-animate --mp4`).
# Installed with Debian's apt when missing and we are root; otherwise those tests skip
# and say why.
SYSTEM_TOOLS := chromium chromedriver ffmpeg
system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing with apt-get (browser and video tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver ffmpeg >/dev/null \
			|| echo "apt-get could not install$$missing: the browser and video tests will skip"; \
	else \
		echo "missing$$missing (not root or no apt-get): the browser and video tests will skip"; \
	fi

demo: $(VENV)/.installed-base
	$(BIN)/instrumental-train -m +experiment=demo hydra.sweep.dir=$(DEMO_DIR)
	$(BIN)/instrumental-report $(DEMO_DIR)

# Two pytest workers (pytest-xdist): the suite is CPU-bound and single-threaded per test,
# so on a 2-core machine this halves its time (~12 -> ~7 minutes).
test: install system-deps lint
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
