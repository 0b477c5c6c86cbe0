# staticedge — the two commands a newcomer needs: `make demo` and `make test`.
# Both install what they need on a fresh Debian machine (idempotently), then run.

SHELL := /bin/bash
CARGO ?= cargo
VENV  := .venv
PY    := $(VENV)/bin/python
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: building (pingora's zlib-ng needs cmake) and testing (real peers).
BUILD_DEBS := cmake gcc make pkg-config
TEST_DEBS  := python3 python3-venv curl openssl bind9 bind9-utils dnsutils haproxy \
              iproute2 procps psmisc socat nghttp2-client chromium slowhttptest

.PHONY: demo test build build-release deps-build deps-test unit e2e infra fuzz fuzz-smoke lint bench fmt

demo: deps-build build-release
	./target/release/staticedge demo

test: deps-test lint unit e2e infra fuzz-smoke

deps-build:
	@bash tests/tools/apt-install.sh $(BUILD_DEBS)

deps-test: deps-build
	@bash tests/tools/apt-install.sh $(TEST_DEBS)
	@bash tests/tools/venv.sh $(VENV) tests/requirements.txt

build: deps-build
	$(CARGO) build --workspace --bins

build-release: deps-build
	$(CARGO) build --release -p staticedge

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: build
	$(CARGO) test --workspace

# Every suite on both request paths (docs/architecture.md, "Two request paths").
e2e: build
	STATICEDGE_REQUEST_PATH=lean STATICEDGE_BIN=$(CURDIR)/target/debug/staticedge $(VENV)/bin/pytest tests/e2e -ra
	STATICEDGE_REQUEST_PATH=pingora STATICEDGE_BIN=$(CURDIR)/target/debug/staticedge $(VENV)/bin/pytest tests/e2e -ra

infra:
	bash tests/infra/check.sh

# Each fuzz target for FUZZ_SECONDS (make fuzz) or 20 s (make test).
FUZZ_SECONDS ?= 300
fuzz: deps-build
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke: deps-build
	bash tests/fuzz/run.sh 20

bench: deps-build build-release
	bash tests/bench/run.sh

fmt:
	$(CARGO) fmt --all
