# Two commands for a fresh machine:  make demo  (the main job)  and  make test  (the test suite).
# Both create .venv and install what they need. PyTorch is installed first and on its own, in the build
# this machine can use (`make -n setup` shows which):
#   TORCH=auto (default)  cuda when `nvidia-smi -L` lists a GPU, else cpu
#   TORCH=cpu             the CPU wheel (torch 2.13.0, CPython 3.11, Linux x86_64: a 0.19 GB download)
#   TORCH=cuda            PyPI's Linux build, CUDA 13 (2.7 GB: torch 0.53 GB plus the nvidia-* CUDA libraries)
# PyPI's Linux x86_64 wheel IS the CUDA build, so cpu takes torch==$(TORCH_VERSION)+cpu from PyTorch's CPU index
# (TORCH_CPU_INDEX). Where that index cannot be reached (only PyPI allowed), pip gives up within seconds
# (--timeout 5 --retries 0) and the plain pin is installed from your default index instead, with a note
# (a local wheel of that version, e.g. pip's find-links, is still preferred; else PyPI's CUDA build).
# Anything else: make demo TORCH_SPEC="torch==2.13.0" TORCH_INDEX=<the PyTorch wheel index for your CUDA version>
# (sizes from PyPI's index for 2.13.0 on 2026-12-04; pip prints the real ones as it downloads)
PYTHON ?= python3
VENV ?= .venv
TORCH ?= auto
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SPEC ?=
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.hepadv-installed
PIP := $(BIN)/python -m pip install --quiet

ifeq ($(TORCH),auto)
TORCH_BUILD := $(shell timeout 10 nvidia-smi -L 2>/dev/null | grep -q '^GPU ' && echo cuda || echo cpu)
else ifneq ($(filter $(TORCH),cpu cuda),)
TORCH_BUILD := $(TORCH)
else
$(error TORCH=$(TORCH): expected auto, cpu or cuda (or set TORCH_SPEC and TORCH_INDEX))
endif
# Only Linux x86_64 has a CUDA build on PyPI; elsewhere PyPI's wheel already is the CPU one.
PLATFORM := $(shell uname -sm)

ifneq ($(TORCH_SPEC)$(TORCH_INDEX),)
TORCH_INSTALL = $(PIP) "$(or $(TORCH_SPEC),torch==$(TORCH_VERSION))" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
else ifeq ($(TORCH_BUILD)|$(PLATFORM),cpu|Linux x86_64)
TORCH_INSTALL = $(PIP) --timeout 5 --retries 0 --index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)+cpu" || \
	{ echo "make: torch==$(TORCH_VERSION)+cpu not found on PyTorch's CPU index (unreachable?): installing torch==$(TORCH_VERSION)" \
	"from the default index (on PyPI the CUDA build, 2.7 GB; TORCH_SPEC/TORCH_INDEX choose another)"; \
	$(PIP) "torch==$(TORCH_VERSION)"; }
else
TORCH_INSTALL = $(PIP) "torch==$(TORCH_VERSION)"
endif

.PHONY: setup demo test lint benchmark benchmark-gpu figures slurm-up slurm-down clean

setup: $(STAMP)

$(STAMP): pyproject.toml plugins/hepadv-smearing/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "make: PyTorch $(TORCH_VERSION), $(if $(TORCH_SPEC)$(TORCH_INDEX),as TORCH_SPEC/TORCH_INDEX say,$(TORCH_BUILD) build (TORCH=$(TORCH)))"
	$(TORCH_INSTALL)
	$(PIP) -e ".[test]"
	$(PIP) ./plugins/hepadv-smearing
	touch $(STAMP)

demo: setup
	$(BIN)/hepadv train cards/adv.yaml --overwrite

test: setup
	$(BIN)/ruff check .
	$(BIN)/python scripts/fetch_test_data.py
	$(BIN)/python -m pytest

# The SLURM tests (tests/test_batch.py, tests/test_submit.py) run against a cluster that is already up and skip
# otherwise; `make test` itself never installs packages or starts daemons. These two start and stop a
# single-node SLURM on this machine (root: installs slurm-wlm and munge when missing; see scripts/slurm.sh).
slurm-up:
	scripts/slurm.sh start

slurm-down:
	scripts/slurm.sh stop

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
