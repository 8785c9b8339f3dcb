# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= data
LISTEN ?= 127.0.0.1:8080
PY_DIRS := $(wildcard appliance tests bench image/boot_test scripts)

SPA := appliance/web/spa
SPA_INPUTS := $(shell find $(SPA)/src $(SPA)/public $(SPA)/scripts $(SPA)/build -type f 2>/dev/null) \
	$(wildcard $(SPA)/index.html $(SPA)/vite.config.ts $(SPA)/package.json $(SPA)/tsconfig*.json)
STATIC_INDEX := appliance/web/static/index.html

.PHONY: run test test-quick lint typecheck pytest pytest-postgresql pytest-cluster pytest-all install install-test build spa-check clean \
	debian-run debian-test fresh-check

# Debian packages, installed when missing (as root; otherwise the apt-get line to run is
# printed): the one list is scripts/debian-packages.
debian-run:
	scripts/debian-packages run
debian-test:
	scripts/debian-packages test

$(BIN)/pychat: pyproject.toml | debian-run
	@# A venv made without ensurepip (python3-venv missing) has no pip: start it again.
	test -x $(BIN)/pip || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml $(BIN)/pychat
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/pychat
install-test: $(VENV)/.test-deps

# Node.js for the web app is pyproject's [web] extra, in the venv: the same pinned LTS on every
# machine (Debian 12 ships node 18; Vite 8 needs 20.19 or later). NODE_USE_SYSTEM_CA: trust
# the certificates the machine trusts (a company proxy's CA), as Debian's node does.
NPM = PATH="$(CURDIR)/$(BIN):$$PATH" NODE_USE_SYSTEM_CA=1 npm
$(VENV)/.web-deps: pyproject.toml $(BIN)/pychat
	$(BIN)/pip install --quiet -e '.[web]'
	touch $@

$(SPA)/node_modules/.installed: $(SPA)/package-lock.json $(VENV)/.web-deps
	cd $(SPA) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

# The web app is rebuilt only when its sources changed.
$(STATIC_INDEX): $(SPA)/node_modules/.installed $(SPA_INPUTS)
	cd $(SPA) && $(NPM) run build
	touch $@

build: $(STATIC_INDEX)

spa-check: $(SPA)/node_modules/.installed
	cd $(SPA) && $(NPM) run typecheck && $(NPM) test

# glibc malloc as systemd/pychat.service sets it: two arenas, big blocks given back.
run: $(BIN)/pychat build
	MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576 \
		$(BIN)/pychat serve --data $(DATA) --listen $(LISTEN)

lint: install-test
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy

# $(call in_netns,COMMAND): in a loopback-only network namespace when we may (root, unshare
# and ip present).
define in_netns
	@if unshare -n true 2>/dev/null && command -v ip >/dev/null; then \
		echo "unshare -n: $(1)"; \
		unshare -n sh -c 'ip link set lo up && exec $(1)'; \
	else \
		echo "note: cannot make a network namespace here; running the tests without one"; \
		$(1); \
	fi
endef

pytest: install-test
	$(call in_netns,$(BIN)/pytest $(PYTEST_ARGS))

# The contract tests (marked `contract`: they reach the server only through HTTP and
# WebSockets) again, every test server on PostgreSQL (docs/scaling.md).
PYTEST_POSTGRESQL = env PYCHAT_TEST_ENGINE=postgresql $(BIN)/pytest -m contract -q
pytest-postgresql: install-test
	$(call in_netns,$(PYTEST_POSTGRESQL) $(PYTEST_ARGS))

# And once more with every test server a cluster: two `pychat serve` nodes on PostgreSQL,
# a Redis between them, HAProxy handing each connection to the next (tests/server.py).
PYTEST_CLUSTER = env PYCHAT_TEST_ENGINE=cluster $(BIN)/pytest -m contract -q
pytest-cluster: install-test
	$(call in_netns,$(PYTEST_CLUSTER) $(PYTEST_ARGS))

