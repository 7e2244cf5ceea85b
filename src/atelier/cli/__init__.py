"""The ``atelier`` command line: thin, parses and calls the public API.

``main(argv) -> int``: user errors print one sentence (no traceback) and return 2; Ctrl-C (or SIGTERM)
returns 130.
Subcommands live in their own modules and are imported only when chosen, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from .. import __version__

_COMMANDS = {
    "stylize": ("atelier.cli.stylize", "Stylise a photo in the manner of one or more paintings."),
    "batch": ("atelier.cli.batch", "Stylise a folder (or list) of photos, resumably, locally or on a Dask cluster."),
    "texture": ("atelier.cli.texture", "Synthesise a texture of any size from a sample image."),
    "methods": ("atelier.cli.stylize", "List the style transfer methods and what they support."),
    "eval": ("atelier.cli.evaluate", "Measure a result: style, content, structure and colour distances."),
    "compare": ("atelier.cli.evaluate", "Compare methods/settings: contact sheet, metrics table, loss curves."),
    "explain": ("atelier.cli.explain", "Show what a painting's style is made of: reconstructions, Gram directions."),
    "models": ("atelier.cli.models", "List the trained feed-forward models (bundled and yours)."),
    "export": ("atelier.cli.models", "Export a trained model to ONNX for onnxruntime."),
    "train": ("atelier.cli.train", "Train a feed-forward style network on a folder of photos."),
    "video": ("atelier.cli.video", "Stylise a video file or a folder of frames, temporally coherent."),
    "provenance": ("atelier.cli.provenance", "Print what made an image or video, as recorded inside the file."),
    "serve": ("atelier.cli.serve", "Run the web app and HTTP API on this machine (http://127.0.0.1:7860/)."),
}


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="atelier",
        description="atelier: neural style transfer. Run 'atelier COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"atelier {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="Log what the library does (to stderr).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in _COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def _terminate(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_sigterm():
    """``kill PID`` (SIGTERM: service managers, containers, a job killed from another shell) stops a
    command like Ctrl-C: training keeps its checkpoint, a video its finished frames, an optimisation its last
    image. Ctrl-C alone is not enough: a job started in the background with '&' ignores SIGINT. The previous
    handler returns afterwards (``main`` may be called inside another program, such as the tests)."""
    previous = None
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        try:
            previous = signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread (main() called from a thread)
            pass
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from ..errors import AtelierError

    top = _top_parser()
    # Split global options from the subcommand; the subcommand module parses the rest.
    args, rest = top.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        top.print_help()
        return 2
    from ..runtime import tune_allocator

    tune_allocator()  # the launcher's job, not the library's: see atelier/runtime.py
    import importlib

    module = importlib.import_module(_COMMANDS[args.command][0])
    try:
        with _stop_on_sigterm():
            return module.main(args.command, rest)
    except AtelierError as err:
        print(f"atelier: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("atelier: interrupted.", file=sys.stderr)
        return 130
