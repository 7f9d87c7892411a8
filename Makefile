# The two commands of the README: `make run` and `make test`.
# Both create .venv on first use and keep it in step with pyproject.toml and constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.equiv-installed
PORT   ?= 8501
PYTEST_ARGS ?=

.PHONY: run test setup clean-venv help

help:
	@echo "make run    set up .venv if needed and start the app on http://localhost:$(PORT)"
	@echo "make test   set up .venv if needed and run the whole test suite"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "equiv needs Python 3.10 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.address localhost

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
