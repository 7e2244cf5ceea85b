#!/bin/sh
# The field's history in one picture (README, docs/history.jpg): the embedded photo and painting (The Starry
# Night) through every method that transfers a style, in order of publication, by `atelier compare`.
#
#   sh benchmarks/history.sh [OUT_DIR]      # default /tmp/atelier-history; ~3 min on 2 cores
#
# Efros & Leung 1999 synthesises textures and fills holes; it transfers no style, so it has no column here.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/atelier-history}
set --  # WCT's column only where decoders are installed (bundled or in $ATELIER_HOME/models)
if "$ROOT/.venv/bin/python" -c "import atelier.weights as w, sys; sys.exit(0 if w.has_model('wct') else 1)"; then
    set -- --run "wct@2017 WCT (Li et al.)"
fi
"$ROOT/.venv/bin/atelier" compare --size 256 --eval-size 256 -o "$OUT" --overwrite \
    --run "portilla_simoncelli@2000 Portilla & Simoncelli" \
    --run "quilting@2001 quilting (Efros & Freeman)" \
    --run "sparse@2006 K-SVD sparse coding" \
    --run "gatys@2015 Gatys et al." \
    --run "johnson:model=starry_night@2016 Johnson et al." \
    --run "adain@2017 AdaIN (Huang & Belongie)" \
    "$@" \
    --run "elad_milanfar@2017 Elad & Milanfar" \
    --run "sanet@2019 SANet (Park & Lee)"
"$ROOT/.venv/bin/python" - "$OUT" "$ROOT/docs/history.jpg" <<'PY'
import sys
from PIL import Image
sheet = Image.open(f"{sys.argv[1]}/contact_sheet.png").convert("RGB")
scale = min(1.0, 2400 / sheet.width)
sheet.resize((round(sheet.width * scale), round(sheet.height * scale)), Image.LANCZOS).save(sys.argv[2], quality=88)
print("wrote", sys.argv[2])
PY
