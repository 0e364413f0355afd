# Two commands do everything on a fresh machine:
#   make bench   create .venv from the pins, start an embedded Postgres, run the default comparison
#   make test    create .venv from the pins, lint (ruff, import-linter), run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OPENMODEL       := loadtests/openmodel
OPENMODEL_STAMP := $(OPENMODEL)/node_modules/.chatbench-installed

.PHONY: bench test lint format docs lock clean venv browser tools openmodel

venv: $(STAMP)

# Reinstall only when the pins or the project metadata change. uv (pinned like everything else)
# installs the pins in seconds where pip takes ~40 s: make bench's wall time is a promise.
# --compile-bytecode as pip does: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) a venv
# without .pyc files starts every Django worker in ~3 s instead of ~1 s.
# requirements-nodeps.lock: packages whose declared ranges exclude our pins but that run on them.
$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c requirements.lock -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -r requirements-nodeps.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --config-settings editable_mode=compat -e .
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/chatbench run $(ARGS)

test: $(STAMP) $(OPENMODEL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# wrk for `chatbench crosscheck` and its tests, the open-model generator's package, Chromium for
# tests/presenting/test_report_browser.py (Debian's packages).
tools:
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends wrk; } \
	  || { echo "error: wrk is not installed and apt-get could not install it"; exit 2; }
	@$(MAKE) --no-print-directory openmodel
	@$(MAKE) --no-print-directory browser

# The open-model generator (loadtests/openmodel, chatbench/load/openmodel.py): Node.js >= 20.18.1
# and undici, pinned exactly in package-lock.json, installed with `npm ci` into its node_modules.
openmodel: $(OPENMODEL_STAMP)

$(OPENMODEL_STAMP): $(OPENMODEL)/package.json $(OPENMODEL)/package-lock.json
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' 2>/dev/null \
	  && command -v npm >/dev/null \
	  || { echo "error: the open-model generator needs Node.js >= 20.18.1 with npm"; exit 2; }
	cd $(OPENMODEL) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium for tests/presenting/test_report_browser.py (Debian's package; best effort).
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends chromium; } \
	  || echo "chromium not installed: the browser test will be skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The generated documentation: docs/cli.md from --help, README's Findings from results/sample
# (tests/cli/test_reference.py and tests/presenting/test_findings.py fail when either is stale).
docs: $(STAMP)
	$(BIN)/python -m chatbench.cli.reference --write docs/cli.md
	$(BIN)/chatbench findings --write README.md

# Refresh the pins from pyproject.toml's ranges in a throwaway venv.
lock:
	rm -rf /tmp/chatbench-lock && $(PYTHON) -m venv /tmp/chatbench-lock
	/tmp/chatbench-lock/bin/pip install --quiet -e '.[dev]'
	{ sed -n '1,4p' requirements.lock; /tmp/chatbench-lock/bin/pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
