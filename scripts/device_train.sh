#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool; CI never has one), from the repository
# root there:
#
#   bash scripts/device_train.sh PACK [OUT_DIR]
#
# 1. The GPU checks of benchmarks/gpu_check.sh (epoch timings of the three Market recipes, the
#    resident batch eager and compiled, DDP of one process), on a smaller timing set (751 x 4
#    clouds: the rate, not the set's size, is what is measured) and with shorter limits.
# 2. OG-Net-Small at the paper's width (channels as the authors', 1.2M parameters) with the
#    authors' Market-1501 recipe (configs/ognet_small_market.yaml: 4096 points, batch 36,
#    lr 1e-3, balanced sampler, weight averaging over the last 10%) on the synthetic training
#    split packed by scripts/pack_prepared.py, for as many epochs as TRAIN_BUDGET seconds
#    hold: a 3-epoch probe measures the epoch time first, so the schedule (a tenth of the
#    epochs warm-up, cosine, averaging) is fixed before the run starts and the run ends on
#    its own with its weight-averaged `final`.
# Everything comes back in OUT_DIR: the tables, the logs, final.safetensors/.json and
# history.jsonl; the lead evaluates it on the CPU machine (never on the device: no test split
# travels) and ships it if it beats the shipped model on the same test split.
#
# Dry run on the CPU (tiny): TINY=1 PYTHON=.venv/bin/python bash scripts/device_train.sh PACK
set -uo pipefail
cd "$(dirname "$0")/.."
PACK=$1
OUT_DIR=${2:-${OUT:-/tmp/device_train}}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
TRAIN_BUDGET=${TRAIN_BUDGET:-300}    # seconds for the real run (after the probe)
CHECK_BUDGET=${CHECK_BUDGET:-150}    # seconds for step 1
T0=$(date +%s)
DATA=/tmp/synth_clouds
"$PY" scripts/pack_prepared.py unpack --src "$PACK" --dst "$DATA" 2> "$OUT_DIR/unpack.log"

if [ -n "${TINY:-}" ]; then   # the CPU dry run: a tiny model and data, the same steps
    CHECK_EXTRA="--identities 8 --per-identity 4 --cloud-points 2048 --num-points 1024
        --stage-points 192 96 48 24 --batch-size 8 --device cpu --configs ognet_small_market"
    MODEL=(--num-points 1024 --set "stage_points=[192,96,48,24]" --device cpu --batch-size 8)
    WORKERS=0
else
    CHECK_EXTRA="--per-identity 4"
    MODEL=(--device cuda)
    WORKERS=12
fi

# 1. GPU checks (issues 9, 13): the tables go to OUT_DIR/epochs.md and ddp.md.
if [ -z "${SKIP_CHECK:-}" ]; then
    EXTRA="$CHECK_EXTRA" DATA=/tmp/market_timing STEP1_LIMIT=$((CHECK_BUDGET * 2 / 3)) \
        STEP2_LIMIT=$((CHECK_BUDGET / 3)) PYTHON="$PY" bash benchmarks/gpu_check.sh "$OUT_DIR"
fi
echo "checks done after $(( $(date +%s) - T0 )) s"

# 2. The paper-width OG-Net-Small: probe the epoch time, then the run that fits the budget.
train() {  # train EPOCHS OUT
    "$PY" -m ognet train --config configs/ognet_small_market.yaml --data "$DATA" \
        --epochs "$1" --warmup-epochs $(( $1 / 10 )) --eval-every 0 --workers "$WORKERS" \
        --seed 0 --out "$2" --quiet "${MODEL[@]}"
}
train 3 /tmp/probe > "$OUT_DIR/probe.log" 2>&1
EPOCH_S=$("$PY" -c "import json, statistics as s; h = [json.loads(l) for l in
    open('/tmp/probe/history.jsonl')]; print(s.median(r['epoch_s'] for r in h[1:]))")
EPOCHS=$("$PY" -c "print(max(3, int(0.9 * $TRAIN_BUDGET / $EPOCH_S)))")
echo "probe: ${EPOCH_S} s an epoch -> $EPOCHS epochs in ${TRAIN_BUDGET} s" | tee "$OUT_DIR/plan.txt"
train "$EPOCHS" /tmp/run > "$OUT_DIR/train.log" 2>&1
echo "training rc $? after $(( $(date +%s) - T0 )) s" | tee -a "$OUT_DIR/plan.txt"
cp /tmp/run/final.safetensors /tmp/run/final.json /tmp/run/history.jsonl "$OUT_DIR"/ 2>/dev/null \
    || cp /tmp/run/last.safetensors /tmp/run/last.json /tmp/run/history.jsonl "$OUT_DIR"/
ls -la "$OUT_DIR"
