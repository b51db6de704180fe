# Two commands for a newcomer: `make run` (set up, build the demo, open the app) and
# `make test` (set up, run the whole suite). Needs only Python 3.11+ and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
PORT   ?= 8501

.PHONY: setup run demo test lint browser bench

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python -m kpi demo

run: setup
	@test -f $${KPI_DB:-data/kpi.duckdb} || $(BIN)/python -m kpi demo
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Debian's Chromium for the real-browser tests (never a browser download).
browser:
	@bash scripts/install_chromium.sh

test: setup browser
	@bash scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/explain.py
