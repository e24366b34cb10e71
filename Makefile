# Set-up from a fresh clone is two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MPLBACKEND ?= Agg

.PHONY: demo test lint bench fuzz install serve screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime install (numpy, plus matplotlib and tqdm for the command line's plots and bars).
$(VENV)/.installed-cli: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli]"
	touch $@

# Everything the tests need, pinned in pyproject.toml's dev extra.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-cli

install: $(VENV)/.installed-cli

demo: $(VENV)/.installed-cli
	$(BIN)/chainrule train

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

test: lint
	$(BIN)/python -m pytest -q

# The fuzz targets for the CSV readers (NumPy's, and the typed one with the preparation), the
# Parquet reader, the model loader and the playground's message handlers, and every property
# test, at length (thousands of examples each; several minutes).
fuzz: $(VENV)/.installed-dev
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_fuzz_server.py \
		tests/test_reference.py tests/test_faults_api.py::test_what_save_writes_load_reads

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pip install --quiet torch==2.13.0 || echo "torch unavailable: its rows are skipped"
	touch $@

# The web playground (Starlette and uvicorn, the serve extra): prints a URL and opens it.
$(VENV)/.installed-serve: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[cli,serve]"
	touch $@

serve: $(VENV)/.installed-serve
	$(BIN)/chainrule serve

# The playground's screenshots in docs/img/ (headless Chromium, as the browser tests use).
screenshots: $(VENV)/.installed-dev
	$(BIN)/python docs/screenshots.py docs/img

# The speed comparisons (several minutes); tables in docs/benchmarks-latest.md. Then the
# agreement with PyTorch (seconds), table in docs/oracle-latest.md.
bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py --markdown docs/benchmarks-latest.md
	$(BIN)/python benchmarks/torch_oracle.py --markdown docs/oracle-latest.md

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info .pytest_cache .ruff_cache .hypothesis
