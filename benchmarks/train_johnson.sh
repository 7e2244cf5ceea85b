#!/bin/sh
# Retrain a bundled johnson model (issue 17): from scratch, content weight 2, bilinear upsampling, MINUTES of
# training (default 28, the issue's limit is 30), in the background, resumable.
#
#   sh benchmarks/train_johnson.sh STYLE [MINUTES [TRAIN OPTIONS...]]     # STYLE: the_scream, starry_night, ...
#
# Writes /work/train/johnson/STYLE.safetensors (OUT=... for another place); then judge and bundle with
#   python benchmarks/johnson_eval.py /work/train/johnson/*.safetensors --bundle
# Data (never committed): ../shared/data/train/imagenet_sample and /work/train/photos (the registry photos
# minus the five held out by benchmarks/johnson_eval.py; built by benchmarks/train_arbitrary.sh, or here).
# A second run of the same command continues from the checkpoint (--resume) for MINUTES more.
set -eu
STYLE=${1:?usage: train_johnson.sh STYLE [MINUTES [OPTIONS...]]}
MINUTES=${2:-28}
shift $(( $# < 2 ? $# : 2 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$ROOT/../shared/data
TRAIN=/work/train
OUT=${OUT:-$TRAIN/johnson/$STYLE.safetensors}
mkdir -p "$(dirname "$OUT")"

. "$ROOT/benchmarks/train_photos.sh"  # $TRAIN/photos: registry photos minus the held-out five

RESUME=""
[ -f "${OUT%.safetensors}.ckpt.safetensors" ] && RESUME="--resume"
# The great_wave recipe (its card): compact network, 256 px crops, batch 4, lr 1e-3, content weight 2; here
# with bilinear upsampling against the 4-px lattice of nearest upsampling (benchmarks/results/johnson_grid.md).
exec nice -n 5 "$ROOT/.venv/bin/atelier" train johnson --style "$SHARED/styles/$STYLE.jpg" \
    --data "$SHARED/train/imagenet_sample" "$TRAIN/photos" -o "$OUT" --minutes "$MINUTES" \
    --content-weight 2 --upsample bilinear --precision auto -q $RESUME "$@"
