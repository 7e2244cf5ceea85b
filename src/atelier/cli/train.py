"""``atelier train METHOD --style S --data DIR [DIR ...] -o MODEL`` (johnson) or ``atelier train adain
--content-dir DIR [DIR ...] --style-dir DIR [DIR ...] -o MODEL``: the inputs each trainer declares
(``TrainerSpec.inputs``) and options generated from its training config dataclass
(``atelier.trainer_spec``), the same way ``atelier stylize`` builds its options.

Writes MODEL (a .safetensors network with its model card), MODEL's checkpoint beside it (resumable with
``--resume``) and, every ``--preview-every`` steps, MODEL.preview.png: the first training photo stylised by
the current network (written atomically, so a viewer never sees half a file).

Under ``torchrun --nproc-per-node N -m atelier train ...`` the library trains on N processes (the engine's
``distributed`` module); here only rank 0 (torchrun's RANK) reports: the other ranks print nothing but
errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import atelier

from .common import Parser, add_metadata_option
from .progress import ProgressPrinter
from .stylize import add_config_options


def build_parser(method: str) -> argparse.ArgumentParser:
    spec = atelier.trainer_spec(method)  # config class only: --help must not import torch
    p = Parser(
        prog="atelier train",
        description=f"{spec.summary} Writes MODEL, its resumable checkpoint MODEL.ckpt.safetensors and a "
        "preview MODEL.preview.png. Trainable methods: " + ", ".join(atelier.list_trainers()) + ".",
    )
    p.add_argument("method", nargs="?", default=method, choices=atelier.list_trainers(), metavar="METHOD",
                   help=f"Method to train (default: {method}).")
    for item in spec.inputs:  # johnson: --style IMAGE --data DIR...; adain, sanet: --content-dir, --style-dir
        p.add_argument(item["flag"], required=True, dest=item["dest"], metavar=item["metavar"], help=item["help"],
                       nargs=item.get("nargs", "+"))
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="The model file to write (.safetensors).")
    p.add_argument("--resume", action="store_true",
                   help="Continue the run whose checkpoint is beside MODEL (to --steps in total, or for "
                   "--minutes more); with --steps at or below the step reached, just write MODEL.")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing MODEL and its checkpoint.")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bar.")
    add_metadata_option(p)
    add_config_options(p, spec.config_class, f"{method} training options")
    return p


class _Listener:
    """Progress bar (unless quiet) and the preview file, written atomically whenever a preview arrives."""

    def __init__(self, preview: Path, *, show: bool, metadata: dict | None = None):
        self.preview, self.show = preview, show
        self.metadata = metadata  # the previews' provenance record (None: --no-metadata)
        self.bar: ProgressPrinter | None = None  # started by the first event, so errors before it show no bar

    def __call__(self, event) -> None:
        if self.bar is None:
            self.bar = ProgressPrinter(show=self.show)
        self.bar(event)
        if isinstance(event, atelier.events.Progress) and event.image is not None:
            record = None if self.metadata is None else {**self.metadata, "step": event.iteration}
            atelier.save_image(event.image[:1], self.preview, overwrite=True, metadata=record)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _reports() -> bool:
    """False on the ranks other than 0 of a torchrun training: rank 0 reports for all."""
    return os.environ.get("RANK", "0") == "0" or os.environ.get("WORLD_SIZE", "1") == "1"


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def main(command: str, argv: list[str]) -> int:
    # The method is the first word, if any (its config gives the options): "atelier train johnson ...".
    method = argv[0] if argv and not argv[0].startswith("-") else "johnson"
    args = build_parser(method).parse_args(argv)
    spec = atelier.trainer_spec(args.method)
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(spec.config_class)
               if getattr(args, f.name, None) is not None}
    output = Path(args.output)
    preview = atelier.preview_path(output)  # checked by the trainer like the model (atelier.train)
    folders = [f for item in spec.inputs if item.get("folders", True) for f in getattr(args, item["dest"])]
    for folder in folders:
        if _inside(preview, Path(folder)):
            raise atelier.errors.OutputError(
                f"Refusing to write the model and its preview inside the training folder '{folder}' (the "
                "preview would become a training photo); choose an output elsewhere."
            )
    record = atelier.provenance_record(
        "training preview", args.method, config=options, seed=options.get("seed"),
        inputs={item["dest"]: getattr(args, item["dest"]) for item in spec.inputs}) if args.metadata else None
    listener = _Listener(preview, show=not args.quiet and _reports(), metadata=record)
    try:
        summary = atelier.train(args.method, getattr(args, "style", None), args.data, output, resume=args.resume,
                                overwrite=args.overwrite, device=args.device, callback=listener, **options)
    except atelier.errors.Interrupted as err:
        listener.close()
        now = "" if err.partial is None else (f" To write the model as it is now, run the same command with "
                                              f"--resume --steps {err.partial.steps}.")
        if _reports():
            print(f"atelier: {err}{now}", file=sys.stderr)
        return 130
    finally:
        listener.close()
    if not _reports():
        return 0
    took = f"{summary['seconds'] / 60:.1f} min" if summary["seconds"] >= 120 else f"{summary['seconds']:.0f} s"
    print(f"Wrote {summary['output']} ({summary['steps']} steps, {took} this session); checkpoint "
          f"{summary['checkpoint']}" + (f"; preview {preview}" if preview.exists() else ""))
    return 0
