# FieldCoach — every set-up, build, evaluation and update step is a target here. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
FC := $(VENV)/bin/fieldcoach
STAMP := $(VENV)/.installed
OUT ?= out
SEED ?= 7
ACTION ?= standing_long_jump
N ?= 600
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
include make/ota.mk make/install.mk
.PHONY: help demo test venv dataset doctor clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: any other torch request would pull CUDA packages
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[runtime,training,dev]"
	touch $(STAMP)

venv: $(STAMP) ## create the virtual environment and install FieldCoach with its extras

demo: $(STAMP) ## the main job on the embedded default (simulated athlete, no camera): simulate, analyse, report
	@mkdir -p $(OUT)
	$(FC) simulate --action $(ACTION) --seed $(SEED) --out $(OUT)/attempt.npz --plot $(OUT)/attempt.png
	$(FC) analyze $(OUT)/attempt.npz --action $(ACTION)

test: $(STAMP) ## run the test suite (hardware tests, marked `device`, are deselected)
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

dataset: $(STAMP) ## generate the simulated dataset: N samples per action (default 600) from SEED into $(OUT)/dataset
	$(FC) simulate --action all --dataset $(OUT)/dataset --n $(N) --seed $(SEED)

doctor: $(STAMP) ## which backends (ONNX Runtime, TensorRT, pyk4a, llama.cpp, Chroma) are present
	$(FC) doctor

clean: ## remove generated outputs (not the virtual environment)
	rm -rf $(OUT) .pytest_cache
