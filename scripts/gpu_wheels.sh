#!/usr/bin/env bash
# Wheels the GPU check needs on a CUDA machine without network (Python 3.12, x86-64) that has CuPy, PyTorch,
# pytest, matplotlib, SciPy and scikit-learn already (the list is gpu_check.WHEELS; tests/test_gpu_check.py
# holds it to what the check imports there): run here, carry .whl there, then
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
#   python3 scripts/gpu_check.py --out "$OUT"
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a wheels <<< "$(python3 scripts/gpu_check.py --list-wheels)"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${wheels[@]}"
ls .whl
