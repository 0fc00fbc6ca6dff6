#!/usr/bin/env bash
# The one device run of BAIT on a GPU (docs/results.md): the picks of every
# rule on CuPy and torch-CUDA against NumPy's float64 batch, the device's
# measured rates and each phase's floor, timings and predictions at
# N = 10^5 and 10^6. Run it from the repository root on a machine with a
# CUDA device; the results land in $OUT (a lent machine's) or in
# benchmarks/runs/gpu-<date>/, to be committed.
#
# Packages the device's Python lacks travel as wheels in .whl/ (ignored by
# git): array-api-compat, fetched on a machine with pip by
#   python -m pip download --no-deps --only-binary=:all: \
#       --python-version 3.12 -d .whl array-api-compat
set -euo pipefail

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# The rates' cache and numba's, away from the user's home.
export SKBAIT_CACHE_DIR=/tmp/skbait-cache NUMBA_CACHE_DIR=/tmp/numba-cache

out="${OUT:-benchmarks/runs/gpu-$(date +%Y-%m-%d)}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total \
    --format=csv | tee "$out/device.txt"
python3 benchmarks/bench_gpu.py --floors --n 100000 1000000 \
    --out "$out/gpu.json" 2>&1 | tee "$out/gpu.log"
