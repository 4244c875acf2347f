# The two commands that matter: `make demo` (the lifecycle on the local AWS) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help tools demo-tools build-tools install lint typecheck unit integration reliability security pipelines test demo ami \
        bench clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

tools:  ## system packages the tests drive (packer, git, promtool, pushgateway), apt-get when missing
	@missing=""; \
	for tool in packer:packer git:git promtool:prometheus prometheus-pushgateway:prometheus-pushgateway; do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# What `make demo` and `make ami` drive: installed when missing, and said so (apt-get, through
# sudo when not root). Override DEMO_TOOLS="command:package ..." to check others.
DEMO_TOOLS ?= packer:packer git:git

demo-tools:  ## what make demo and make ami drive (packer, git), installed with apt-get when missing
	@missing=""; \
	for tool in $(DEMO_TOOLS); do \
	  command -v $${tool%%:*} >/dev/null || missing="$$missing $${tool#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if ! command -v apt-get >/dev/null; then \
	    echo "make: missing:$$missing; install it (no apt-get here), then run make again" >&2; exit 1; \
	  fi; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  echo "make: installing what make demo and make ami drive:$$missing (apt-get$${sudo:+ via sudo})"; \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# pytest-xdist: the suites run in PYTEST_WORKERS processes, each with its own moto server (the
# session fixture), whole test files per worker (--dist loadfile keeps a module's fixtures and
# servers in one process). PYTEST_WORKERS=0 runs them in this process, one after another.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadfile)

install: $(STAMP)  ## create .venv and install promote with the dev and sandbox extras

LINTED := promote tests benchmarks

lint: $(STAMP)  ## ruff
	$(BIN)/python scripts/ruff_bans.py --check
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)  ## mypy (strict) on the package
	$(BIN)/mypy

unit: $(STAMP)  ## unit tests (no network)
	$(BIN)/pytest $(XDIST) tests/unit

integration: $(STAMP)  ## integration tests against the local AWS (moto server)
	$(BIN)/pytest $(XDIST) tests/integration

reliability: $(STAMP)  ## faults, races, crashes, bad inputs, secrets, least privilege (moto server)
	$(BIN)/pytest $(XDIST) tests/reliability

security: $(STAMP)  ## the attack table: forged, replayed, overwritten, hidden evidence and events (moto server)
	$(BIN)/pytest $(XDIST) tests/security

pipelines: $(STAMP)  ## the Concourse pipelines and GitHub workflows, checked with their real tools
	$(BIN)/pytest $(XDIST) tests/pipelines

test: tools lint typecheck  ## lint, type-check, every pytest suite, then the VM chain (make vm-test)
	$(BIN)/pytest $(XDIST)
	$(MAKE) --no-print-directory ansible-lint packer-validate vm-test

demo: demo-tools $(STAMP)  ## the lifecycle on the local AWS, as a story (installs packer when missing)
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

CONCOURSE_VERSION ?= 7.12.0

# Packer's Ansible provisioner runs the ansible-playbook it finds on PATH: the `build` extra
# (ansible-core, the version the VM chain proves the roles with) goes into .venv when .venv has
# none, and .venv/bin leads PATH for the build.
build-tools: $(STAMP)  ## Ansible for Packer's provisioner: the build extra into .venv when missing
	@if [ ! -x $(BIN)/ansible-playbook ]; then \
	  echo "make: installing Ansible for Packer's provisioner (the build extra) into $(VENV)"; \
	  $(BIN)/python -m pip install --quiet -e '.[build]'; \
	fi

ami: demo-tools build-tools  ## build an untested AMI with Packer and Ansible (installed when missing): AWS, else the local AWS
	@echo "make: Packer's Ansible provisioner runs $(BIN)/ansible-playbook (PATH leads with $(BIN))"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/promote build --var concourse_version=$(CONCOURSE_VERSION) $(AMI_ARGS)

bench: $(STAMP)  ## run the benchmarks; figures in benchmarks/results/*.json
	$(MAKE) --no-print-directory bench-vm
	$(BIN)/python benchmarks/image.py
	$(BIN)/python benchmarks/validate_scale.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/sessions.py
	$(BIN)/python benchmarks/evidence.py
	$(BIN)/python benchmarks/demo.py
	$(BIN)/python benchmarks/rollout_workers.py
	$(BIN)/python benchmarks/summary.py

clean:  ## remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

include mk/vm.mk
