# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
LISTEN ?= 127.0.0.1:8080
# Run the suite in a loopback-only network namespace when we may (root, unshare present).
PY_DIRS := $(wildcard appliance tests bench)
HERMETIC := $(shell unshare -n true 2>/dev/null && echo yes)

.PHONY: run test lint typecheck pytest install install-test clean

$(BIN)/pychat: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml $(BIN)/pychat
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/pychat
install-test: $(VENV)/.test-deps

run: $(BIN)/pychat
	$(BIN)/pychat serve --data $(DATA) --listen $(LISTEN)

lint: install-test
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: install-test
	$(BIN)/mypy

pytest: install-test
ifeq ($(HERMETIC),yes)
	unshare -n sh -c 'ip link set lo up && exec $(BIN)/pytest $(PYTEST_ARGS)'
else
	@echo "note: cannot make a network namespace here; running the tests without one"
	$(BIN)/pytest $(PYTEST_ARGS)
endif

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
