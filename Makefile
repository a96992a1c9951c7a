# Set-up and everyday commands. Each target installs what it needs into ./.venv first.
# Two Airflow versions, each in its own venv from its own committed constraints file:
#   .venv       the highest supported Airflow (constraints.txt: 3.3.x): every target, all tests
#   .venv-af31  the lowest supported Airflow (constraints-3.1.txt: 3.1.8): unit and DAG tests (`make test`)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
VENV31  := .venv-af31
BIN31   := $(VENV31)/bin
STAMP31 := $(VENV31)/.installed-stamp
export AIRFLOW_HOME ?= $(CURDIR)/.airflow-home
# Each Airflow version has its own DB schema, so its own AIRFLOW_HOME (sqlite DB, logs).
AIRFLOW_HOME31 := $(AIRFLOW_HOME)-af31
export AIRFLOW__CORE__LOAD_EXAMPLES = False
export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags_examples
export AIRFLOW__CORE__UNIT_TEST_MODE = False

# The browser test drives Debian's Chromium (never a browser downloaded by Playwright).
CHROMIUM ?= /usr/bin/chromium
export VIDEOGEN_CHROMIUM = $(CHROMIUM)

.PHONY: install test test-highest test-lowest test-deployment lint chromium azurite sshd scale-services demo bench emulator clean

# The highest end has every storage extra too (tests/test_storage_backends.py). overrides.txt says why uv leaves
# litellm out; pip cannot, so without uv the [gcs] extra is not installed and the GCS tests are skipped.
$(STAMP): pyproject.toml constraints.txt overrides.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv || true
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt --overrides overrides.txt \
		-e ".[test,s3,gcs,azure,sftp,test-storage]"; \
	else $(BIN)/python -m pip install -q -c constraints.txt -e ".[test,s3,azure,sftp,test-storage]"; fi
	touch $(STAMP)

# The lowest end, installed with the uv of .venv when there is one.
$(STAMP31): pyproject.toml constraints-3.1.txt | $(STAMP)
	$(PYTHON) -m venv $(VENV31)
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install -q --python $(BIN31)/python -c constraints-3.1.txt -e ".[test,s3]"; \
	else $(BIN31)/python -m pip install -q -c constraints-3.1.txt -e ".[test,s3]"; fi
	touch $(STAMP31)

install: $(STAMP) $(STAMP31)

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

# Azurite (the Azure Storage emulator) for the storage tests, from npm at the versions in tests/azurite's
# package-lock.json, into tests/azurite/node_modules, only when it is missing.
AZURITE := tests/azurite/node_modules/.bin/azurite-blob
azurite: $(AZURITE)
$(AZURITE): tests/azurite/package.json tests/azurite/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "The Azure storage tests need Node.js and npm (apt-get install npm)" >&2; exit 1; }
	cd tests/azurite && npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

# Debian's OpenSSH server for the SFTP storage tests (the tests start their own sshd on loopback, with their
# own config and keys; the packaged service is not used), installed (apt-get, as root) only when it is missing.
sshd:
	@if [ -x /usr/sbin/sshd ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's openssh-server for the SFTP storage tests (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server; \
	else \
		echo "The SFTP storage tests need /usr/sbin/sshd: install Debian's openssh-server as root" >&2; exit 1; \
	fi

# Debian's redis-server and postgresql for the scale-out deployment test and benchmark (Celery broker and
# metadata DB; the tests start private servers on loopback with their own config in a temporary folder, the
# packaged services are not used), installed (apt-get, as root) only when missing.
scale-services:
	@missing=""; command -v redis-server >/dev/null 2>&1 || missing=" redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's$$missing for the scale-out tests (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else \
		echo "The scale-out tests need Debian's$$missing: install as root (apt-get install$$missing)" >&2; exit 1; \
	fi

# Both ends of the supported range: the highest with every test (real deployment too), then the lowest
# with the unit and DAG tests (everything but tests/deployment). Both always run; either failing fails.
test: $(STAMP) $(STAMP31) lint chromium azurite sshd scale-services
	@status=0; $(MAKE) --no-print-directory test-highest || status=1; \
	$(MAKE) --no-print-directory test-lowest || status=1; exit $$status

test-highest: $(STAMP) chromium azurite sshd scale-services
	@echo "== Airflow $$($(BIN)/python -c 'from importlib.metadata import version; print(version("apache-airflow-core"))') (highest supported): all tests"
	$(BIN)/python -m pytest

test-lowest: $(STAMP31)
	@echo "== Airflow $$($(BIN31)/python -c 'from importlib.metadata import version; print(version("apache-airflow-core"))') (lowest supported): unit and DAG tests"
	AIRFLOW_HOME=$(AIRFLOW_HOME31) $(BIN31)/python -m pytest --ignore=tests/deployment $(AIRFLOW_FREE_TESTS)

# Left to the highest end: tests with no Airflow-version-dependent path (the emulator's own tests, the
# official SDKs and the request parity against it, the pure spend guard) and the storage-backend tests
# (their provider extras are installed in .venv only). Everything else also runs on 3.1.
AIRFLOW_FREE_TESTS := --ignore=tests/emulator --ignore=tests/test_sdk_oracles.py \
	--ignore=tests/test_request_parity.py --ignore=tests/test_storage_backends.py --ignore=tests/test_spend_guard.py

# Only the real-deployment tests (Airflow's four components, moto's S3 server, the browser; the scale-out
# deployment with Celery workers, two triggerers, PostgreSQL and Redis): ~8 minutes.
test-deployment: $(STAMP) chromium scale-services
	$(BIN)/python -m pytest tests/deployment

demo: $(STAMP)
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/python scripts/demo.py --output-dir $(CURDIR)/output

emulator: $(STAMP)
	$(BIN)/python -m airflow_provider_videogen.emulator --port 8080

# Performance benchmarks (issue 5), not part of `make test`: ~15 min plus item 5's scaled-out deployment (30+ min;
# BENCH_ARGS="--only scale --scale-sizes 100" for less); `make bench BENCH_ARGS=--quick` ~6 min.
bench: $(STAMP) scale-services
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV31) $(AIRFLOW_HOME) $(AIRFLOW_HOME31) output .pytest_cache test-artifacts tests/azurite/node_modules
