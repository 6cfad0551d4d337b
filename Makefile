# dtq: one command installs, one runs a scenario, one runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= burst.yaml
# A bare name is looked up in scenarios/; a path is used as given.
SCENARIO_PATH = $(if $(wildcard $(SCENARIO)),$(SCENARIO),scenarios/$(SCENARIO))
ARGS ?=
SIZE ?= full
# make bench (full size) writes bench/results.md; OUT=file writes the table there instead.
OUT ?=

.PHONY: install install-bench run replay report diff check validate test lint theory stress bench clean

# The commands below print their own output only (@: make does not echo them), so that
# `make report LOG=... ARGS="--format json" | jq` reads nothing but the JSON.

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dtq needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The benchmark peers (simpy, ciw, rq, celery): benchmark-only, never runtime dependencies.
install-bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'

run: $(STAMP)
	@$(BIN)/dtq run $(SCENARIO_PATH) $(ARGS)

replay: $(STAMP)
	@test -n "$(LOG)" || { echo "usage: make replay LOG=logs/<file>.jsonl"; exit 2; }
	@$(BIN)/dtq replay $(LOG) $(ARGS)

report: $(STAMP)
	@test -n "$(LOG)" || { echo "usage: make report LOG=logs/<file>.jsonl"; exit 2; }
	@$(BIN)/dtq report $(LOG) $(ARGS)

diff: $(STAMP)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make diff A=<log|baseline|scenario> B=<...>"; exit 2; }
	@$(BIN)/dtq diff $(A) $(B) $(ARGS)

check: $(STAMP)
	@$(BIN)/dtq check $(ARGS)

# Schema check of every shipped scenario (what `dtq validate` does).
validate: $(STAMP)
	@$(BIN)/dtq validate scenarios/*.yaml

test: $(STAMP)
	$(BIN)/pytest -q $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dtq tests bench run_scenario.py
	$(BIN)/ruff format --check dtq tests bench run_scenario.py
	$(BIN)/mypy

# The virtual clock against queueing theory (M/M/c, priority queues): docs/theory.md.
theory: $(STAMP)
	$(BIN)/python -m dtq.theory

stress: $(STAMP)
	$(BIN)/python -m tests.stress

bench: install-bench
	$(BIN)/python -m bench --size $(SIZE) $(if $(OUT),--out $(OUT))

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
