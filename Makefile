# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# the user-facing extras plus the test, lint and docs tools (see pyproject.toml)
EXTRAS ?= all,dev,docs

.PHONY: demo test test-slow lint docs bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The CPU build of torch goes in first, so that resolving uqkit's torch range installs nothing more
# (torch stays pinned: laplace-torch's torchvision would otherwise upgrade it). laplace-torch
# declares torchvision but runs without it; PyPI's torchvision wheel does not load against the
# CPU torch build and breaks torchmetrics' import (which laplace-torch needs), so it is removed.
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]" "torch==$(TORCH_VERSION)"
	$(BIN)/pip uninstall --quiet --yes torchvision
	touch $@

demo: $(VENV)/.installed
	$(BIN)/uqkit demo --output demo-output

test: $(VENV)/.installed
	$(BIN)/ruff check uqkit tests benchmarks examples docs/_hooks
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15 -q tests
	$(BIN)/python -m pytest -n 2 -q --doctest-modules uqkit

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -m slow -q

lint: $(VENV)/.installed
	$(BIN)/ruff check uqkit tests benchmarks examples docs/_hooks

docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) demo-output site
