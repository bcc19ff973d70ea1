# The entry points people type. Everything builds with one profile (release),
# so `make demo`, `make test` and `make bench` share one build.

CARGO ?= cargo
PROFILE := --release
FLEET := target/release/fleet
DEMO_DEVICES ?= 500
DEMO_LAYOUT_P ?= 4
DEMO_LAYOUT_T ?= 25

.PHONY: all setup build demo test lint bench interop clean slurm-e2e k8s-check

all: build

## Install the system packages fleet needs (Debian/Ubuntu, as root).
setup:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  for p in openssh-server openssh-client libssl-dev pkg-config zlib1g-dev python3 chromium chromium-driver time; do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else \
	  echo "setup: not root or no apt-get; make sure openssh-server, libssl-dev, pkg-config, zlib1g-dev, python3, chromium, chromium-driver and time are installed"; \
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

## Layout benchmark: the issue-17 cases (1,000 devices x 2 s; zero latency) against a bare
## ssh2 pool, issue 12's latency-bound and mixed workloads for auto, and the 1M-device noop run;
## medians of 3 (~15 min on 2 cores); target/bench/summary.md and bench.html per case.
bench: setup build
	@bash scripts/bench.sh $(FLEET)

## Sharded run on a real single-node Slurm: a 4-task array of
## docs/deploy/slurm/fleet-array.sbatch against the lab, then the dependent
## merge (root; installs slurm-wlm and munge with apt; fails if Slurm cannot start).
slurm-e2e: build
	bash scripts/slurm-e2e.sh $(FLEET)

## Offline schema check of docs/deploy/k8s/fleet-indexed-job.yaml against the
## official Kubernetes Python client's models (pinned, in a venv under target/).
K8S_VENV := target/k8s-venv
k8s-check:
	@test -x $(K8S_VENV)/bin/python || python3 -m venv $(K8S_VENV)
	@$(K8S_VENV)/bin/pip install -q --disable-pip-version-check kubernetes==37.0.2
	$(K8S_VENV)/bin/python scripts/check-k8s-manifest.py docs/deploy/k8s/fleet-indexed-job.yaml

## Netmiko as the oracle: the same commands through Netmiko and fleet must
## print the same text, and config pushed by either must be visible to the
## other (venv with a pinned Netmiko under target/interop; needs python3-venv).
interop: build
	@bash scripts/interop/run.sh $(FLEET)

clean:
	$(CARGO) clean
	rm -rf runs lab
