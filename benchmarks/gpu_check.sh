#!/usr/bin/env bash
# The GPU checks of issues 9 and 13 in one command, for a session lent a GPU machine (the
# `device` tool; CI never has one). From the repository root there:
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # OUT_DIR: where the tables go ($OUT there)
#
# A dry run here, before spending device time (small sizes, the CPU):
#   PYTHON=.venv/bin/python EXTRA="--identities 8 --per-identity 4 --cloud-points 2048
#     --num-points 1024 --stage-points 192 96 48 24 --batch-size 8 --device cpu
#     --configs ognet_small_market" DATA=/tmp/timing_small bash benchmarks/gpu_check.sh
#
# 1. One epoch of each variant's Market-1501 recipe (configs/ognet_market.yaml,
#    ognet_small_market.yaml, ognet_deep_circle_market.yaml: 4096 points, float32) on a
#    Market-sized timing set (751 identities x 17 clouds of 8192 points, written once to
#    /tmp/market_timing), and what bounds it: the same step on a batch held on the GPU, eager
#    and through torch.compile, in float32 and under --amp bf16 / fp16 (issue 25's speed of
#    mixed precision; benchmarks/bench_epoch.py). Issue 9's goal: the 1000-epoch
#    recipe in under 2 hours on one H100, about 1,800 clouds/s for OG-Net.
# 2. The same epoch of OG-Net-Small under `torchrun --nproc_per_node 1` (DDP over NCCL on the
#    one GPU) against the plain process of step 1: issue 13's per-GPU DDP overhead.
#
# Needs only what the lent machine's image holds (torch, numpy, scipy, safetensors, tqdm,
# pyyaml): ognet's graph operations fall back to their pure-PyTorch CUDA paths where
# torch-cluster is absent (say so when quoting the figures). About 5-8 minutes on an H100
# (estimate); each step has its own time limit, so a slow one cannot take the others' time.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT_DIR"
# torchrun sets OMP_NUM_THREADS=1 unless it is set: the same threads for both runs of step 2.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
DATA=${DATA:-/tmp/market_timing}
EXTRA=${EXTRA:-}  # more bench_epoch.py flags (the dry run above)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT_DIR/gpu.txt"
"$PY" -c "import torch, importlib.util as u; print('torch', torch.__version__, 'cuda',
    torch.version.cuda, 'torch-cluster', bool(u.find_spec('torch_cluster')))" \
    | tee -a "$OUT_DIR/gpu.txt"

# Tables on stdout (OUT_DIR/*.md), progress bars and logs on stderr (OUT_DIR/*.log).
timeout ${STEP1_LIMIT:-330} "$PY" benchmarks/bench_epoch.py --data "$DATA" --epochs 1 --steps 20 \
    --compile --amp off bf16 fp16 --workers 12 $EXTRA 2> "$OUT_DIR/epochs.log" \
    | tee "$OUT_DIR/epochs.md"
timeout ${STEP2_LIMIT:-150} "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 \
    benchmarks/bench_epoch.py --data "$DATA" --configs ognet_small_market --epochs 1 \
    --workers 12 $EXTRA 2> "$OUT_DIR/ddp.log" | tee "$OUT_DIR/ddp.md"
