#!/bin/sh
# Train the decoders to bundle for AdaIN, SANet (issue 6) and WCT (issue 17), in the background, resumable.
#
#   sh benchmarks/train_arbitrary.sh adain [MINUTES [TRAIN OPTIONS...]]    # or: sanet, wct
#
# WCT's decoders see photos only (the same photo folders; no paintings).
#
# Data (never committed): content photos = ../shared/data/train/imagenet_sample and /work/train/photos
# (the registry photos minus the five held out by benchmarks/johnson_eval.py); paintings = 6 of the 9
# ../shared/data/styles (the_scream, water_lilies and woman_with_hat are held out for the evaluation on unseen
# styles) plus the story paintings of Wesnoth's campaigns (Debian wesnoth-1.16-* packages, GPL-2+ by their
# debian/copyright, fetched with apt-get download and extracted under /work/train/debs). The folders are built once here.
# A second run of the same command continues from the checkpoint (--resume) for MINUTES more.
set -eu
METHOD=${1:-adain}
MINUTES=${2:-180}
shift $(( $# < 2 ? $# : 2 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$ROOT/../shared/data
TRAIN=/work/train
STYLES=$TRAIN/styles_arbitrary
OUT=${OUT:-$TRAIN/$METHOD.safetensors}  # OUT=... for an experiment beside the main run

if [ ! -d "$STYLES" ]; then
    mkdir -p "$TRAIN/debs/x" "$STYLES"
    (cd "$TRAIN/debs" && apt-get download wesnoth-1.16-httt wesnoth-1.16-ei wesnoth-1.16-l wesnoth-1.16-did \
        wesnoth-1.16-dw wesnoth-1.16-dm wesnoth-1.16-ttb wesnoth-1.16-thot wesnoth-1.16-sota wesnoth-1.16-sotbe \
        wesnoth-1.16-sof wesnoth-1.16-nr wesnoth-1.16-tsg wesnoth-1.16-low wesnoth-1.16-utbs wesnoth-1.16-trow \
        && for d in *.deb; do dpkg-deb -x "$d" x/; done)
    find "$TRAIN/debs/x" -path '*/story/*' \( -iname '*.jpg' -o -iname '*.png' \) | while read -r f; do
        campaign=$(echo "$f" | sed -E 's|.*/campaigns/([^/]+)/.*|\1|')
        cp -n "$f" "$STYLES/wesnoth__${campaign}__$(basename "$f")"
    done
    for s in composition_vii great_wave shipwreck starry_night starry_night_over_the_rhone udnie; do
        cp "$SHARED/styles/$s.jpg" "$STYLES/"
    done
fi

. "$ROOT/benchmarks/train_photos.sh"  # $TRAIN/photos: registry photos minus the held-out five

RESUME=""
[ -f "${OUT%.safetensors}.ckpt.safetensors" ] && RESUME="--resume"
# Steps: 8000 (compact decoder, batch 4, 256 px crops) is the planned schedule; measure the step time with a
# short first session and adjust --steps so that a session of MINUTES fits (a resumed run keeps counting).
if [ "$METHOD" = wct ]; then
    exec nice -n 5 "$ROOT/.venv/bin/atelier" train wct --data "$SHARED/train/imagenet_sample" "$TRAIN/photos" \
        -o "$OUT" --minutes "$MINUTES" --precision auto -q $RESUME "$@"
fi
exec nice -n 5 "$ROOT/.venv/bin/atelier" train "$METHOD" \
    --content-dir "$SHARED/train/imagenet_sample" "$TRAIN/photos" --style-dir "$STYLES" \
    -o "$OUT" --minutes "$MINUTES" --steps 8000 --precision auto -q $RESUME "$@"
