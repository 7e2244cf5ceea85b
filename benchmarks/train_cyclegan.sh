#!/bin/sh
# Train the compact CycleGAN photo <-> painting model (issue 19) in the background, resumable.
#
#   sh benchmarks/train_cyclegan.sh [STEPS [TRAIN OPTIONS...]]          # default 12000 steps
#
# Data (never committed): /work/train/cyclegan/{photos_train,paintings_train}, written by
# benchmarks/cyclegan_data.sh (photos_test and paintings_test stay held out for the evaluation).
# Writes /work/train/cyclegan/cyclegan.safetensors (OUT=... for another place), its checkpoint every 200
# steps and a preview (row 1 photo -> painting, row 2 painting -> photo). A second run of the same command
# continues from the checkpoint (--resume) to STEPS in total. The learning rate is constant for the first
# half of STEPS and decays linearly to 0 over the second half, so choose STEPS once (a resume with a larger
# STEPS stretches the decay from where it is).
# Threads: one torch thread unless OMP_NUM_THREADS says otherwise. On a machine shared with other jobs two
# threads spin-wait on each other (benchmarks/results/cyclegan.md: ~10x slower than one); on an idle
# machine set OMP_NUM_THREADS=2.
set -eu
STEPS=${1:-12000}
shift $(( $# < 1 ? $# : 1 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-/work/train/cyclegan}
OUT=${OUT:-$DATA/cyclegan.safetensors}
[ -d "$DATA/photos_train" ] && [ -d "$DATA/paintings_train" ] || {
    echo "train_cyclegan.sh: no $DATA/photos_train or $DATA/paintings_train: run benchmarks/cyclegan_data.sh first" >&2
    exit 2
}
# Continue: from the checkpoint when it is there (exact: discriminators, Adam, pools, data position); else,
# on a fresh machine, the generators of the bundled model (--init: discriminators and Adam start afresh, and
# STEPS counts from 0 again); bundle an improved model with benchmarks/cyclegan_bundle.py.
WIP="$ROOT/src/atelier/weights/cyclegan/cyclegan.safetensors"
RESUME=""
if [ -f "${OUT%.safetensors}.ckpt.safetensors" ]; then
    RESUME="--resume"
elif [ -f "$WIP" ]; then
    RESUME="--init $WIP"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec nice -n 5 "$ROOT/.venv/bin/atelier" train cyclegan --domain-a "$DATA/photos_train" \
    --domain-b "$DATA/paintings_train" -o "$OUT" --size compact --crop 128 --steps "$STEPS" \
    --precision auto -q $RESUME "$@"
