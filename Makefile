# letta-apply: `make demo` runs a plan against a local Letta server, `make test` runs every check.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test coverage lint-workflows demo dev-server-down clean

venv: $(STAMP)

# Rebuilt when pyproject.toml changes (new dependencies); otherwise a no-op.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "letta-apply needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) --version 2>&1)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Lint, types and the workflow checks, then the offline tests (with the coverage figure), then
# the tests against a real Letta server: every test runs once.
test: venv
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/ruff format --check reconciler tests bench
	$(BIN)/mypy
	$(MAKE) --no-print-directory lint-workflows
	$(MAKE) --no-print-directory coverage
	$(BIN)/pytest -q -m server

# Statement coverage by the offline suite (no server needed): the code that reads and writes
# the server (apply, the live state, the resource kinds with their readers, adoption, the
# audit; exercised offline on the in-memory server of tests/letta_memory) must stay at 90% or
# more, the change vocabulary, the planner and the renderers at 95% or more.
coverage: venv
	$(BIN)/pytest -q -m "not server" --cov=reconciler --cov-report=
	$(BIN)/coverage report --show-missing --fail-under=90 \
		--include='reconciler/apply/*,reconciler/live/*,reconciler/kinds/*,reconciler/adopt.py,reconciler/audit.py'
	$(BIN)/coverage report --show-missing --fail-under=95 \
		--include='reconciler/plan/*,reconciler/planner/*,reconciler/render/*'

# The GitHub workflows, the composite action and the example workflows (each only if present):
# actionlint for syntax, expressions and action inputs; zizmor, offline, for medium and high
# security findings (unpinned actions, broad token permissions, template injection). Files are
# passed one by one: zizmor given a folder other than .github/workflows finds nothing in it.
WORKFLOW_FILES := $(wildcard .github/workflows/*.yml examples/github-workflows/*.yml)
ZIZMOR_INPUTS := $(strip $(WORKFLOW_FILES) $(wildcard action.yml))
lint-workflows: venv
	$(if $(WORKFLOW_FILES),$(BIN)/actionlint $(WORKFLOW_FILES))
	$(if $(ZIZMOR_INPUTS),$(BIN)/zizmor --offline --min-severity medium $(ZIZMOR_INPUTS))

# Applies each example stack (a folder, or a folder inside a fleet folder such as
# examples/fleet/ whose stacks read the fleet's files, so the top folder is the root) to
# $$LETTA_BASE_URL if set, otherwise to the local dev server, which it starts and leaves
# running (`make dev-server-down`); then shows that a second plan finds nothing to do, prints
# the ids an app would store, and the next commands to type.
demo: venv
	@set -e; \
	if [ -n "$$LETTA_BASE_URL" ]; then \
		echo "Using LETTA_BASE_URL=$$LETTA_BASE_URL"; \
	else \
		exports=$$($(BIN)/letta-apply dev-server up); eval "$$exports"; \
		$(BIN)/letta-apply dev-server status; \
	fi; \
	export ORDERS_API_TOKEN="$${ORDERS_API_TOKEN:-demo-token}" LETTA_APPLY_ALLOW_ENV=ORDERS_API_TOKEN; \
	for dir in $$(grep -l '^apiVersion: letta-apply/' examples/*/*.yaml examples/*/*/*.yaml | xargs -n 1 dirname | sort -u); do \
		root=$$(echo "$$dir" | cut -d / -f 1-2); \
		echo; echo "== letta-apply $$dir --root $$root"; \
		$(BIN)/letta-apply "$$dir" --root "$$root" --auto-approve; \
		echo "== letta-apply plan $$dir --root $$root --detailed-exitcode"; \
		$(BIN)/letta-apply plan "$$dir" --root "$$root" --detailed-exitcode | tail -n 1; \
	done; \
	echo; echo "== letta-apply outputs examples/mixed --format csv"; \
	$(BIN)/letta-apply outputs examples/mixed --format csv; \
	echo; echo "== the knowledge base answers through the server's search"; \
	$(BIN)/python examples/knowledge-base/ask.py; \
	echo; echo "Next, in any shell (without LETTA_BASE_URL, letta-apply uses the running dev server):"; \
	echo "  source .venv/bin/activate                  # puts letta-apply on your PATH"; \
	echo "  letta-apply plan examples/dedicated        # the demo's stack: no changes"; \
	echo "  cp -r examples/dedicated mystack           # then set stack: in mystack/manifest.yaml, and: letta-apply mystack"

dev-server-down: venv
	$(BIN)/letta-apply dev-server down

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find reconciler tests -name __pycache__ -type d -prune -exec rm -rf {} +

# Benchmarks against $$LETTA_BASE_URL, or a throwaway local server started for the run.
# Sizes: BENCH_SIZES=100,1000 (default); BENCH_ARGS=--full adds 10,000 users (slow to seed);
# BENCH_ARGS="--only startup" measures only the whole-process start-up ratios; BENCH_ARGS="--only goals"
# only the figures at scale that need no seeded server (users files, planner, plan memory).
.PHONY: bench
bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

# The planner and renderers alone, on stacks of 10,000 and 100,000 users built as data (no
# server): PLANNER_SIZES=10000,100000,1000000 to add a million.
.PHONY: bench-planner
bench-planner: venv
	$(BIN)/python -m bench.planner_scale --sizes $${PLANNER_SIZES:-10000,100000}

# Peak memory of whole `letta-apply validate|plan|plan --out` processes on fleets of 10,000 and
# 100,000 users (90% shared, 5% identity, 5% dedicated), planned against `bench.replay`, a
# stand-in server giving the recorded JSON of Letta 0.16.8 for any number of users (~3 min):
# MEMORY_SIZES=5000,10000 for other sizes.
.PHONY: bench-memory
bench-memory: venv
	$(BIN)/python -m bench.memory --sizes $${MEMORY_SIZES:-10000,100000}

# The seeds' largest row on a real server ($$LETTA_BASE_URL, or a throwaway local one): a stack
# of 20,000 users on four shared agents seeded by letta-apply, its no-op and 1% plans beside a
# raw listing, 1,000 new users beside raw creates, four stacks of 5,000 applied at once.
# About an hour on two cores; SCALE_ARGS="--users 2000" for a quick run.
.PHONY: bench-scale
bench-scale: venv
	$(BIN)/python -m bench.scale $(SCALE_ARGS)
