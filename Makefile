# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/firmware/node_modules/.installed
DEMO   := recordings/demo-standard.csv

.PHONY: demo test venv node sysdeps bench clean recordings example-dataset

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,lab]'
	touch $@

# Real MicroPython (WebAssembly port) for firmware tests; skipped with a message when npm is missing.
node: $(NODE_STAMP)
$(NODE_STAMP): tests/firmware/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/firmware && npm install --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: MicroPython (WebAssembly) tests will skip; install nodejs and npm"; fi

# Debian packages the tests use (dbus for the fake BlueZ, chromium for the live page); installed only when root.
sysdeps:
	@bash .ci/sysdeps

# Regenerate the bundled demo recordings (fixed simulator seeds; outputs are committed).
recordings: venv
	$(PY) bench/make_recordings.py

# Rebuild the worked-example dataset (simulated, labelled; docs/dataset.md). Output is committed.
example-dataset: venv
	$(PY) bench/make_example_dataset.py

demo: venv
	$(VENV)/bin/holdsense analyze $(DEMO) --plot demo.png
	@echo "plot written to demo.png"

# two workers: half the suite waits on real-time sessions and subprocesses, so a 2-core machine
# runs it in about two thirds of the serial time; PYTEST_JOBS=0 runs it in one process
PYTEST_JOBS ?= 2
test: venv node sysdeps
	@$(PY) -m pytest -n $(PYTEST_JOBS) --dist worksteal; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: venv
	$(PY) -m pip install -q -e '.[dev,lab,bench]'
	$(PY) bench/accuracy.py
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) tests/firmware/node_modules demo.png .pytest_cache
