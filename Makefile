# The README's quickstart is these two targets:
#   make reproduce   create .venv, install, run the main job
#   make test        create .venv, install, run the test suite
# CUDA users: make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124" ...
# torch is pinned in the same pip command as everything else, so pip never pulls a CUDA build
# on a CPU machine by accident.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
TASK   ?= RTE
BACKBONE ?= minilm-l6
RUN_DIR  ?= runs/$(TASK)/bert-$(BACKBONE)
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test reproduce bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[test,workflow]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# Until the Snakemake workflow lands, the main job is one real task end to end through the CLI:
# fine-tune BERT (the backbone) on $(TASK), trace its dev set, sweep exit thresholds.
reproduce: $(STAMP)
	$(BIN)/smartbert train --task $(TASK) --method bert --backbone $(BACKBONE) --out $(RUN_DIR)/model
	$(BIN)/smartbert trace --model $(RUN_DIR)/model --task $(TASK) --out $(RUN_DIR)/trace.npz
	$(BIN)/smartbert sweep --trace $(RUN_DIR)/trace.npz --thresholds 0.1,0.3,0.5 --out $(RUN_DIR)/sweep.csv
	cat $(RUN_DIR)/sweep.csv

clean:
	rm -rf $(VENV) .pytest_cache
