# The entry points people type. Everything builds with one profile (release),
# so `make demo`, `make test` and `make bench` share one build.

CARGO ?= cargo
PROFILE := --release
FLEET := target/release/fleet
DEMO_DEVICES ?= 500
DEMO_LAYOUT_P ?= 4
DEMO_LAYOUT_T ?= 25

.PHONY: all setup build demo test lint bench clean

all: build

## Install the system packages fleet needs (Debian/Ubuntu, as root).
setup:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  for p in openssh-server openssh-client libssl-dev pkg-config zlib1g-dev; do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else \
	  echo "setup: not root or no apt-get; make sure openssh-server, libssl-dev, pkg-config, zlib1g-dev are installed"; \
	fi

build:
	$(CARGO) build $(PROFILE) --locked

## Start a simulated lab, run fleet against it, stop the lab.
demo: setup build
	@bash scripts/demo.sh $(FLEET) $(DEMO_DEVICES) $(DEMO_LAYOUT_P) $(DEMO_LAYOUT_T)

## All tests: unit, integration and end-to-end (real sshd and lab on loopback).
test: setup
	$(CARGO) test $(PROFILE) --locked --workspace --features fleet/test-hooks

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(PROFILE) --locked --workspace --all-targets -- -D warnings

## Layout benchmark: a small sweep that fits a 2-core machine; outputs in target/bench/.
bench: setup build
	@bash scripts/bench.sh $(FLEET)

clean:
	$(CARGO) clean
	rm -rf runs lab
