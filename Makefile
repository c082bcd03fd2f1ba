# The README's quickstart is these two targets:
#   make reproduce   create .venv, install, run the workflow (quick profile: every table, figure, REPORT.md)
#   make test        create .venv, install, run the test suite
# CUDA users: make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124" ...
# torch is pinned in the same pip command as everything else, so pip never pulls a CUDA build
# on a CPU machine by accident.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test reproduce smoke bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[test,workflow]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole paper (tables, figures, REPORT.md) with the quick profile; PROFILE=config/paper.yaml or
# config/smoke.yaml for the others, SNAKEMAKE_ARGS for anything else (e.g. --rerun-incomplete, -n).
PROFILE ?= config/config.yaml
SNAKEMAKE_ARGS ?=
reproduce: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores all --resources gpu=1 --configfile $(PROFILE) $(SNAKEMAKE_ARGS)

smoke: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores all --resources gpu=2 --configfile config/smoke.yaml $(SNAKEMAKE_ARGS)

# Real speed (not part of the tests): needs the quick profile's trained models (make reproduce).
# OFFICIAL_RUNS: full SmartBERT trainings on RTE (smartbert train ... --out DIR) set beside the official code's
bench: $(STAMP)
	$(BIN)/smartbert bench --models results/models --task SST-2 --out results/bench $(if $(OFFICIAL_RUNS),--official-runs $(OFFICIAL_RUNS))

clean:
	rm -rf $(VENV) .pytest_cache
