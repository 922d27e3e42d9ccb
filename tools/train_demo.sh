#!/bin/sh
# tools/train_demo.sh - retrain the demo model (models/demo.safetensors) end to end.
#
# Usage: tools/train_demo.sh WORKDIR [OUT.safetensors]
#
#   1. generate the training worlds with `transgeo world` (tools/gen_worlds.sh):
#      seeds 1000.., 640 m, 320 pairs each (panorama + 64 m aerial crop), and
#      the validation world (seed 900) and the held-out test worlds (7, 42)
#   2. stage 1: ground + aerial nets (aerial at 128x128), soft-margin triplet
#   3. stage 2: attend and zoom in: the frozen stage-1 aerial net scans each
#      tile (last-block attention, quantised as the official PNG maps), the
#      stage-2 aerial net (pos_embed resized 8x8 -> 10x10) is trained on the
#      64% most attended patches of the tile at 160x160; ground net continues
#   4. export: tools/convert_checkpoint.py --preset demo stage2 --scan stage1
#   5. evaluate on the held-out worlds (R@1/5/10, metre error; JSON in WORKDIR/eval),
#      the zoom model and the stage-1 model alone
#
# Everything is written under WORKDIR (state, logs, data); every step resumes
# when started again (worlds with world.json are kept, training resumes from
# WORKDIR/run/stageN.pt).  Environment (defaults = run A, the first of the
# runs behind the shipped model; models/MODEL_CARD.md gives each run's settings):
#   TRANSGEO      the transgeo binary with the `world` command (default: transgeo)
#   PYTHON3       Python with torch, numpy, PIL; GDAL's bindings optional
#                 (default /usr/bin/python3)
#   N_WORLDS=6 PAIRS=320 SIZE_M=640 JOBS=2    training data
#   BUDGET1=2100 BUDGET2=960                  training seconds of stage 1 / 2
#   LR1=3e-4                                  stage-1 peak learning rate (stage 2: 1.5e-4)
#   THREADS=1                                 torch CPU threads
#   DEVICE=auto                               auto: the CUDA GPU when PyTorch sees one,
#                                             else the CPU; or cpu / cuda (train_demo.py --device)
#   INIT=STAGE1.pth.tar|MODEL.safetensors     warm start of stage 1 (weights of an
#                                             earlier run's stage 1, or of a model
#                                             file's ground + aerial_scan; fresh optimiser)
#   INIT2=MODEL.safetensors                   warm start of stage 2's zoom net (the model
#                                             file's stage-2 `aerial`; ground: this run's stage 1)
#   NEAR_M=0                                  > 0: hard neighbour negatives (train_demo.py --near-m)
#   SEED=1                                    trainer seed (init, batches, augmentation)
#   DIHEDRAL=1                                0: no mirrored/turned pairs (runs A and B had none)
#   LOSS=triplet                              or infonce: symmetric InfoNCE, learnable temperature
#                                             (train_demo.py --loss)
#   PARTIAL=0 HFOV=60,120                     share of panoramas turned into partial views
#                                             (a pinhole photo's coverage at a random heading,
#                                             hfov range in degrees; train_demo.py --partial)
#   LR2=1.5e-4 VAL_EVERY=150                  stage-2 peak learning rate; validation interval
set -eu
[ $# -ge 1 ] || { sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
work=$1
out=${2:-$work/demo.safetensors}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON3:-/usr/bin/python3}
tg=${TRANSGEO:-transgeo}
N_WORLDS=${N_WORLDS:-6} PAIRS=${PAIRS:-320} SIZE_M=${SIZE_M:-640} JOBS=${JOBS:-2}
BUDGET1=${BUDGET1:-2100} BUDGET2=${BUDGET2:-960} LR1=${LR1:-3e-4} THREADS=${THREADS:-1} INIT=${INIT:-} INIT2=${INIT2:-}
NEAR_M=${NEAR_M:-0} SEED=${SEED:-1} DIHEDRAL=${DIHEDRAL:-1} DEVICE=${DEVICE:-auto}
LOSS=${LOSS:-triplet} PARTIAL=${PARTIAL:-0} HFOV=${HFOV:-60,120} LR2=${LR2:-1.5e-4} VAL_EVERY=${VAL_EVERY:-150}
mkdir -p "$work"

# 1. data (the training worlds use seeds >= 1000; the demo's worlds are < 1000)
TRANSGEO=$tg sh "$here/gen_worlds.sh" -n "$N_WORLDS" -o "$work/data/worlds" -s 1000 -j "$JOBS" -- \
    --size-m "$SIZE_M" --panos 0 --photos 0 --pairs "$PAIRS" --supersample 1
for s in 900 7 42; do
    [ -f "$work/eval/world_$s/world.json" ] && continue
    mkdir -p "$work/eval"
    n=100; [ "$s" = 900 ] && n=60
    "$tg" world --seed "$s" --out "$work/eval/world_$s" --size-m "$SIZE_M" --panos "$n" --photos 0 --quiet
done

# 2. + 3. training (validation on world 900 only; 7 and 42 are never looked at)
train_stage() {   # STAGE BUDGET_S [more train_demo.py options]
    stage=$1 budget=$2
    shift 2
    "$py" "$here/train_demo.py" "stage$stage" --worlds "$work/data/worlds" --val "$work/eval/world_900" \
        --state "$work/run" --budget-s "$budget" --val-every "$VAL_EVERY" --threads "$THREADS" \
        --near-m "$NEAR_M" --seed "$SEED" --dihedral "$DIHEDRAL" --device "$DEVICE" \
        --loss "$LOSS" --partial "$PARTIAL" --hfov "$HFOV" "$@"
}
train_stage 1 "$BUDGET1" --lr "$LR1" ${INIT:+--init "$INIT"}
train_stage 2 "$BUDGET2" --lr "$LR2" ${INIT2:+--init "$INIT2"}

# 4. export exactly as a user converts official checkpoints
"$py" "$here/train_demo.py" export --state "$work/run" -o "$out"

# 5. held-out evaluation: the shipped zoom model, and the stage-1 model alone
evaluate_model() {   # MODEL JSON
    "$py" "$here/train_demo.py" evaluate --model "$1" --threads "$THREADS" --device "$DEVICE" \
        --json "$2" "$work/eval/world_7" "$work/eval/world_42"
}
evaluate_model "$out" "$work/eval/metrics.json"
"$py" "$here/train_demo.py" export --state "$work/run" --stage1-only -o "$work/run/stage1.safetensors"
evaluate_model "$work/run/stage1.safetensors" "$work/eval/metrics_stage1.json"
