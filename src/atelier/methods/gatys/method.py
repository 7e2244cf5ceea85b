"""Gatys et al.: style transfer by optimising the pixels of an image.

Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural Networks" (CVPR): minimise
a content loss on VGG-19 features plus a style loss on their Gram matrices, starting from the photo.
Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual Factors in Neural Style
Transfer" (CVPR): colour preservation (§3), spatial control with guided Gram matrices (§4), scale control
and coarse-to-fine optimisation for large images (§5).
Li & Wand 2016, "Combining Markov Random Fields and Convolutional Neural Networks for Image Synthesis"
(CVPR): ``style_loss='mrf'``, nearest-neighbour 3x3 feature patches at relu3_1/relu4_1 (``losses.mrf_loss``).
Gatys, Ecker & Bethge 2015, "Texture Synthesis Using Convolutional Neural Networks" (NeurIPS): the same
optimisation with the Gram (style) term alone, from noise (``texture``).

Deviations, each deliberate:
* loss terms are relative and size-independent (see ``atelier.losses``), so one ``style_strength`` means
  the same at every output size; the paper's weights (alpha/beta ~ 1e-3) are replaced by this scale;
* coarse-to-fine is the default, not only for high resolutions: sizes double from ``min_size`` to
  ``size``; each finer scale starts from the upsampled result plus the content's missing high
  frequencies (so the photo's detail is not lost to the upsampling);
* a region that no mask covers keeps the content exactly: the image is parametrised there as the photo;
* video (Ruder, Dosovitskiy & Brox 2016, §3): with ``temporal=`` each scale adds their temporal loss
  (eq. 7) towards the previous frame's result warped to this one, and the coarsest scale starts from that
  warped result where it can be trusted and from the photo at disocclusions (the paper starts from the
  warped result everywhere; the photo is a better start where the warp shows something that is not there).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

import torch

from ... import io
from ...engine.optimize import RunClock, lbfgs_history, optimize_image
from ...engine.tiled import TiledLoss
from ...errors import Interrupted, OptionError
from ...events import Done, Progress, Stage, emit
from ...features import STRIDE, get_vgg19
from ...losses import MRF_LAYERS, MRF_PATCH, PerceptualLoss, TemporalLoss
from ...ops import color
from ...ops.tiling import grid, tile_for_budget
from ...runtime import resident_bytes
from .. import TemporalGuide
from .config import GatysConfig

logger = logging.getLogger(__name__)

# The style term's scale at style_strength=1, chosen on the bundled pair and the ../shared paintings so
# that the default gave a clearly painted result that keeps the photo's structure (content weight 1; the
# default content weight is 1.7 since the shorter schedule of round 2, see config.py).
BASE_STYLE_WEIGHT = 10.0
# The temporal term's scale at temporal weight 1: it is a mean squared pixel difference (~1e-3 for a
# flickering frame), the other terms relative feature errors (~0.1-1). Chosen on ../shared/data/video so
# that weight 1 more than halves the warping error while the style distance moves by under 10 %
# (benchmarks/video.py).
BASE_TEMPORAL_WEIGHT = 1000.0
# --protect faces: the content weight at a fully protected pixel is 1 + this (the style weight there is 0).
# Chosen by hand on the two registry portraits; its effect is measured in benchmarks/results/faces.md.
PROTECT_CONTENT_BOOST = 4.0

# Peak memory model of one scale (see ``estimate``): bytes per output pixel kept for the backward pass,
# fitted to measured peaks, and a fixed part (targets, buffers) on top of the process's memory before the
# run. The measurements behind this and the next two constants: benchmarks/results/code_notes.md.
BYTES_PER_PIXEL = {"fp32": 2600, "bf16": 2100}
OVERHEAD_BYTES = 80 << 20
# Target computation at the start of a scale (forward passes over the content and the style image, tiled
# for large scales), in optimisation steps: large runs were estimated far too short without it.
SETUP_STEPS = 1.5
# Cost per pixel-iteration grows once a scale's activations outgrow the caches: flat up to 512x512 pixels,
# then about +20 % per 4x pixels (code_notes.md).
SIZE_KNEE_PIXELS, SIZE_EXPONENT = 512 * 512, 0.13
# Image-sized buffers of a scale (parameter, gradient, copies, content, targets): about 8 RGB fp32 images.
IMAGE_BYTES_PER_PIXEL = 100


# --style-loss mrf on top, per output pixel: the result's 3x3 patches at relu3_1 (C=256, 1/16 of the pixels)
# and relu4_1 (C=512, 1/64) held as patches, their unit copies, matched targets and differences (4 copies of
# C*9 fp32 values), and the painting's patches (raw and unit, 1/stride^2 of them). Estimated from the
# tensors' sizes, not fitted to measured peaks like BYTES_PER_PIXEL.
MRF_PATCH_BYTES = 4 * 9 * (256 / 16 + 512 / 64)  # one fp32 copy of both layers' patches, per pixel


def bytes_per_pixel(cfg: GatysConfig) -> float:
    """Memory per output pixel of one scale (activations kept for the backward pass, and the MRF term's
    patches with --style-loss mrf)."""
    base = BYTES_PER_PIXEL[cfg.precision]
    if cfg.style_loss != "mrf":
        return base
    return base + MRF_PATCH_BYTES * (4 + 2 / cfg.mrf_stride**2)


def scale_sizes(height: int, width: int, size: int, min_size: int, min_side: int = 16) -> list[tuple[int, int]]:
    """Sizes (h, w) of the coarse-to-fine schedule, coarsest first: long sides size/2^k >= min_size, and
    short sides >= ``min_side`` (the deepest layer's stride, so it still has at least one feature)."""
    sizes = [io.fit_size(height, width, size)]
    if min(sizes[0]) < min_side:
        raise OptionError(
            f"The output would be {sizes[0][1]}x{sizes[0][0]} pixels; its short side must be at least "
            f"{min_side} pixels for the network's deepest layer: increase --size."
        )
    while True:
        nxt = io.fit_size(height, width, round(max(sizes[-1]) / 2))
        if max(nxt) < min_size or min(nxt) < min_side:
            break
        sizes.append(nxt)
    return sizes[::-1]


def style_size_for(style: torch.Tensor, out_hw: tuple[int, int], style_scale: float,
                   min_side: int = 0) -> tuple[int, int]:
    """The style image's (h, w) so its area is style_scale^2 x the output's area (aspect kept), its short
    side at least ``min_side`` (the MRF term needs a 3x3 patch at relu4_1: 24 px)."""
    sh, sw = style.shape[-2:]
    f = style_scale * math.sqrt(out_hw[0] * out_hw[1] / (sh * sw))
    f = max(f, min_side / min(sh, sw))
    return max(16, round(sh * f)), max(16, round(sw * f))


class Gatys:
    """Optimise the pixels (Gatys et al. 2016/2017); declared in ``spec.py``."""

    def __init__(self, config: GatysConfig | None = None):
        self.config = config or GatysConfig()
        self.info: dict = {}

    def stylize(
        self,
        content: torch.Tensor,
        style: torch.Tensor | Sequence[torch.Tensor] | None = None,
        *,
        config: GatysConfig | None = None,
        generator: torch.Generator | None = None,
        callback=None,
        masks: Sequence[torch.Tensor] | None = None,
        temporal: TemporalGuide | None = None,
        layer_weights: Sequence[dict[str, float]] | None = None,
        protect: torch.Tensor | None = None,
        style_masks: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Content (1,3,H,W) and style(s) (1,3,h,w) in [0,1] -> stylised (1,3,H',W'), long side ``size``.

        ``temporal`` (video frames after the first): the previous result warped to this frame, its
        reliability and weight; adds Ruder et al.'s temporal loss and starts from the warped result.
        ``layer_weights`` (one {layer: weight} per style): each style's share per style layer, e.g. one
        painting's Grams on the coarse layers and another's on the fine ones (Gatys 2017 §5).
        ``protect`` (1,1,H,W) in [0,1] (``--protect faces``): a spatially varying style weight 1 - protect
        (the Gram matrices guided by it, Gatys 2017 §4) and content weight 1 + PROTECT_CONTENT_BOOST x
        protect. ``style_masks`` (one (1,1,h,w) mask or None per style, at its painting's size): each style's
        Gram targets are guided Grams over that region of the painting (Gatys 2017 §4), so with ``masks`` a
        photo region takes the paired painting region."""
        cfg = config or self.config  # checked by atelier.api.prepare, as are the styles and masks
        styles = [style] if isinstance(style, torch.Tensor) else list(style)
        device = content.device
        out_hw = io.fit_size(*content.shape[-2:], cfg.size)

        # Colour control acts on the inputs once (Gatys 2017 §3); the content's chroma returns at the end.
        work_content, styles = color.prepare_inputs(content, styles, cfg.preserve_color)
        if temporal is not None and cfg.preserve_color == "luminance":  # optimised on luminance only
            temporal = dataclasses.replace(temporal, previous=color.gray3(color.luminance(temporal.previous)))

        vgg = get_vgg19(pooling=cfg.pooling, weights=cfg.weights, device=device,
                        dtype=torch.bfloat16 if cfg.precision == "bf16" else torch.float32)
        loss = PerceptualLoss(
            vgg,
            content_layers=cfg.content_layers,
            style_layers=cfg.style_layers,
            style_layer_weights=cfg.style_layer_weights,
            content_weight=cfg.content_weight,
            style_weight=BASE_STYLE_WEIGHT * cfg.style_strength,
            tv_weight=cfg.tv_weight,
            style_loss=cfg.style_loss,
            mrf_stride=cfg.mrf_stride,
        )
        weights = cfg.style_weights or [1.0] * len(styles)

        sizes, plan = self.plan(content.shape[-2:], cfg)
        if cfg.style_loss == "mrf" and self._loss_for(None, sizes[-1], cfg) is not None:
            raise OptionError(f"--style-loss mrf matches patches over the whole image, and a {sizes[-1][1]}x"
                              f"{sizes[-1][0]} output needs tiles within --max-memory {cfg.max_memory:g}: "
                              "raise --max-memory or lower --size.")
        clock = RunClock(plan)
        mrf_side = self.plan_min_side(cfg) if cfg.style_loss == "mrf" else 0
        image = None
        stages = []
        for i, (hw, (_, iters)) in enumerate(zip(sizes, plan)):
            if iters == 0 and i < len(sizes) - 1:
                continue
            t0 = time.perf_counter()
            c = io.resize(work_content, hw)
            if image is None and temporal is not None:
                keep = io.resize(temporal.reliability, hw)  # trusted warp: start there; else the photo
                image = (keep * io.resize(temporal.previous, hw) + (1 - keep) * c).clamp(0, 1).contiguous()
            else:
                image = self._initial(image, c, hw, cfg, generator)
            scale_loss = self._loss_for(loss, hw, cfg)
            shield = None if protect is None else io.resize(protect.to(c), hw)  # (1,1,h,w) in [0,1]
            scale_loss.set_content(c, None if shield is None else 1 + PROTECT_CONTENT_BOOST * shield)
            grams = [scale_loss.style_grams(io.resize(s, style_size_for(s, hw, cfg.style_scale, mrf_side)), sm)
                     for s, sm in zip(styles, style_masks or [None] * len(styles))]  # sm: resized per layer
            region_masks = None if masks is None else [io.resize(m, hw) for m in masks]
            scale_loss.set_styles(grams, weights, region_masks, layer_weights,
                                  guide=None if shield is None else 1 - shield)
            render = self._renderer(c, region_masks)
            if temporal is not None and temporal.weight > 0:  # weight 0: only the start image (--refine)
                scale_loss = self._with_temporal(scale_loss, temporal, hw)
            stage = Stage(f"scale {i + 1}/{len(sizes)}", i, len(sizes), hw, iters)
            res = optimize_image(
                image, scale_loss, iterations=iters, render=render, optimizer=cfg.optimizer, lr=cfg.lr,
                tolerance=cfg.tolerance, clock=clock, stage=stage, callback=callback,
            )
            image = res.image
            stages.append({"size": list(hw), "iterations": res.iterations, "stopped_early": res.stopped_early,
                           "tile": getattr(scale_loss, "tile", None),
                           "seconds": round(time.perf_counter() - t0, 3), "losses": res.losses})
            if res.interrupted:
                self.info = self._info(stages, clock, interrupted=True)
                raise Interrupted("Interrupted by the user; the current image was kept.", partial=self._finish(
                    image, content, out_hw, cfg))
        out = self._finish(image, content, out_hw, cfg)
        self.info = self._info(stages, clock, interrupted=False)
        emit(callback, Done(iterations=clock.iteration, elapsed=clock.elapsed(), losses=stages[-1]["losses"]))
        return out

    def texture(self, sample: torch.Tensor, size: tuple[int, int], *, config: GatysConfig | None = None,
                generator: torch.Generator | None = None, callback=None, tileable: bool = False) -> torch.Tensor:
        """A (1,3,H,W) texture of ``size`` (H, W) with the Gram statistics of ``sample`` (Gatys 2015): the
        style loss alone (no content term), from seeded noise, coarse to fine like a transfer."""
        overrides = {"content_weight": 0.0, "init": "random", "preserve_color": "none"}
        cfg = dataclasses.replace(config or self.config, size=max(size), **overrides)
        canvas = torch.full((1, 3, *size), 0.5, device=sample.device)  # only its size is used
        out = self.stylize(canvas, [sample], config=cfg, generator=generator, callback=callback)
        self.info["texture_overrides"] = overrides  # the sidecar's config is the caller's; these replaced it
        return out

    @staticmethod
    def _loss_for(loss: PerceptualLoss, hw, cfg: GatysConfig):
        """The whole-image loss, or its tiled evaluation when the scale's activations exceed the budget."""
        need = bytes_per_pixel(cfg) * hw[0] * hw[1]
        if cfg.tile == 0 and need <= cfg.max_memory * 2**30:
            return loss  # None in estimate(): "not tiled"
        # Half the budget for one crop's activations: the rest holds image-sized buffers and targets.
        tile = cfg.tile or tile_for_budget(cfg.max_memory * 2**30 / 2, BYTES_PER_PIXEL[cfg.precision], cfg.halo)
        logger.info("Scale %dx%d: tiles of %d px with a %d px halo.", hw[1], hw[0], tile, cfg.halo)
        return TiledLoss(loss, tile=tile, halo=cfg.halo)

    @staticmethod
    def _with_temporal(scale_loss, temporal: TemporalGuide, hw):
        """The scale's loss plus the weighted temporal term (named "temporal" in the reported terms)."""
        term = TemporalLoss(io.resize(temporal.previous, hw), io.resize(temporal.reliability, hw))
        weight = BASE_TEMPORAL_WEIGHT * temporal.weight

        def loss_fn(image: torch.Tensor) -> dict[str, torch.Tensor]:
            terms = scale_loss(image)
            terms["temporal"] = weight * term(image)
            terms["total"] = terms["total"] + terms["temporal"]
            return terms

        return loss_fn

    @staticmethod
    def plan_min_side(cfg: GatysConfig) -> int:
        """The shortest side a scale may have: one feature at the deepest layer, and with the MRF term one
        3x3 patch at each MRF layer."""
        side = max(STRIDE[k] for k in (*cfg.content_layers, *cfg.style_layers))
        if cfg.style_loss == "mrf":
            side = max(side, *(MRF_PATCH * STRIDE[k] for k in MRF_LAYERS if k in cfg.style_layers))
        return side

    @staticmethod
    def plan(content_hw, cfg: GatysConfig) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The coarse-to-fine schedule: sizes (h, w) and (pixels, planned iterations) per scale."""
        sizes = scale_sizes(*content_hw, cfg.size, min(cfg.min_size, cfg.size), Gatys.plan_min_side(cfg))
        last = len(sizes) - 1
        # Scale i sits last - i steps below the output: coarse_iterations x growth^(steps - 1) there.
        plan = [(h * w, round(cfg.coarse_iterations * cfg.coarse_growth ** (last - i - 1)) if i < last
                 else cfg.iterations) for i, (h, w) in enumerate(sizes)]
        return sizes, plan

    def estimate(self, content: torch.Tensor, style, *, config: GatysConfig | None = None) -> dict:
        """Predicted wall time and peak memory of ``stylize`` with these inputs, without running it.

        Time: two timed L-BFGS steps at a 256 px calibration scale (after one warm-up) give seconds per
        pixel-iteration, times the planned pixel-iterations, each scale's (or tile's) weighted by the growth
        of the cost with size above 512x512 pixels (SIZE_EXPONENT). An upper bound when the stopping rule
        ends scales early.
        Memory: this process's resident memory now (after the calibration) plus, at the largest scale, the
        activations kept for the backward pass (BYTES_PER_PIXEL, measured at 512 and 1024 px) and the
        L-BFGS history.
        """
        cfg = config or self.config
        styles = [style] if isinstance(style, torch.Tensor) else list(style)
        sizes, plan = self.plan(content.shape[-2:], cfg)
        calib = io.fit_size(*content.shape[-2:], min(256, cfg.size))
        probe = Gatys(dataclasses.replace(cfg, size=max(calib), min_size=max(calib), iterations=3, tolerance=0.0))
        stamps: list[float] = []
        probe.stylize(io.resize(content, calib), [io.resize(s, calib) for s in styles],
                      callback=lambda e: stamps.append(time.perf_counter()) if isinstance(e, Progress) else None)
        per_px_it = (stamps[-1] - stamps[0]) / 2 / (calib[0] * calib[1])
        work = 0.0
        for (h, w), (px, it) in zip(sizes, plan):
            factor, px_act = self._scale_work((h, w), cfg)
            # + one step's worth per scale for the targets (forward passes over content and style images).
            work += px * (it + SETUP_STEPS) * factor * max(1.0, px_act / SIZE_KNEE_PIXELS) ** SIZE_EXPONENT
        peak = resident_bytes() + self.peak_bytes(content.shape[-2:], cfg)
        return {
            "seconds": per_px_it * work,
            "peak_bytes": int(peak),
            "scales": [{"size": [h, w], "iterations": it} for (h, w), (_, it) in zip(sizes, plan)],
            "seconds_per_megapixel_iteration": per_px_it * 1e6,
        }

    @classmethod
    def _scale_work(cls, hw, cfg: GatysConfig) -> tuple[float, int]:
        """(work factor, pixels whose activations are alive at once) of one scale: tiled crops overlap by
        their halos, and pass 1 adds a forward (~1/3 of a step)."""
        h, w = hw
        tiled = cls._loss_for(None, (h, w), cfg)
        if tiled is None:
            return 1.0, h * w
        crops = [(t.crop[1] - t.crop[0]) * (t.crop[3] - t.crop[2]) for t in grid(h, w, tiled.tile, tiled.halo)]
        return 1.35 * sum(crops) / (h * w), max(crops)

    @classmethod
    def peak_bytes(cls, content_hw, cfg: GatysConfig) -> float:
        """Peak memory of a run above the process's own, without running anything (``estimate`` adds the
        resident memory; ``api.check_resources`` refuses a run over the machine's memory): at the largest
        scale, the activations kept for the backward pass (one tile's when tiled), the image-sized buffers
        and the L-BFGS history. The largest scale's tile grid is only planned when it is modest (a
        100000-px output is refused on its image buffers alone, before any grid is laid)."""
        sizes, _ = cls.plan(content_hw, cfg)
        h, w = sizes[-1]
        px = h * w
        buffers = OVERHEAD_BYTES + IMAGE_BYTES_PER_PIXEL * px
        buffers += 2 * lbfgs_history(3 * px) * 3 * px * 4 if cfg.optimizer == "lbfgs" else 0
        if px > 1 << 28:  # over 268 M pixels: refused anyway; the grid would take long to lay out
            return buffers + bytes_per_pixel(cfg) * min(px, 1 << 24)
        return buffers + bytes_per_pixel(cfg) * cls._scale_work((h, w), cfg)[1]

    @staticmethod
    def _renderer(content: torch.Tensor, masks: list[torch.Tensor] | None):
        if masks is None:
            return lambda p: p
        # Pixels covered by no mask keep the content exactly: image = keep*content + (1-keep)*param.
        keep = (1 - torch.stack(masks).sum(0)).clamp(0, 1)
        if float(keep.max()) == 0.0:
            return lambda p: p
        return lambda p: keep * content + (1 - keep) * p

    @staticmethod
    def _initial(prev, content, hw, cfg: GatysConfig, generator) -> torch.Tensor:
        if prev is not None:
            up = io.resize(prev, hw)
            if cfg.init == "content":
                # Add back the detail the coarser scale could not hold: content minus its blurred self.
                detail = content - io.resize(io.resize(content, prev.shape[-2:]), hw)
                up = up + detail
            return up.clamp(0, 1)
        if cfg.init == "content":
            return content.clone()
        if cfg.init == "random":
            return torch.rand(content.shape, generator=generator, device="cpu").to(content.device)
        return io.resize(io.load_image(cfg.init).to(content.device), hw)  # an image file

    @staticmethod
    def _finish(image, content, out_hw, cfg: GatysConfig) -> torch.Tensor:
        image = io.resize(image, out_hw) if tuple(image.shape[-2:]) != tuple(out_hw) else image
        if cfg.preserve_color == "luminance":
            image = color.combine_luminance(image, io.resize(content, out_hw))
        return image.clamp(0, 1)

    @staticmethod
    def _info(stages, clock: RunClock, interrupted: bool) -> dict:
        return {
            "stages": stages,
            "iterations": clock.iteration,
            "seconds": round(clock.elapsed(), 3),
            "losses": stages[-1]["losses"] if stages else {},
            "interrupted": interrupted,
        }
