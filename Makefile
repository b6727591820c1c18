# Two commands for a fresh machine:  make demo  (the main job)  and  make test  (the test suite).
# Both create .venv and install what they need. PyTorch is installed first and on its own so that
# you choose the build: the default pins the CPU wheel; GPU users pass their own, e.g.
#   make demo TORCH_SPEC="torch==2.13.0" TORCH_INDEX=<the PyTorch wheel index for your CUDA version>
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.hepadv-installed

.PHONY: setup demo test lint benchmark benchmark-gpu figures clean

setup: $(STAMP)

$(STAMP): pyproject.toml plugins/hepadv-smearing/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet ./plugins/hepadv-smearing
	touch $(STAMP)

demo: setup
	$(BIN)/hepadv train cards/adv.yaml --overwrite

test: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/fetch_test_data.py
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

benchmark: setup
	$(BIN)/python benchmarks/training_throughput.py --json benchmark-$(shell hostname).json

# The GPU tables (README "Training on a GPU"), hepadv against the hand-written loop, precision auto (bf16 where
# supported): eager at batch 16384 and 65536, compiled at 65536, as scripts/readme_figures.py defines them;
# JSON in benchmark-gpu-eager.json and benchmark-gpu-compiled.json. benchmarks/gpu_check.sh adds the GPU tests.
benchmark-gpu: setup
	$(BIN)/python scripts/readme_figures.py benchmark-gpu --measure-only --runs-dir .

# Rerun what the README quotes and rewrite its marked figure blocks (all, or e.g. FIGURES="demo transfer").
figures: setup
	$(BIN)/python scripts/readme_figures.py $(FIGURES)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
