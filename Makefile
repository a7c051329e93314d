# `make demo` and `make test` each create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean browser

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/leakage-audit demo --out demo-report

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The HTML report's browser test drives Debian's chromium through chromedriver.
# Installing them needs apt (root); when that fails the one browser test skips
# and says why, and every other test still runs.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium and chromium-driver for the browser test (apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver) >/dev/null 2>&1 \
	  || echo "note: could not install chromium; the browser test will be skipped"; \
	else echo "note: no chromium and no root apt-get; the browser test will be skipped"; fi

# pytest exits 5 when it collected no test: that is a failure here.
test: $(STAMP) lint browser
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

bench: $(STAMP)
	$(PY) benchmarks/profile_speed.py

clean:
	rm -rf $(VENV) demo-report .pytest_cache test-artifacts
