#!/bin/sh
# Build the unpaired domains of the CycleGAN training (issue 19), outside the repository (never committed):
#
#   sh benchmarks/cyclegan_data.sh            # -> /work/train/cyclegan/{photos,paintings}_{train,test}
#   OUT=DIR sh benchmarks/cyclegan_data.sh    # elsewhere
#
# Paintings: the story art of Battle for Wesnoth (Debian wesnoth-1.16-* packages, GPL-2+), fetched with
# apt-get download into $TRAIN/debs (the packages train_arbitrary.sh already fetched are reused) and
# extracted there with dpkg-deb. Photos: ../shared/data/train/imagenet_sample and ../shared/data/registry/photos
# (johnson_eval.py's five held-out photos only in the test part). The selection, the deterministic
# ~14 % held-out split and OUT/SOURCES.md (packages, versions, licences, counts): benchmarks/cyclegan_data.py.
# Rerunning rebuilds the four folders from the same files (same result).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRAIN=${TRAIN:-/work/train}
DEBS=$TRAIN/debs
OUT=${OUT:-$TRAIN/cyclegan}
PACKAGES="wesnoth-1.16-did wesnoth-1.16-httt wesnoth-1.16-l wesnoth-1.16-trow wesnoth-1.16-tsg \
wesnoth-1.16-ttb wesnoth-1.16-data"

mkdir -p "$DEBS/x" "$OUT"
for p in $PACKAGES; do
    deb=$(ls "$DEBS/${p}"_*.deb 2>/dev/null | tail -n 1 || true)
    if [ -z "$deb" ]; then
        (cd "$DEBS" && apt-get download "$p")
        deb=$(ls "$DEBS/${p}"_*.deb | tail -n 1)
    fi
    # Only the story art and the copyright file (wesnoth-1.16-data is 190 MB unpacked).
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$DEBS/x" --wildcards --no-wildcards-match-slash \
        './usr/share/games/wesnoth/1.16/data/*/images/story/*' \
        './usr/share/games/wesnoth/1.16/data/campaigns/*/images/story/*' \
        "./usr/share/doc/$p/copyright" 2>/dev/null || true
    [ -f "$DEBS/x/usr/share/doc/$p/copyright" ] || { echo "$p: extraction failed" >&2; exit 1; }
done

"$ROOT/.venv/bin/python" "$ROOT/benchmarks/cyclegan_data.py" "$DEBS" "$OUT"
echo "Wrote $OUT (see $OUT/SOURCES.md)"
