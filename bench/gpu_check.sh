#!/usr/bin/env bash
# The warp backend's GPU check, in one command and one table (under 8 minutes on one GPU,
# MuJoCo Warp's kernel compile included): kernel warm-up, batched env steps/s at several world
# counts, the host reward path at 4096 worlds, PPO training steps/s with a generated reward
# and with the env's own reward, and a 1M-step Hopper candidate's wall time through the real
# containers, each beside the SB3 path measured in the same run (bench/bench_warp_train.py).
#
#   bash bench/gpu_check.sh          # on a GPU: Hopper-v5 and Ant-v5, 4096 and 16384 worlds
#   bash bench/gpu_check.sh --cpu    # the same code on Warp's CPU device, small numbers
#
# Needs the venv of scripts/install.sh (the 'warp' extra) with a CUDA build of torch for the
# GPU run (install.sh installs the CPU wheel: .venv/bin/pip install torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cu128). Extra arguments go to bench_warp_train.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mode=gpu
if [ "${1:-}" = "--cpu" ]; then
  mode=cpu
  shift
fi
start=$(date +%s)
if [ "$mode" = gpu ]; then
  if ! "$PY" - <<'EOF'
import sys
import torch
import warp as wp

wp.config.log_level = wp.LOG_WARNING
wp.init()
problems = []
if not wp.is_cuda_available():
    problems.append("Warp sees no CUDA device (driver?)")
if not torch.cuda.is_available():
    problems.append(f"torch {torch.__version__} cannot use CUDA (a CPU-only build?)")
if problems:
    print("gpu_check: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"gpu_check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, warp {wp.__version__}")
EOF
  then
    echo "gpu_check: no usable GPU here; run 'bash bench/gpu_check.sh --cpu' for the CPU numbers" >&2
    exit 1
  fi
  "$PY" bench/bench_warp_train.py --device cuda --cold --env Hopper-v5 Ant-v5 \
    --nworld 4096 16384 --warp-worlds 4096 --warp-steps 1000000 --candidate-steps 1000000 "$@"
else
  "$PY" bench/bench_warp_train.py --device cpu --quick --env Hopper-v5 "$@"
fi
echo "gpu_check ($mode): $(( $(date +%s) - start )) s wall in all"
