#!/usr/bin/env sh
# make gpu-check: on a GPU machine (possibly offline, with no venv), install what .gpu-check/wheels
# brought into .gpu-check/site, put the repository on PYTHONPATH and run benchmarks/gpu_check.py.
# Without a GPU, gpu_check.py prints one line and exits 0.
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] && PY=.venv/bin/python
if [ -d .gpu-check/wheels ] && ! "$PY" -c "import fvcore, yaml" 2>/dev/null; then
  "$PY" -m pip install --quiet --no-index --no-deps --find-links .gpu-check/wheels --target .gpu-check/site \
    fvcore iopath portalocker yacs tabulate termcolor pyyaml
fi
PYTHONPATH="$(pwd):$(pwd)/.gpu-check/site${PYTHONPATH:+:$PYTHONPATH}" \
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  exec "$PY" benchmarks/gpu_check.py "$@"
