#!/usr/bin/env bash
# The prepared GPU check (README, "Beyond one machine"): at most 8 minutes on one GPU, the sum of its steps' time
# limits (install 90 s, CUDA tests 150, Baby benchmark 120, converged run 120); it took 110-137 s when run:
#   1. pytest -m cuda: CPU vs CUDA agreement, checkpoints across devices, the MMD, InfoNCE, DREAM and metric
#      rewrites on CUDA (tests/test_model.py, test_dream.py, test_metrics.py, test_train.py, test_cuda.py);
#   2. the Baby-scale training benchmark for official, paper and mgcn, 5 batches each (bench/train_speed.py);
#   3. one converged ml100k run: mgcn, the fast schedule, early stopping (patience 20) on CUDA.
# Runs on a bare GPU machine with its own Python and torch (never reinstalled here) and no Streamlit, umap or
# browser, with ml100k beside the repository (../shared/datasets/ml100k, or $MAMBAREC_DATA). It installs only
# numpy, scipy, pandas, tqdm and pytest, from PyPI or, offline, from a wheel folder: GPU_CHECK_WHEELS=<dir>.
# Logs and a summary go to $1, else $OUT (the device runner's folder), else ./gpu_check_out.
# Usage: bash bench/gpu_check.sh [out_dir]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu_check_out}}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PIP_DISABLE_PIP_VERSION_CHECK=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
export MAMBAREC_DATA="${MAMBAREC_DATA:-$(cd .. && pwd)/shared/datasets}"
export MAMBAREC_CACHE="${MAMBAREC_CACHE:-${TMPDIR:-/tmp}/mambarec_gpu_check_cache}"  # graphs, probes: not results
SUMMARY="$OUT_DIR/summary.txt"
: > "$SUMMARY"
failed=0
say() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME SECONDS CMD...: run with a time limit, log to NAME.log, record status and seconds
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  [ "$rc" -eq 0 ] || failed=1
  say "[$name] exit $rc in $((SECONDS - t0)) s (limit $limit s; log $OUT_DIR/$name.log)"
  return "$rc"
}

torch_before=$("$PY" -c "import torch; print(torch.__version__)" 2>&1)
deps=("numpy>=1.26" "scipy>=1.11" "pandas>=2.1" "tqdm>=4.66" "pytest>=8.0")
if ! "$PY" -c "import numpy, scipy, pandas, tqdm, pytest" 2>/dev/null; then
  if [ -n "${GPU_CHECK_WHEELS:-}" ]; then
    step install 90 "$PY" -m pip install --no-index --find-links "$GPU_CHECK_WHEELS" "${deps[@]}"
  else
    step install 90 "$PY" -m pip install "${deps[@]}"
  fi
fi
torch_after=$("$PY" -c "import torch; print(torch.__version__)" 2>&1)

say "== GPU check of $(git describe --always --dirty 2>/dev/null || echo '?') on $(date -u +%Y-%m-%dT%H:%MZ)"
# (-dirty: the files differ from that commit, as on a device machine that is sent the working tree, not its history)
"$PY" - <<'EOF' | tee -a "$SUMMARY"
import torch
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}; "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
else:
    print(f"GPU: none visible to torch {torch.__version__} (CUDA build: {torch.version.cuda})")
EOF
say "torch before/after installs: $torch_before / $torch_after"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { say "no CUDA device: stop"; exit 1; }

# 1. the CUDA tests
step pytest_cuda 150 "$PY" -m pytest -p no:cacheprovider -m cuda -rs tests/test_model.py tests/test_dream.py \
  tests/test_metrics.py tests/test_train.py tests/test_cuda.py
say "  $(tail -n 1 "$OUT_DIR/pytest_cuda.log")"

# 2. Baby-scale training speed on the GPU (needs train_speed.py's --device flag)
if "$PY" bench/train_speed.py --help 2>/dev/null | grep -q -- "--device"; then
  step baby_speed 120 "$PY" bench/train_speed.py --scale baby --variant official,paper,mgcn --batches 5 --device cuda
  grep '^{' "$OUT_DIR/baby_speed.log" | tee -a "$SUMMARY"
else
  say "[baby_speed] skipped: bench/train_speed.py has no --device flag yet, so it would time the CPU"
  failed=1
fi

# 3. one converged ml100k run on the GPU
rm -rf "$OUT_DIR/ml100k_mgcn"
step ml100k_converged 120 "$PY" -m mambarec train --dataset ml100k --model mgcn --schedule fast --device cuda \
  --out "$OUT_DIR/ml100k_mgcn"
grep '^{' "$OUT_DIR/ml100k_converged.log" | tail -n 1 | tee -a "$SUMMARY"

say "== total $SECONDS s; $([ "$failed" -eq 0 ] && echo 'all steps passed' || echo 'SOME STEPS FAILED')"
exit "$failed"
