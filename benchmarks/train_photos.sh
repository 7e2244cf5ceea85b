# Sourced by train_arbitrary.sh and train_johnson.sh (needs ROOT, SHARED, TRAIN): builds $TRAIN/photos once,
# the registry photos minus the five that benchmarks/johnson_eval.py holds out for evaluation.
if [ ! -d "$TRAIN/photos" ]; then
    mkdir -p "$TRAIN/photos"
    HELD=$("$ROOT/.venv/bin/python" -c "import sys; sys.path.insert(0, '$ROOT/benchmarks'); \
from johnson_eval import HELD_OUT; print(' '.join(HELD_OUT))")
    for f in "$SHARED"/registry/photos/*; do
        case " $HELD " in *" $(basename "$f") "*) ;; *) cp "$f" "$TRAIN/photos/" ;; esac
    done
fi
