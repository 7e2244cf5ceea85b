"""One feed-forward inference path: loading trained networks, planning tiles in a memory budget, reporting.

Used by every method that stylises in one forward pass (johnson; adain and sanet through
``methods/arbitrary.py``) and by ``atelier export``. What differs per method (the network, its activation
bytes per pixel, frozen statistics, style codes) stays with the method. Exported .onnx networks are run
here too (``onnx_session``, ``run_onnx``), below the methods that run them and the exporter that checks them.

**The memory budget.** ``--max-memory M`` (GiB) bounds the whole process's peak resident memory:

    peak = RUNTIME_BYTES                      torch itself: Python, torch, oneDNN's kernels and scratch
         + IMAGE_BYTES_PER_PIXEL * H * W      the image-sized buffers of the output size H x W
         + bytes_per_pixel * A                the network's activations over A pixels

``bytes_per_pixel`` is the method's measured peak activation memory per pixel of one forward pass without
autograd (johnson: per channel of its first layer; arbitrary: VGG-19 and the decoder, plus SANet's
attention matrix). ``A`` is the whole image (one pass, ``plan_tile`` returns 0), one tile of side at most
``tile + align - 1`` (``ops.tiling.blend_spans``: the last tile of a row or column takes the remainder), or
the reduced copy of the statistics pass (``stats_size``). The networks' weights (johnson a few MB, the
VGG-19 encoder ~80 MB in fp32) are not counted apart: they fit in RUNTIME_BYTES' margin over the 0.4 GiB
torch alone measured.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import io
from ..errors import OptionError, WeightsError
from ..events import Done, Progress, Stage, emit
from ..ops.tiling import blend_tile_count, run_blended
from .checkpoint import ModelCache, load_model

logger = logging.getLogger(__name__)

# The process itself before any image. --max-memory bounds the whole process's peak, so this comes off the
# budget first: an 8K johnson run planned without it peaked at 4.2 GiB RSS for a 4 GiB budget
# (benchmarks/feedforward_large.py); torch alone measured ~0.4 GiB.
RUNTIME_BYTES = 0.5 * 2**30
# Image-sized buffers besides the network's: the content (fp32 RGB), the blended output, the caller's copy
# of the result and its 8-bit conversion for writing: about 4 fp32 RGB images = 48 bytes per pixel.
IMAGE_BYTES_PER_PIXEL = 48
TILE_STEP = 16  # planned tile sides are multiples of this (and of the method's align)
MIN_TILE = 64  # a smaller tile is mostly overlap and padding; such a budget is refused instead


# ---------------------------------------------------------------------------------------- loaded networks

_CACHE = ModelCache()  # every loaded network (and johnson's onnxruntime sessions) of the process


def cached(path: Path, tag: tuple, load: Callable[[], object]):
    """``load()`` cached by the file (resolved path, size, mtime_ns) and ``tag``: a rewritten file loads
    again, the same one never does."""
    st = path.stat()
    return _CACHE.get((str(path.resolve()), st.st_size, st.st_mtime_ns, *tag), load)


def read_network(path: Path, *, kind: str, build: Callable[[dict], nn.Module]) -> tuple[nn.Module, dict]:
    """(network in eval mode, fp32 on the CPU, no gradients; header) of a ``kind`` model file; uncached.

    ``build(header)`` makes the untrained network of the header's architecture. A file of another method,
    or whose tensors do not fit the network it describes, raises one WeightsError sentence."""
    state, header = load_model(path, method=kind)
    try:
        net = build(header)
        net.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise WeightsError(f"'{path}' does not hold a usable {kind} network ({reason}).") from err
    return net.eval().requires_grad_(False), header


def load_network(path: Path, *, kind: str, build: Callable[[dict], nn.Module], device: torch.device,
                 dtype: torch.dtype) -> tuple[nn.Module, dict]:
    """:func:`read_network` on ``device`` in ``dtype``, cached: a second image loads nothing. The cached
    network is shared (other threads may run it): callers copy it before changing it."""

    def load():
        net, header = read_network(path, kind=kind, build=build)
        logger.info("Loaded %s (%s) on %s.", path, header.get("arch"), device)
        return net.to(device=device, dtype=dtype), header

    return cached(path, (str(device), str(dtype), kind), load)


# ------------------------------------------------------------------------------------ exported networks

def require_onnx():
    """(onnx, onnxruntime), or one OptionError sentence saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise OptionError("ONNX export and inference need the 'onnx' and 'onnxruntime' packages: "
                          "pip install 'atelier[export]'.") from err
    return onnx, onnxruntime


def onnx_session(path) -> tuple[object, dict]:
    """(onnxruntime InferenceSession on the CPU, atelier header) of an exported .onnx file."""
    _, ort = require_onnx()
    from ..weights import read_header

    header = read_header(path)  # one clear sentence for a file that is not an atelier export
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for invalid graphs
        raise WeightsError(f"onnxruntime cannot load '{path}' ({str(err).splitlines()[0][:120]}).") from err
    return session, header