# make test's run: the browsers' tests (then the contract on PostgreSQL, then on a cluster)
# beside all the others, at once, each half in a network namespace of its own
# (scripts/pytest-together).
# Measured on two cores: 19:17 and 19:01 for the halves, 19:21 in all (one after the other
# ~27 minutes).
pytest-all: install-test
	scripts/pytest-together \
		"$(BIN)/pytest tests/e2e tests/firefox tests/image && $(PYTEST_POSTGRESQL) && $(PYTEST_CLUSTER)" \
		"$(BIN)/pytest tests/unit tests/integration tests/rtc tests/cluster"

test: debian-test lint typecheck spa-check build pytest-all

# The edit loop: lint, types, and the unit and TURN tests (about a minute); no browser.
test-quick: PYTEST_ARGS = tests/unit tests/rtc -q
test-quick: lint typecheck pytest

# Proof of the two commands on a machine that has never seen the project (scripts/fresh-check):
# a clean clone of HEAD in a Debian 12 minbase chroot with only git, make and python3. As root.
# FRESH_TARGETS="run test-quick" for the short version.
FRESH_TARGETS ?= run test
fresh-check:
	scripts/fresh-check $(FRESH_TARGETS)

# The flashable Raspberry Pi image (image/build, docs/flashing.md): needs root and the
# Debian packages listed there. image-test boots it in QEMU and uses it (image/boot-test);
# it builds a test image (initramfs MODULES=list) unless IMAGE= names a built .img.
# image-smoke: the same stages and checks on an amd64 image (no emulation, ~5 min).
# Both end with power cuts (10, CUTS=N; SEED=S repeats a run); image-powercut cuts 30 times.
# CI (.ci/run) runs image-test when the image's inputs changed since the last landing.
.PHONY: image image-test image-smoke image-test-raspios image-powercut image-test-pi
image:
	scripts/debian-packages image
	image/build

CUT_ARGS = $(if $(CUTS),--power-cuts $(CUTS)) $(if $(SEED),--seed $(SEED))
image-test: install-test
	scripts/debian-packages image
	$(BIN)/python image/boot-test $(CUT_ARGS) $(if $(IMAGE),--image $(IMAGE))

# The longer run: 30 cuts on the virt machine, then the same image on QEMU's Raspberry Pi 3
# model (the Pi's device tree, SD controller and a USB network adapter) with 3 cuts more.
PI_IMAGE = build/image/pychat-$(shell python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')-arm64.img
image-powercut: install-test
	scripts/debian-packages image
	$(BIN)/python image/boot-test --power-cuts $(or $(CUTS),30) $(if $(SEED),--seed $(SEED)) \
		$(if $(IMAGE),--image $(IMAGE))
	$(MAKE) image-test-pi IMAGE=$(or $(IMAGE),$(PI_IMAGE)) CUTS=3

# QEMU's Raspberry Pi 3 model boots slower than virt under TCG (4 cores on the host's 2).
image-test-pi: install-test
	scripts/debian-packages image
	PYCHAT_IMAGE_TEST_BOOT_LIMIT=$${PYCHAT_IMAGE_TEST_BOOT_LIMIT:-480} $(BIN)/python image/boot-test \
		--machine raspi3b --power-cuts $(or $(CUTS),0) $(if $(SEED),--seed $(SEED)) \
		$(if $(IMAGE),--image $(IMAGE))

image-smoke: install-test
	scripts/debian-packages amd64
	PYCHAT_IMAGE_ARCH=amd64 $(BIN)/python image/boot-test $(CUT_ARGS)

# image/build --base tested without a Raspberry Pi OS image (none can be downloaded here):
# a plain Debian card from stage 1 stands in for it (image/stages/standin-base).
image-test-raspios: install-test
	scripts/debian-packages image
	image/stages/standin-base build/image/standin-base-arm64.img
	$(BIN)/python image/boot-test \
		--image "$$(image/build --no-xz --base build/image/standin-base-arm64.img | tail -n 1)"

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
