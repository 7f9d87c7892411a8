# The two commands of the README: `make run` and `make test`.
# Both create .venv on first use and keep it in step with pyproject.toml and constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.equiv-installed
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test setup data clean-venv help

help:
	@echo "make run    set up .venv if needed and start the app on http://localhost:$(PORT)"
	@echo "make test   set up .venv if needed and run the whole test suite"
	@echo "make data   generate the default data set (ethanol, GFN2-xTB, 2,000 frames) if it is missing"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "equiv needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

# The app's embedded default data set, made on this machine (about a minute, once): GFN2-xTB
# molecular dynamics of ethanol into the data home (EQUIV_HOME), where `xtb:ethanol` finds it.
data: setup
	$(VENV)/bin/equiv data generate --molecule ethanol --frames 2000 --temperature 500 --seed 0 --if-missing

run: setup data
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.address localhost

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
