# Set-up is part of every target: a fresh machine needs only python3 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
KERNEL := simlib

.PHONY: report test validate bench lint browser clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (simlib)" >/dev/null
	touch $(STAMP)

# The main job: run the scenario notebooks on the default scenario and write
# HTML reports (reports/index.html links them all), with a progress display.
report: $(STAMP)
	$(BIN)/simlib report scenarios/default.yaml --out reports

# The tests (what .ci/run calls).
test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2

# Heavy statistical validation (not part of the default test run).
validate: $(STAMP)
	$(BIN)/python -m pytest -m slow -n 2

# Benchmarks: figures measured in one run (QUICK=1 for the short version).
bench: $(STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick,)

lint: $(STAMP)
	$(BIN)/ruff check simlib tests benchmarks
	$(BIN)/lint-imports --no-cache

# Headless Chromium for the report rendering test (Debian packages; needs root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "warning: chromium not found and cannot apt-get install it; browser tests will be skipped"; fi; }

clean:
	rm -rf $(VENV) reports .pytest_cache
