# The two commands of the README: `make run` and `make test`.
# Both create .venv on first use and keep it in step with pyproject.toml and constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.equiv-installed
PORT   ?= 8501
PYTEST_ARGS ?=
# make test runs the test files on this many worker processes (pytest-xdist; a file's tests stay
# together, in order, on one worker: they share module fixtures such as a Streamlit server).
# Much of the suite waits on processes, servers and browsers, so 2 workers suit a 2-core machine.
TEST_WORKERS ?= 2
# 3Dmol.js for the rotation lab's viewers: installed from npm at setup, copied next to the viewer
# (a real file: Streamlit's component server refuses links that lead outside its folder), never committed.
VIEWER_DIR := equiv/widgets/molviewer_frontend
VIEWER_JS  := $(VIEWER_DIR)/3Dmol-min.js
NPM_PREFIX := .cache/npm
THREEDMOL_VERSION := $(shell cat $(VIEWER_DIR)/3DMOL_VERSION)

.PHONY: run test test-fast setup data viewer-js clean-venv help

help:
	@echo "make run    set up .venv if needed and start the app on http://localhost:$(PORT)"
	@echo "make test   set up .venv if needed and run the whole test suite"
	@echo "make test-fast  the edit loop: every test but the browser and slow ones (under 2 minutes)"
	@echo "make data   generate the default data set (ethanol, GFN2-xTB, 1,200 frames) if it is missing or outdated"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "equiv needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

$(VIEWER_JS): $(VIEWER_DIR)/3DMOL_VERSION
	@if command -v npm >/dev/null 2>&1; then \
	  echo "npm install 3dmol@$(THREEDMOL_VERSION) (for the rotation lab's 3D viewers)"; \
	  npm install --silent --no-save --no-audit --no-fund --prefix $(NPM_PREFIX) 3dmol@$(THREEDMOL_VERSION) \
	  && cp $(NPM_PREFIX)/node_modules/3dmol/build/3Dmol-min.js $@.tmp \
	  && cp $(NPM_PREFIX)/node_modules/3dmol/build/3Dmol-min.js.LICENSE.txt $(VIEWER_DIR)/3Dmol-min.js.LICENSE.txt \
	  && mv $@.tmp $@ \
	  || echo "WARNING: could not install 3Dmol.js; the rotation lab will load it from the CDN"; \
	else \
	  echo "WARNING: npm not found; the rotation lab will load 3Dmol.js from the CDN (install Node.js, then make setup)"; \
	fi

viewer-js: $(VIEWER_JS)

setup: $(STAMP) $(VIEWER_JS)

# The app's embedded default data set, made on this machine (about a minute on 2 cores, once):
# GFN2-xTB molecular dynamics of ethanol, 4 independent trajectories run in parallel, frames 20 fs
# apart, into the data home (EQUIV_HOME), where `xtb:ethanol` finds it. A data set written by the
# old generator (one trajectory, 5 fs apart) is regenerated.
data: setup
	$(VENV)/bin/equiv data generate --molecule ethanol --frames 1200 --temperature 500 --seed 0 --trajectories 4 --if-missing

run: setup data
	$(PY) -m equiv.serve --server.port $(PORT) --server.address localhost

# The full rMD17 splits, where the project's data folder sits beside the repository: the few tests
# marked rmd17_full run then (without it they are deselected; everything else uses tests/data/rmd17).
export EQUIV_RMD17_FULL ?= $(wildcard $(CURDIR)/../shared/data/rmd17)

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
