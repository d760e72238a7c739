# Two commands: `make demo` (set up and run the demo) and `make test` (set up and run the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint unit bench clean

# Debian packages the suite needs: Chromium for the browser tests, a CJK font with Ext-B for the PDFs,
# docker-compose to validate docker/compose.yaml (no engine runs here).
SYSDEPS := $(VENV)/.sysdeps

$(SYSDEPS):
	@if ! command -v chromium >/dev/null || ! command -v docker-compose >/dev/null \
		|| ! test -d /usr/share/fonts/opentype/noto; then \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium fonts-noto-cjk docker-compose >/dev/null; \
		else sudo apt-get install -y -q chromium fonts-noto-cjk docker-compose >/dev/null; fi; fi
	mkdir -p $(VENV) && touch $(SYSDEPS)

$(STAMP): pyproject.toml $(SYSDEPS)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "需要 Python 3.11 或更新版本"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hub demo

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# axe-core for the accessibility checks of the browser tests (npm registry; node_modules is ignored).
AXE := tests/browser/node_modules/.package-lock.json

$(AXE): tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --silent

test: lint $(AXE)
	$(BIN)/pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python -m bench.sync_bench
	$(BIN)/python -m bench.sync_crash
	$(BIN)/python -m bench.sms_bench

clean:
	rm -rf $(VENV) var tests/browser/node_modules
