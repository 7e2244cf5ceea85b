"""``atelier models`` (list trained networks with their cards) and ``atelier export`` (to ONNX)."""

from __future__ import annotations

from pathlib import Path

import atelier

from .common import Parser


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _quality(card: dict, method: str) -> str:
    """'; vs Gatys: style x1.21, content x0.95' from a card's evaluation, if it has one; for a translation
    (benchmarks/cyclegan_eval.py rows) '; KID to the paintings 0.38 (photos unchanged 0.71)'."""
    evaluation = card.get("evaluation") or {}
    rows = evaluation.get("rows") or {}
    try:
        kid = rows[method]["kid"]["training paintings"]["kid"]
        ceiling = rows["ceiling"]["kid"]["training paintings"]["kid"]
        return f"; KID to the paintings {kid:.2f} (photos unchanged {ceiling:.2f})"
    except (KeyError, TypeError):
        pass
    ratio = evaluation.get("ratio_model_to_gatys") or {}
    if "style_swd" not in ratio or "content" not in ratio:
        return ""
    return f"; vs Gatys: style x{ratio['style_swd']:.2f}, content x{ratio['content']:.2f}"


def _style(model) -> str:
    """'style: great_wave.jpg' for a one-style network; a decoder of an arbitrary-style method (whose style
    is an input) says so."""
    try:
        arbitrary = atelier.method_spec(model.method).capabilities.needs_style
    except atelier.errors.AtelierError:  # a model of a method not installed here
        arbitrary = False
    if arbitrary:
        return "style: any painting (decoder)"
    domains = model.card.get("domains")  # cyclegan, cut: translation between two folders
    if isinstance(domains, dict) and {"a", "b"} <= domains.keys():
        # a bundled model's card names its domains (cyclegan_bundle.py); a user's has the folders' names
        named = model.card.get("domain_names") or {}
        names = [named.get(k) or "+".join(domains[k].get("folders", [])) or "?" for k in ("a", "b")]
        arrow = "<->" if model.method == "cyclegan" else "->"  # CUT is one-sided
        return f"domains: {names[0]} {arrow} {names[1]}"
    return f"style: {model.card.get('style', '?')}"


def _list(argv: list[str]) -> int:
    p = Parser(prog="atelier models", description="List the bundled and your own trained models "
                "(yours live in $ATELIER_HOME/models/; pass a name or a file to 'atelier stylize --model'). "
                "Distances 'vs Gatys' are the model's style and content distances on held-out photos "
                "divided by those of the default Gatys result (lower is closer).")
    p.add_argument("name", nargs="?", metavar="NAME", help="Print this model's whole card (JSON).")
    p.add_argument("--json", action="store_true", help="Print every model with its card as JSON.")
    args = p.parse_args(argv)
    models = atelier.list_models()
    if args.name or args.json:
        import json

        chosen = [m for m in models if args.name in (None, m.name)]
        if not chosen:
            names = ", ".join(m.name for m in models) or "none installed"
            raise atelier.errors.OptionError(f"No model named {args.name!r} (available: {names}).")
        rows = [{"name": m.name, "method": m.method, "bundled": m.bundled, "path": str(m.path),
                 "card": m.card, "error": m.error} for m in chosen]
        print(json.dumps(rows[0] if args.name else rows, indent=2))
        return 0
    if not models:
        print(f"No trained models yet. Train one with 'atelier train johnson', or copy .safetensors/.onnx "
              f"files to {atelier.user_models_dir()}.")
        return 0
    for m in models:
        card = m.card
        where = "bundled" if m.bundled else "user"
        if m.error:
            print(f"{m.name:20s} {where:7s} unreadable: {m.error}  {m.path}")
            continue
        print(f"{m.name:20s} {m.method:8s} {where:7s} {_style(m)}; {_training(card)}"
              f"{_quality(card, m.method)}  {m.path}")
    return 0


def _training(card: dict) -> str:
    """"steps: N; training: T", counting the run a model was started from (--init) when its card records it:
    "steps: 2600 + 400; training: 74 min" (wct adds the levels the second run trained)."""
    steps, seconds = card.get("steps", "?"), card.get("training_seconds")
    init = card.get("initialised_from")
    if isinstance(init, dict) and isinstance(init.get("steps"), int):
        levels = card.get("levels_trained")
        steps = f"{init['steps']} + {steps}" + (f" (level {' '.join(map(str, levels))})" if levels else "")
        if seconds is not None and isinstance(init.get("training_seconds"), (int, float)):
            seconds += init["training_seconds"]
    return f"steps: {steps}; training: {_duration(seconds)}"


def _export(argv: list[str]) -> int:
    p = Parser(prog="atelier export", description="Export a trained model to ONNX (dynamic image size), "
                "checked against torch with onnxruntime before it is written.")
    p.add_argument("model", metavar="MODEL",
                   help="A model name (see 'atelier models') or a .safetensors file.")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="Export format.")
    p.add_argument("-o", "--output", help="Output file (default: ./atelier-out/MODEL.onnx).")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing output file.")
    p.add_argument("--direction", choices=["a2b", "b2a"],
                   help="A cyclegan model's generator to export (default a2b); other models have one network.")
    args = p.parse_args(argv)
    output = Path(args.output) if args.output else Path("atelier-out") / f"{Path(args.model).stem}.onnx"
    path = atelier.export_onnx(args.model, output, opset=args.opset, overwrite=args.overwrite,
                               direction=args.direction)
    print(f"Wrote {path}")
    return 0


def main(command: str, argv: list[str]) -> int:
    return _list(argv) if command == "models" else _export(argv)