def run_onnx(session, x: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) in [0,1], any H, W -> the session's (B,3,H,W), on ``x``'s device (run on the CPU).

    The exported graph is the network's core, which needs sides divisible by 4 (``atelier.export``):
    padded and cropped here, as ``TransformerNet.forward`` does in Python."""
    h, w = x.shape[-2:]
    ph, pw = -h % 4, -w % 4
    inp = x.detach().float().cpu()
    if ph or pw:  # as TransformerNet.forward: reflect to a multiple of 4 (replicate for tiny inputs)
        inp = F.pad(inp, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
    name = session.get_inputs()[0].name
    y = session.run(None, {name: inp.contiguous().numpy()})[0]
    return torch.from_numpy(y)[..., :h, :w].to(x.device)


# ------------------------------------------------------------------------------------------------ budget

def activation_budget(hw, max_memory: float) -> float:
    """Bytes left for activations at output size ``hw`` (H, W) within ``max_memory`` GiB (may be < 0)."""
    h, w = hw
    return max_memory * 2**30 - RUNTIME_BYTES - IMAGE_BYTES_PER_PIXEL * h * w


def plan_tile(hw, *, tile: int, overlap: int, max_memory: float, bytes_per_pixel: float, align: int) -> int:
    """0 (one pass) or the tile side for output size ``hw``: a forced ``tile`` smaller than the image wins;
    else one pass if the whole image's activations fit the budget, else the largest square tile whose
    activations fit (side a multiple of 16 and of ``align``, at least 64 and 4 overlaps)."""
    h, w = hw
    if tile:
        return tile if tile < max(h, w) else 0
    budget = activation_budget(hw, max_memory)
    if bytes_per_pixel * h * w <= budget:
        return 0
    step = math.lcm(TILE_STEP, align)
    # A tile's activations cover up to (side + align)^2 pixels (the last tile takes the remainder).
    side = (int(math.sqrt(max(budget, 0) / bytes_per_pixel)) - align) // step * step
    smallest = max(MIN_TILE, 4 * overlap)
    if side < smallest:
        need = (RUNTIME_BYTES + IMAGE_BYTES_PER_PIXEL * h * w + bytes_per_pixel * (smallest + align) ** 2) / 2**30
        raise OptionError(f"A {w}x{h} image needs more than --max-memory {max_memory:g} GiB "
                          f"(about {need:.1f} GiB); raise it or reduce --size.")
    return side


def stats_size(hw, *, max_memory: float, bytes_per_pixel: float, min_side: int) -> tuple[int, int]:
    """(h, w) of the statistics pass before tiling: the whole image if its activations fit the budget, else
    the image reduced (aspect kept) to the largest area that fits, its long side at least ``min_side``."""
    h, w = hw
    budget = max(activation_budget(hw, max_memory), 0)
    if bytes_per_pixel * h * w <= budget:
        return h, w
    long = max(min_side, int(max(h, w) * math.sqrt(budget / bytes_per_pixel / (h * w))))
    while long > min_side and bytes_per_pixel * math.prod(io.fit_size(h, w, long)) > budget:
        long -= 1  # the short side was rounded up
    return io.fit_size(h, w, long)


# --------------------------------------------------------------------------------------------- reporting

class InferenceRun:
    """The events and ``info`` of one feed-forward run: ``Stage`` (one stage, its tiles as iterations),
    ``Progress`` after each tile (ETA from the tiles done), ``Done``.

    Made when the run starts; ``loaded()`` once the networks are loaded, ``start`` with the tile plan,
    ``run`` for the network, ``finish`` for the info dict."""

    def __init__(self, method: str, callback=None):
        self.method, self.callback = method, callback
        self.t0 = self.t_load = time.perf_counter()
        self.tile, self.overlap, self.align, self.tiles = 0, 0, 1, 1
        self.stages, self.done = 1, 0  # passes of the network over the image (WCT: one per level)

    def loaded(self) -> None:
        self.t_load = time.perf_counter()

    def start(self, hw, *, tile: int, overlap: int, align: int, stages: int = 1) -> int:
        """Emit the Stage of output size ``hw`` run in ``tile``-px tiles (0: one pass), ``stages`` times
        over (each a call of ``run``); the tile count of one pass."""
        self.tile, self.overlap, self.align, self.stages = tile, overlap, align, stages
        self.tiles = blend_tile_count(*hw, tile, overlap, align)[0] if tile else 1
        if tile:
            logger.info("%dx%d output: %d tiles of %d px, %d px overlap.", hw[1], hw[0], self.tiles, tile,
                        overlap)
        emit(self.callback, Stage(self.method, 0, 1, tuple(hw), self.tiles * stages))
        return self.tiles

    def run(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``fn(x)`` for ``x`` (B,C,H,W) -> (B,C',H,W): one call, or per tile cross-faded (``run_blended``)."""
        if self.tile:
            out = run_blended(fn, x, self.tile, self.overlap, align=self.align, on_tile=self._progress)
        else:
            out = fn(x)
            self._progress(1, 1)
        self.done += 1
        return out

    def _progress(self, i: int, n: int) -> None:
        i, n = self.done * n + i, self.stages * n  # counted over all the passes
        elapsed = time.perf_counter() - self.t_load
        emit(self.callback, Progress(self.method, i, n, {}, elapsed, elapsed / i * (n - i)))

    def finish(self, *, name: str, path: Path, header: dict, card_keys: tuple[str, ...],
               model_extra: dict | None = None, **extra) -> dict:
        """Emit ``Done`` and return the run's info: the model (name, path, ``model_extra``, arch, the card's
        ``card_keys``), the tiles, the timings and ``extra`` (method-specific entries)."""
        elapsed = time.perf_counter() - self.t0
        card = header.get("card") or {}
        info = {
            "model": {"name": name, "path": str(path), **(model_extra or {}), "arch": header.get("arch", {}),
                      "card": {k: card[k] for k in card_keys if k in card}},
            "tiles": self.tiles,
            "tile": self.tile or None,
            "overlap": self.overlap if self.tile else None,
            **extra,
            "iterations": 0,  # no optimisation: one forward pass (per tile)
            "seconds": round(elapsed, 3),
            "load_seconds": round(self.t_load - self.t0, 3),
            "losses": {},
        }
        emit(self.callback, Done(iterations=0, elapsed=elapsed, losses={}))
        return info
