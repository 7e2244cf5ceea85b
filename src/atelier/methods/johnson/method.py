"""Johnson et al.: style transfer in one forward pass of a network trained for one style.

Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution"
(ECCV), §3.1: an image transformation network f_W maps the photo to the stylised image, y = f_W(x); the
style is in the weights (trained by ``methods/johnson/train.py``), so inference needs only the model file.

Deliberate deviations and additions:
* large images run in overlapping tiles cross-faded in their overlaps (``ops.tiling.run_blended``), with
  memory bounded by one tile. The network's instance normalisation (Ulyanov et al. 2016) normalises by the
  statistics of the whole image, so tiles normalised on their own would each get their own contrast and
  colour cast, which shows as seams. We first run the network once on the whole image, reduced to the
  size one tile may have, record every normalisation layer's per-channel mean and variance, and run the
  tiles with those statistics frozen. When the whole image fits the budget the statistics are exact; for
  larger ones they come from the reduced copy (close: they are image-wide averages);
* colour preservation (Gatys et al. 2017 §3) without a style image: 'luminance' runs the network on the
  photo's grey luminance and puts the photo's I/Q chroma back (pointwise, so it is done tile by tile);
  'histogram' recolours the result to the photo's colour mean and covariance (the paper recolours the
  style image before training, which a trained network cannot do).
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import torch
from torch import nn

from ... import io
from ...devices import resolve_precision
from ...engine import inference
from ...engine.checkpoint import ModelCache
from ...engine.compiled import Compiled
from ...engine.inference import IMAGE_BYTES_PER_PIXEL, InferenceRun
from ...errors import OptionError
from ...ops import color
from ...ops.tiling import blend_tile_count
from ...runtime import resident_bytes
from ...weights import find_model
from .config import JohnsonConfig
from .model import TransformerNet

logger = logging.getLogger(__name__)

# Peak activation memory of one forward pass (no autograd), per pixel and per channel of the network's
# first layer: measured as the peak-RSS growth of a 192 and a 384 px forward on a CPU: compact (16
# channels) 533-546 B/px and paper (32) 1187-1198 B/px in fp32, paper 550 B/px in bf16; rounded up. The
# rest of the budget (torch itself, the image buffers) is engine.inference's.
BYTES_PER_PIXEL_PER_CHANNEL = {"fp32": 40, "bf16": 20}
ALIGN = 4  # the network downsamples twice by 2: tiles start on its 4-pixel grid
_MIN_SIDE = 8  # below this the 9x9 reflection padding has nothing to reflect
CARD_KEYS = ("style", "licence", "steps", "training_seconds", "source")  # what info["model"] shows


# ---------------------------------------------------------------------------------------- loaded networks

def _build(header: dict) -> TransformerNet:
    return TransformerNet.from_arch(header["arch"])


# The Compiled wrapper of each cached network, by the network's id: the entry holds the network, so its id
# is not reused while the entry lives; the wrapper's counts span every image of the process.
_COMPILED = ModelCache()


def load_network(path: Path, device: torch.device, dtype: torch.dtype) -> tuple[TransformerNet, dict, Compiled]:
    """(network in eval mode on ``device``/``dtype``, header, its ``Compiled`` wrapper) of a johnson
    .safetensors model; cached (``engine.inference.load_network``)."""
    net, header = inference.load_network(path, kind="johnson", build=_build, device=device, dtype=dtype)
    compiled = _COMPILED.get(id(net), lambda: Compiled(net, device))
    return net, header, compiled


class _OnnxNet:
    """An exported .onnx network run by onnxruntime: (1,3,H,W) in [0,1] -> (1,3,H,W), like TransformerNet."""

    def __init__(self, path: Path):
        self.session, self.header = inference.onnx_session(path)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return inference.run_onnx(self.session, x)


def load_onnx(path: Path) -> _OnnxNet:
    return inference.cached(path, ("onnxruntime",), lambda: _OnnxNet(path))


def _load(path: Path, backend: str, device: torch.device, dtype: torch.dtype):
    """(network, header, Compiled wrapper or None) for the backend."""
    if backend == "onnx":
        net = load_onnx(path)
        return net, net.header, None
    return load_network(path, device, dtype)


# ------------------------------------------------------------------------ instance norm with frozen stats

class _FrozenNorm(nn.Module):
    """InstanceNorm2d whose per-channel mean/variance (B,C,1,1) were measured on the whole image."""

    def __init__(self, norm: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor):
        super().__init__()
        self.norm, self.mean, self.inv_std = norm, mean, torch.rsqrt(var + norm.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.mean.to(x.dtype)) * self.inv_std.to(x.dtype)
        if self.norm.affine:
            y = y * self.norm.weight[None, :, None, None] + self.norm.bias[None, :, None, None]
        return y


def frozen_copy(net: TransformerNet, image: torch.Tensor) -> TransformerNet:
    """A copy of ``net`` whose instance norms use the statistics of ``net(image)`` (image (1,3,h,w)).

    A copy (a few MB of weights), so the cached network that other threads may be running is never
    modified.
    """
    frozen = copy.deepcopy(net)
    norms = [(name, m) for name, m in frozen.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(name):
        def record(_module, args):
            x = args[0].float()  # (B,C,h,w); statistics in fp32 also for a bf16 network
            stats[name] = (x.mean(dim=(2, 3), keepdim=True), x.var(dim=(2, 3), unbiased=False, keepdim=True))
        return record

    handles = [m.register_forward_pre_hook(hook(name)) for name, m in norms]
    try:
        with torch.inference_mode():
            frozen(image)
    finally:
        for h in handles:
            h.remove()
    for name, m in norms:
        parent_name, _, child = name.rpartition(".")
        parent = frozen.get_submodule(parent_name) if parent_name else frozen
        setattr(parent, child, _FrozenNorm(m, *stats[name]))
    return frozen


# ------------------------------------------------------------------------------------------------ method

def _precision(cfg: JohnsonConfig, device: torch.device, backend: str) -> tuple[torch.dtype, str]:
    """(dtype, 'fp32'|'bf16') of the network; onnxruntime runs the exported fp32 graph."""
    if backend == "onnx":
        return torch.float32, "fp32"
    dtype = resolve_precision(cfg.precision, device)
    return dtype, "bf16" if dtype == torch.bfloat16 else "fp32"


def _output_size(content_hw, size: int) -> tuple[int, int]:
    hw = tuple(content_hw) if size == 0 else io.fit_size(*content_hw, size)
    if min(hw) < _MIN_SIDE:
        raise OptionError(f"The output would be {hw[1]}x{hw[0]} pixels; the johnson method needs at least "
                          f"{_MIN_SIDE} pixels per side: increase --size.")
    return hw


def bytes_per_pixel(arch: dict, precision: str) -> int:
    """Activation bytes per output pixel of a network of ``arch`` at precision 'fp32' or 'bf16'."""
    return BYTES_PER_PIXEL_PER_CHANNEL[precision] * int(arch.get("channels", [32])[0])


def _backend(cfg: JohnsonConfig, path: Path) -> str:
    is_onnx = path.suffix.lower() == ".onnx"
    backend = cfg.backend if cfg.backend != "auto" else ("onnx" if is_onnx else "torch")
    if backend == "torch" and is_onnx:
        raise OptionError(f"'{path.name}' is an ONNX file: run it with --backend onnx (or auto).")
    if backend == "onnx" and not is_onnx:
        raise OptionError(f"--backend onnx needs an .onnx file; make one with "
                          f"'atelier export {cfg.model} --format onnx -o MODEL.onnx'.")
    return backend


def _plan(out_hw, cfg: JohnsonConfig, bpp: int) -> int:
    """The tile side (0: one pass) of an ``out_hw`` output in the --max-memory budget."""
    return inference.plan_tile(out_hw, tile=cfg.tile, overlap=cfg.overlap, max_memory=cfg.max_memory,
                               bytes_per_pixel=bpp, align=ALIGN)


def _stats_size(out_hw, cfg: JohnsonConfig, bpp: int) -> tuple[int, int]:
    return inference.stats_size(out_hw, max_memory=cfg.max_memory, bytes_per_pixel=bpp, min_side=_MIN_SIDE)


class Johnson:
    """Stylise in one pass of a feed-forward network trained for one style (Johnson et al. 2016)."""

    CARD_KEYS = CARD_KEYS

    def __init__(self, config: JohnsonConfig | None = None):
        self.config = config or JohnsonConfig()
        self.info: dict = {}

    def load(self, path: Path, backend: str, device: torch.device, dtype: torch.dtype, cfg):
        """(network, header, Compiled wrapper or None) of the model file; a subclass whose files hold
        other networks overrides this (cyclegan: one of two generators) and runs the rest as it is."""
        return _load(path, backend, device, dtype)

    def model_extra(self, cfg, backend: str, header: dict) -> dict:
        """What info["model"] records besides the name, path, arch and card."""
        return {"backend": backend}

    def stylize(self, content: torch.Tensor, style=None, *, config: JohnsonConfig | None = None,
                generator: torch.Generator | None = None, callback=None, masks=None,
                protect: torch.Tensor | None = None) -> torch.Tensor:
        """Content (1,3,H,W) in [0,1] -> stylised (1,3,H',W'), long side ``size`` (or H,W for size 0).

        ``generator`` is unused: inference is deterministic (no noise input). ``protect`` (1,1,H,W) in [0,1]
        (``--protect faces``): the painting is inside the network, with no strength to lower, so the result is
        cross-faded toward the photo by that weight (a blend, not a lighter painting; atelier/protect.py).
        """
        cfg = config or self.config  # checked by atelier.api.prepare (no style, no masks)
        run = InferenceRun(getattr(self, "name", "johnson"), callback)  # the bound method name (cyclegan)
        path = find_model(cfg.model)
        backend = _backend(cfg, path)
        dtype, prec = _precision(cfg, content.device, backend)
        net, header, compiled = self.load(path, backend, content.device, dtype, cfg)
        run.loaded()

        out_hw = _output_size(content.shape[-2:], cfg.size)
        x = io.resize(content, out_hw)  # (1,3,H',W'); the same tensor when the size is kept
        bpp = bytes_per_pixel(header.get("arch", {}), prec)
        tile = _plan(out_hw, cfg, bpp)
        run.start(out_hw, tile=tile, overlap=cfg.overlap, align=ALIGN)
        luminance = cfg.preserve_color == "luminance"

        if not tile:
            # One pass of the cached network: through torch.compile once this size repeats (--compile).
            model = net if compiled is None else (lambda t: compiled(t, cfg.compile))
        elif backend == "onnx":
            # Deviation: the exported graph normalises each tile by its own statistics (no frozen
            # statistics through onnxruntime); seams may show on large images. Use --backend torch.
            logger.warning("The onnx backend normalises each tile separately; tile edges may show. "
                           "--backend torch avoids this.")
            model = net
        else:
            model = frozen_copy(net, io.resize(x, _stats_size(out_hw, cfg, bpp)).to(dtype))

        def apply(crop: torch.Tensor) -> torch.Tensor:
            # crop (1,3,h,w) fp32 in [0,1] -> (1,3,h,w) fp32; luminance transfer is pointwise, so per tile.
            inp = color.gray3(color.luminance(crop)) if luminance else crop
            if backend == "onnx":
                y = model(inp)
            else:
                with torch.inference_mode():
                    y = model(inp.to(dtype)).float()
            return color.combine_luminance(y, crop) if luminance else y

        out = run.run(apply, x)
        if cfg.preserve_color == "histogram":
            out = color.match_color_histogram(out, x)
        if protect is not None:
            w = io.resize(protect.to(out), tuple(out.shape[-2:])).clamp(0, 1)  # (1,1,H',W')
            out = w * x.to(out) + (1 - w) * out
        self.info = run.finish(name=cfg.model, path=path, header=header, card_keys=self.CARD_KEYS,
                               model_extra=self.model_extra(cfg, backend, header))
        return out.clamp(0, 1)

    def estimate(self, content: torch.Tensor, style=None, *, config: JohnsonConfig | None = None) -> dict:
        """Predicted wall time and peak memory of ``stylize`` with these inputs, without running it.

        Time: one timed forward at 128 px (after a warm-up) gives seconds per pixel, nearly constant for a
        convolutional network; times the pixels the tiles cover (overlaps counted twice) plus the
        statistics pass. Memory: this process's resident memory now plus the image buffers and one tile's (or
        the whole image's) activations (BYTES_PER_PIXEL_PER_CHANNEL, measured at 192 and 384 px).
        """
        cfg = config or self.config
        path = find_model(cfg.model)
        backend = _backend(cfg, path)
        out_hw = _output_size(content.shape[-2:], cfg.size)
        dtype, prec = _precision(cfg, content.device, backend)
        net, header, _ = self.load(path, backend, content.device, dtype, cfg)
        bpp = bytes_per_pixel(header.get("arch", {}), prec)
        tile = _plan(out_hw, cfg, bpp)

        calib = io.resize(content, io.fit_size(*content.shape[-2:], 128))
        run = (lambda t: net(t)) if backend == "onnx" else (lambda t: net(t.to(dtype)))
        with torch.inference_mode():
            run(calib[..., :32, :32])  # warm-up
            t0 = time.perf_counter()
            run(calib)
            per_px = (time.perf_counter() - t0) / (calib.shape[-2] * calib.shape[-1])
        h, w = out_hw
        if tile:
            n_tiles, covered = blend_tile_count(h, w, tile, cfg.overlap, ALIGN)
            stats_hw = _stats_size(out_hw, cfg, bpp)
            work = covered + stats_hw[0] * stats_hw[1]
            act_px = (tile + ALIGN) ** 2
        else:
            n_tiles, work, act_px = 1, h * w, h * w
        # resident_bytes() stands for engine.inference's RUNTIME_BYTES: what this process holds already.
        peak = resident_bytes() + IMAGE_BYTES_PER_PIXEL * h * w + bpp * act_px
        return {
            "seconds": per_px * work,
            "peak_bytes": int(peak),
            "scales": [{"size": [h, w], "iterations": 1}],
            "tiles": n_tiles,
            "tile": tile or None,
            "seconds_per_megapixel": per_px * 1e6,
        }
