# Set-up and everyday commands. Each target installs what it needs into ./.venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export AIRFLOW_HOME ?= $(CURDIR)/.airflow-home
export AIRFLOW__CORE__LOAD_EXAMPLES = False
export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags_examples
export AIRFLOW__CORE__UNIT_TEST_MODE = False

# The browser test drives Debian's Chromium (never a browser downloaded by Playwright).
CHROMIUM ?= /usr/bin/chromium
export VIDEOGEN_CHROMIUM = $(CHROMIUM)

.PHONY: install test test-deployment lint chromium demo bench emulator clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv || true
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[test,s3]"; \
	else $(BIN)/python -m pip install -q -c constraints.txt -e ".[test,s3]"; fi
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_videogen dags_examples tests scripts

# Debian's chromium, installed (apt-get, as root) only when it is missing.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else \
		echo "The browser test needs Chromium at $(CHROMIUM): install Debian's chromium package as root" \
			"(apt-get install chromium), or set CHROMIUM=/path/to/chromium" >&2; exit 1; \
	fi

test: $(STAMP) lint chromium
	$(BIN)/python -m pytest

# Only the real-deployment tests (Airflow's four components, moto's S3 server, the browser): ~2 minutes.
test-deployment: $(STAMP) chromium
	$(BIN)/python -m pytest tests/deployment

demo: $(STAMP)
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/python scripts/demo.py --output-dir $(CURDIR)/output

emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_videogen.emulator --port 8080

# Performance benchmarks (issue 5), not part of `make test`: ~15 min; `make bench BENCH_ARGS=--quick` ~2 min.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(AIRFLOW_HOME) output .pytest_cache test-artifacts
