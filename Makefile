# Set-up and everyday commands. Each target installs what it needs into ./.venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export AIRFLOW_HOME ?= $(CURDIR)/.airflow-home
export AIRFLOW__CORE__LOAD_EXAMPLES = False
export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags_examples
export AIRFLOW__CORE__UNIT_TEST_MODE = False

.PHONY: install test lint demo bench emulator clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv || true
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[test]"; \
	else $(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"; fi
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_videogen dags_examples tests scripts

test: $(STAMP) lint
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/python scripts/demo.py --output-dir $(CURDIR)/output

emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_videogen.emulator --port 8080

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) output .pytest_cache
