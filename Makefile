# Two commands for a newcomer: `make run` (set up, build the demo, open the app) and
# `make test` (set up, run the whole suite). Needs only Python 3.11+ and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PORT   ?= 8501

.PHONY: setup bytecode run demo test lint browser bench

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

# The app's own modules compiled to bytecode ahead of use (only files changed since), as pip
# does for the libraries: a Python that may not write it at import (PYTHONDONTWRITEBYTECODE,
# set on some machines and in CI images) would otherwise compile them in every process, a
# fifth of a second of each `kpi` command and of the app's first page.
bytecode: setup
	@$(BIN)/python -m compileall -q kpi ui benchmarks >/dev/null

demo: bytecode
	$(BIN)/python -m kpi demo

run: bytecode
	@test -f $${KPI_DB:-data/kpi.duckdb} || $(BIN)/python -m kpi demo
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Debian's Chromium for the real-browser tests (never a browser download).
browser:
	@bash scripts/install_chromium.sh

test: bytecode browser
	@bash scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: bytecode
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/explain.py
