# CrowdTrust: `make run` serves the dashboard on the demo workspace, `make test` runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= data/workspaces/demo
PORT ?= 8501

.PHONY: run test install install-dev demo lint bench browser-deps clean-demo

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamp files make a re-run skip the install when the requirement files have not changed.
$(VENV)/.install-stamp: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.install-dev-stamp: requirements.txt requirements-dev.txt $(VENV)/.install-stamp
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.install-stamp
install-dev: $(VENV)/.install-dev-stamp

demo: install
	@test -f $(WORKSPACE)/workspace.duckdb || $(BIN)/python -m analytics demo --workspace $(WORKSPACE)

run: demo
	$(BIN)/streamlit run app/streamlit_app.py --server.address localhost --server.port $(PORT) -- --workspace $(WORKSPACE)

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

lint: install-dev
	$(BIN)/ruff check .

# BENCH_ARGS=--skip-long leaves out the red-team report (tens of minutes); see benchmarks/run_all.py.
bench: install-dev
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

clean-demo:
	rm -rf $(WORKSPACE)
