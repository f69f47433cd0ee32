# Tether developer entry points. Every target works on a fresh machine:
# `make install` creates .venv and installs the package with its dev tools.

PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install system-deps tools image test test-unit test-e2e lint typecheck crds cluster cluster-down demo bench clean

$(BIN)/tether: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/tether

system-deps:
	bash scripts/install-system-deps.sh

tools: system-deps
	bash e2e/build-tools.sh

# The operator image as an OCI archive (dist/tether-image.tar), built from Debian packages
# and wheels with mmdebstrap, no Docker daemon; cached by input hash. Needs root.
image: system-deps install tools
	bash image/build.sh dist/tether-image.tar

# The full suite: unit, Git-server integration and e2e against the local control plane.
test: system-deps install tools
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test-e2e: system-deps install tools
	$(BIN)/pytest -q e2e $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check operator tests e2e bench scripts
	$(BIN)/ruff format --check operator tests e2e bench scripts
	$(BIN)/mypy

crds: install
	$(BIN)/python scripts/gen_crds.py

# Start the local control plane and open a shell with KUBECONFIG set; `exit` stops it.
cluster: install tools
	@eval "$$($(BIN)/tether cluster up)" && echo "KUBECONFIG=$$KUBECONFIG (exit the shell to stop the cluster)" \
	  && PATH="$$HOME/.cache/tether/bin:$$PATH" $${SHELL:-bash} ; $(BIN)/tether cluster down

cluster-down:
	$(BIN)/tether cluster down

demo: system-deps install tools
	bash scripts/demo.sh

bench: install tools
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
