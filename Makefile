# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# the user-facing extras plus the test, lint and docs tools (see pyproject.toml); "laplace" below
EXTRAS ?= search,llm,rl,embeddings,dev,docs
LAPLACE := "laplace-torch>=0.2" "asdfghjkl==0.1a4" "backpack-for-pytorch>=1.6" "curvlinops-for-pytorch>=3.0.1"
LAPLACE_DEPS := "einops>=0.3" "unfoldNd>=0.2" "einconv>=0.1" "opt-einsum>=3.4" "torchmetrics>=1.0"

.PHONY: demo test test-slow lint docs bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The CPU build of torch goes in first, so that resolving uqkit's torch range installs nothing more.
# The "laplace" extra (laplace-torch, and its backpack-for-pytorch) declares torchvision, which both
# run without; PyPI's torchvision does not load against the CPU torch build and breaks the import of
# torchmetrics, which laplace-torch needs. So every other extra is installed normally and
# laplace-torch's stack without its declared dependencies, followed by the ones it uses.
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps $(LAPLACE)
	$(BIN)/pip install --quiet $(LAPLACE_DEPS) "torch==$(TORCH_VERSION)"
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
