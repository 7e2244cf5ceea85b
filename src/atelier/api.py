"""The public API: stylise from anything image-like, write results with their sidecars.

``stylize(content, style, **options)`` accepts paths, PIL images, numpy arrays or tensors and returns a
PIL image (or a tensor with ``output="tensor"``). ``stylize_to_file`` is what the CLI and the web app use:
it checks the output path before any work, runs, and writes the image and its JSON sidecar atomically.
Front ends use only this module (through ``atelier/__init__.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from . import __version__, io
from .errors import Interrupted, OptionError
from .methods import get_method, make_config

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> CUDA if available, then Apple MPS, then CPU; anything else is checked and returned."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise OptionError(f"Unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"Device {device!r} was asked for but CUDA is not available on this machine.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionError(f"Device {device!r} was asked for but Apple MPS is not available on this machine.")
    return dev


def default_inputs() -> tuple[Path, Path]:
    """The embedded default pair: a photo and a painting bundled in the package (credited in README)."""
    base = resources.files("atelier") / "data"
    return Path(str(base / "content.jpg")), Path(str(base / "style.jpg"))


@dataclass
class StylizeResult:
    image: torch.Tensor  # (1,3,H,W) in [0,1]
    alpha: torch.Tensor | None  # (1,1,H,W) content's transparency resized to the output, or None
    info: dict[str, Any] = field(default_factory=dict)  # what the sidecar records

    def to_pil(self):
        return io.to_pil(self.image, self.alpha)


def _describe(source) -> str | None:
    return str(Path(source)) if isinstance(source, (str, Path)) else None


def prepare(method: str, style, masks, options: dict) -> tuple[type, Any, list]:
    """(method class, validated config, list of styles) for a run, or one clear OptionError. Shared by
    :func:`run` and the video pipeline, which runs the method once per frame."""
    cls = get_method(method)
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    config = make_config(cls.config_class, options)
    if hasattr(config, "validate"):
        config.validate(max(1, len(styles)))
    if cls.capabilities.needs_style and not styles:
        raise OptionError(f"The {method} method needs at least one style image.")
    if len(styles) > 1 and not cls.capabilities.multiple_styles:
        raise OptionError(f"The {method} method takes one style image, not {len(styles)}.")
    if masks is not None and not cls.capabilities.masks:
        raise OptionError(f"The {method} method does not support masks.")
    if masks is not None and len(masks) != len(styles):
        raise OptionError(f"There are {len(masks)} mask(s) for {len(styles)} style image(s); give one mask per style.")
    return cls, config, styles


def run(
    content,
    style=None,
    *,
    method: str = "gatys",
    masks: Sequence | None = None,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    callback=None,
    **options,
) -> StylizeResult:
    """Stylise and return the image with everything a sidecar needs. Raises ``atelier.errors`` on bad input;
    on Ctrl-C raises :class:`~atelier.errors.Interrupted` whose ``partial`` is a :class:`StylizeResult`."""
    t_start = time.perf_counter()
    cls, config, styles = prepare(method, style, masks, options)

    dev = resolve_device(device)
    loaded = io.read_image(content)
    style_t = [io.load_image(s, device=dev) for s in styles]
    mask_t = None if masks is None else [io.load_image(m, device=dev) for m in masks]
    t_loaded = time.perf_counter()

    generator = torch.Generator().manual_seed(int(seed))
    instance = cls(config)
    info = {
        "atelier": __version__,
        "method": method,
        "inputs": {
            "content": _describe(content),
            "styles": [_describe(s) for s in styles],
            "masks": None if masks is None else [_describe(m) for m in masks],
            "content_size": list(loaded.rgb.shape[-2:][::-1]),
        },
        "config": dataclasses.asdict(config),
        "seed": int(seed),
        "device": str(dev),
        "versions": _versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    def finish(image: torch.Tensor, interrupted: bool) -> StylizeResult:
        image = image.detach().float().cpu().clamp(0, 1)
        alpha = None if loaded.alpha is None else io.resize(loaded.alpha, tuple(image.shape[-2:]))
        info.update(instance.info)
        info["interrupted"] = interrupted
        info["output_size"] = list(image.shape[-2:][::-1])
        info["timings"] = {
            "load_seconds": round(t_loaded - t_start, 3),
            "stylize_seconds": round(time.perf_counter() - t_loaded, 3),
            "total_seconds": round(time.perf_counter() - t_start, 3),
        }
        return StylizeResult(image, alpha, info)

    try:
        out = instance.stylize(
            loaded.rgb.to(dev), style_t or None, config=config, generator=generator, callback=callback,
            masks=mask_t,
        )
    except Interrupted as err:
        partial = None if err.partial is None else finish(err.partial, interrupted=True)
        raise Interrupted(str(err), partial=partial) from None
    return finish(out, interrupted=False)


def estimate(content, style=None, *, method: str = "gatys", device="auto", **options) -> dict:
    """Predicted ``seconds`` and ``peak_bytes`` of ``run(content, style, **options)`` (a short calibration
    runs; nothing is written). Methods without an estimator raise OptionError."""
    cls = get_method(method)
    if not hasattr(cls, "estimate"):
        raise OptionError(f"The {method} method cannot estimate its run time yet.")
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    config = make_config(cls.config_class, options)
    if cls.capabilities.needs_style and not styles:
        raise OptionError(f"The {method} method needs at least one style image.")
    dev = resolve_device(device)
    return cls(config).estimate(io.load_image(content, device=dev), [io.load_image(s, device=dev) for s in styles])


def stylize(content, style=None, *, output: str = "pil", **kwargs):
    """Stylise ``content`` in the manner of ``style`` (paths, PIL images, arrays or tensors).

    Keyword options are the method's config fields (``size``, ``iterations``, ``style_strength``,
    ``preserve_color`` ...) plus ``method``, ``masks``, ``seed``, ``device`` and ``callback`` (receives
    :mod:`atelier.events`). Returns a PIL image, or a (1,3,H,W) tensor with ``output="tensor"``.
    """
    if output not in ("pil", "tensor"):
        raise OptionError("output must be 'pil' or 'tensor'.")
    result = run(content, style, **kwargs)
    return result.to_pil() if output == "pil" else result.image


def stylize_to_file(content, style, out, *, overwrite: bool = False, **kwargs) -> tuple[Path, StylizeResult]:
    """Stylise and write ``out`` plus ``out.json`` atomically. The output path is checked before any work;
    an input file is never overwritten. On Ctrl-C the partial image and its sidecar are written, then
    :class:`~atelier.errors.Interrupted` is re-raised."""
    styles = [] if style is None else (list(style) if isinstance(style, (list, tuple)) else [style])
    inputs = [p for p in [content, *styles, *(kwargs.get("masks") or [])] if isinstance(p, (str, Path))]
    path = io.check_output_path(out, overwrite=overwrite, inputs=inputs)
    try:
        result = run(content, style, **kwargs)
    except Interrupted as err:
        if err.partial is not None:
            write_result(err.partial, path, overwrite=overwrite, inputs=inputs)
        raise
    write_result(result, path, overwrite=overwrite, inputs=inputs)
    return path, result


def write_result(result: StylizeResult, path, *, overwrite: bool = False, inputs=()) -> Path:
    path = io.save_image(result.image, path, overwrite=overwrite, inputs=inputs, alpha=result.alpha)
    result.info["output"] = str(path)
    io.write_json(io.sidecar_path(path), result.info)
    return path


def _versions() -> dict[str, str]:
    import numpy
    import PIL

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
