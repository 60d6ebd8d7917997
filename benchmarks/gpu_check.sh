#!/usr/bin/env bash
# The prepared GPU check (issue 15): benchmarks/gpu_check.py on a bare machine with one GPU and no network.
#
# Such a machine has torch, torchvision, typer, rich, pandas, matplotlib, timm and onnxruntime, but not
# fvcore and its needs: those travel as wheels in .whl/ at the repository root (ignored by git; see
# /work/.library/device/README.md for `pip download` of fvcore, iopath, yacs, termcolor, portalocker,
# tabulate), installed here without the network into /tmp/site. segbench itself runs from this checkout.
#
#   bash benchmarks/gpu_check.sh --out "$OUT"                 # on the GPU machine: copy $OUT to results/reference/gpu/
#   bash benchmarks/gpu_check.sh --device cpu --quick --out /tmp/check   # the same code path on a CPU (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1  # subprocess cells import this checkout
exec "$python" benchmarks/gpu_check.py "$@"
