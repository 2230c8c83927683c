# letta-apply: `make demo` runs a plan against a local Letta server, `make test` runs every check.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo dev-server-down clean

venv: $(STAMP)

# Rebuilt when pyproject.toml changes (new dependencies); otherwise a no-op.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "letta-apply needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

test: venv
	$(BIN)/ruff check reconciler tests
	$(BIN)/ruff format --check reconciler tests
	$(BIN)/mypy
	$(BIN)/pytest -q

# Plans each example stack (one folder each) against $$LETTA_BASE_URL if set, otherwise
# against the local dev server, which it starts and leaves running (`make dev-server-down`).
demo: venv
	@set -e; \
	if [ -n "$$LETTA_BASE_URL" ]; then \
		echo "Using LETTA_BASE_URL=$$LETTA_BASE_URL"; \
	else \
		exports=$$($(BIN)/letta-apply dev-server up); eval "$$exports"; \
		$(BIN)/letta-apply dev-server status; \
	fi; \
	planned=0; \
	for dir in $$(find examples -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort); do \
		if find "$$dir" -name '*.yaml' -o -name '*.yml' | grep -q .; then \
			echo; echo "== letta-apply plan $$dir"; \
			$(BIN)/letta-apply plan "$$dir"; planned=1; \
		fi; \
	done; \
	[ "$$planned" = 1 ] || echo "No manifests in examples/ to plan."

dev-server-down: venv
	$(BIN)/letta-apply dev-server down

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find reconciler tests -name __pycache__ -type d -prune -exec rm -rf {} +

# Benchmarks against $$LETTA_BASE_URL, or a throwaway local server started for the run.
# Sizes: BENCH_SIZES=100,1000 (default); BENCH_ARGS=--full adds 10,000 users (slow to seed).
.PHONY: bench
bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)
