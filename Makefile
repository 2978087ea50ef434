# Two entry points a newcomer needs: `make demo` (simulate the skill on the bundled sample)
# and `make test` (the whole suite, as CI runs it). Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STUB_SRC := $(shell find stubs -name '*.py' -o -name 'pyproject.toml' 2>/dev/null)

$(VENV)/.runtime: requirements.txt $(STUB_SRC)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt ./stubs
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

.PHONY: demo test lint
demo: $(VENV)/.runtime
	$(PY) main.py --input test/cameras0.mp4 --output out/result.mp4

test: lint
	$(PY) -m pytest -q test

# one style (ruff.toml): quotes, import order, line length, unused names
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

# Regenerating artefacts (PC only; see README and model/MODEL.md).
.PHONY: bench sample
bench: $(VENV)/.dev
	$(PY) -m tools.bench.bench --plot docs/bench.png

sample: $(VENV)/.dev
	$(PY) -m tools.package.make_sample
	$(PY) -m tools.package.make_sample --picture docs/result.png
