"""Efros & Freeman 2001, "Image Quilting for Texture Synthesis and Transfer" (SIGGRAPH).

Synthesis (§2.1-2.2): square blocks of the sample are laid in raster order with a sixth of a block of
overlap; each is drawn at random among the sample's blocks whose squared error over the overlap with what
is already there is within (1 + tolerance) of the best, and joined to its neighbours along the
minimum-error boundary cut (``cut.py``).
Transfer (§3): the choice also weighs a correspondence error between the block's map (luminance, or
blurred luminance) in the painting and the photo's map at that place: error = alpha x overlap error +
(1 - alpha) x correspondence error. N passes, each with blocks a third smaller and alpha_i = 0.8 (i-1)/(N-1)
+ 0.1; after the first pass, the overlap error covers the whole block against the previous pass's result.

Deviations (deliberate):
* errors are means (per pixel and channel), not sums, so alpha weighs two terms of the same scale whatever
  the overlap's area;
* the painting's luminance is shifted and scaled to the photo's mean and standard deviation before the
  correspondence error (Hertzmann et al. 2001's luminance remapping): a dark painting would otherwise map
  every bright photo region to its few bright blocks;
* the blurred map uses a Gaussian of sigma = block / 8 at each pass (the paper does not give its blur);
* the block search is exact, over every position of the sample, by FFT (``ops.patches.BlockMatcher``).
"""

from __future__ import annotations

import math
import time

import torch

from ... import io
from ...engine.optimize import RunClock
from ...errors import InputError
from ...events import Done, Stage, emit
from ...ops import color, patches
from ...ops.masks import keep_outside
from ...ops.pyramids import blur
from .config import QuiltingConfig
from .cut import seam_mask

PREVIEWS_PER_PASS = 8  # progress events (with the current image) per pass


class Quilting:
    """Image quilting (Efros & Freeman 2001); declared in ``spec.py``."""

    def __init__(self, config: QuiltingConfig | None = None):
        self.config = config or QuiltingConfig()
        self.info: dict = {}

    def texture(self, sample: torch.Tensor, size: tuple[int, int], *, config: QuiltingConfig | None = None,
                generator: torch.Generator | None = None, callback=None, tileable: bool = False) -> torch.Tensor:
        """A (1,3,H,W) texture of ``size`` (H, W) quilted from ``sample`` (1,3,h,w) in [0,1] (§2.2)."""
        cfg = config or self.config
        sample = self._sample(sample, cfg)
        block = self._fits(sample, cfg.block_for(max(sample.shape[-2:]), 8))
        clock = RunClock([(1, _block_count(size, block, cfg.block_overlap(block)))])
        t0 = time.perf_counter()
        emit(callback, Stage("quilting", 0, 1, tuple(size), clock.total_iterations))
        out = self._quilt(sample, size, block, cfg, generator, clock, callback, "quilting")
        self._done(callback, clock, t0, [{"block": block, "blocks": clock.iteration}])
        return out

    def stylize(self, content: torch.Tensor, style=None, *, config: QuiltingConfig | None = None,
                generator: torch.Generator | None = None, callback=None, masks=None) -> torch.Tensor:
        """Texture transfer (§3): ``content`` (1,3,H,W) re-rendered with blocks of the painting ``style[0]``;
        with ``masks`` only inside the mask (the quilting runs on the whole photo; the rest is the photo)."""
        cfg = config or self.config
        painting = style[0] if isinstance(style, (list, tuple)) else style
        photo = io.resize_long_side(content, cfg.size) if cfg.size else content
        work, (painting,) = color.prepare_inputs(photo, [painting], cfg.preserve_color)
        hw = tuple(photo.shape[-2:])
        first = cfg.block_for(max(hw), 16)
        blocks = [max(6, round(first * (2 / 3) ** i)) for i in range(cfg.passes)]
        painting = self._sample(painting, cfg)
        self._fits(painting, blocks[0])
        clock = RunClock([(1, _block_count(hw, b, cfg.block_overlap(b))) for b in blocks])
        photo_y = color.luminance(work)
        paint_y = color.match_luminance(color.luminance(painting), photo_y)  # see the module doc
        t0, image, stages = time.perf_counter(), None, []
        for i, b in enumerate(blocks):
            alpha = cfg.alpha_start if len(blocks) == 1 else (
                cfg.alpha_start + (cfg.alpha_end - cfg.alpha_start) * i / (len(blocks) - 1))
            sigma = b / 8 if cfg.correspondence == "blurred" else 0.0
            target = (blur(photo_y, sigma), blur(paint_y, sigma), alpha)
            emit(callback, Stage(f"pass {i + 1}/{len(blocks)}", i, len(blocks), hw, clock.stages[i][1]))
            image = self._quilt(painting, hw, b, cfg, generator, clock, callback, f"pass {i + 1}", target, image)
            stages.append({"block": b, "alpha": round(alpha, 3), "blocks": clock.stages[i][1]})
        if cfg.preserve_color == "luminance":
            image = color.combine_luminance(image, photo)
        image = keep_outside(image, photo, masks)  # pixels that no mask covers keep the photo
        self._done(callback, clock, t0, stages)
        return image

    # ------------------------------------------------------------------------------------------ internals

    @staticmethod
    def _sample(sample: torch.Tensor, cfg: QuiltingConfig) -> torch.Tensor:
        return io.resize_long_side(sample, cfg.sample_size) if cfg.sample_size else sample

    @staticmethod
    def _fits(sample: torch.Tensor, block: int) -> int:
        """``block``, if the sample holds more than one block position; else one sentence."""
        if min(sample.shape[-2:]) <= block:
            raise InputError(f"The sample is {sample.shape[-1]}x{sample.shape[-2]} pixels, not larger than the "
                             f"{block}-pixel block: use a larger sample (or --sample-size) or a smaller --block.")
        return block

    def _quilt(self, sample, out_hw, block: int, cfg: QuiltingConfig, generator, clock: RunClock, callback,
               stage: str, target=None, previous=None) -> torch.Tensor:
        """One pass: blocks of ``sample`` (1,3,h,w) laid over an (H, W) canvas in raster order.

        ``target``: (photo map (1,1,H,W), painting map (1,1,h,w), alpha) for transfer; ``previous``: the
        last pass's (1,3,H,W) result, which the whole block is compared with (§3)."""
        ov = cfg.block_overlap(block)
        step = block - ov
        ny, nx = (math.ceil(max(1, s - ov) / step) for s in out_hw)
        hc, wc = ny * step + ov, nx * step + ov  # canvas covering (H, W) with whole blocks; cropped at the end
        canvas = torch.zeros(1, 3, hc, wc, device=sample.device)
        if previous is not None:
            canvas = _pad_to(previous, hc, wc)
        texture = patches.BlockMatcher(sample)
        if target is not None:
            photo_map, paint_map, alpha = target
            photo_map = _pad_to(photo_map, hc, wc)
            correspond = patches.BlockMatcher(paint_map)
        sample_np = sample[0].cpu().numpy()
        every, start = max(1, (ny * nx) // PREVIEWS_PER_PASS), clock.iteration
        for n in range(ny * nx):
            i, j = divmod(n, nx)
            y, x = i * step, j * step
            old = canvas[..., y:y + block, x:x + block]  # (1,3,b,b)
            mask = _overlap_mask(block, ov, left=j > 0, top=i > 0, device=sample.device)
            if previous is not None:
                mask = torch.ones_like(mask)  # §3: after the first pass, the whole block is compared
            errors = None
            if float(mask.sum()) > 0:
                errors = texture.ssd(old, mask) / (3 * float(mask.sum()))
            if target is not None:
                err_c = correspond.ssd(photo_map[..., y:y + block, x:x + block]) / (block * block)
                errors = err_c if errors is None else alpha * errors + (1 - alpha) * err_c
            if errors is None:  # the very first block of a synthesis: anywhere in the sample
                h_pos, w_pos = sample.shape[-2] - block + 1, sample.shape[-1] - block + 1
                flat = int(torch.randint(h_pos * w_pos, (1,), generator=generator))
            else:
                w_pos = errors.shape[-1]
                flat = patches.sample_below(errors, cfg.tolerance, generator)
            sy, sx = divmod(flat, w_pos)
            new = sample[..., sy:sy + block, sx:sx + block]
            canvas[..., y:y + block, x:x + block] = self._join(old, new, sample_np[:, sy:sy + block, sx:sx + block],
                                                               ov, j > 0, i > 0, cfg.cut)
            if (n + 1) % every == 0 or n + 1 == ny * nx:
                done = n + 1 - (clock.iteration - start)  # blocks laid since the last event
                clock.advance(callback, stage, work=done, image=canvas[..., :out_hw[0], :out_hw[1]].detach(),
                              iterations=done)
        return canvas[..., :out_hw[0], :out_hw[1]].contiguous()

    @staticmethod
    def _join(old: torch.Tensor, new: torch.Tensor, new_np, ov: int, left: bool, top: bool, cut: bool):
        """The block as pasted: ``new`` beyond the boundary cut, ``old`` (the canvas) before it."""
        if not (left or top) or not cut:
            return new
        mask = seam_mask(old[0].cpu().numpy(), new_np, ov, left, top)  # (b,b) 1 = new
        m = torch.from_numpy(mask).to(new.device)
        return old * (1 - m) + new * m

    def _done(self, callback, clock: RunClock, t0: float, stages: list[dict]) -> None:
        seconds = time.perf_counter() - t0
        self.info = {"stages": stages, "iterations": clock.iteration, "seconds": round(seconds, 3), "losses": {}}
        emit(callback, Done(iterations=clock.iteration, elapsed=seconds, losses={}))


def _block_count(hw, block: int, ov: int) -> int:
    step = block - ov
    return math.prod(math.ceil(max(1, s - ov) / step) for s in hw)


def _overlap_mask(block: int, ov: int, *, left: bool, top: bool, device) -> torch.Tensor:
    """(1,1,b,b): 1 on the strips that overlap blocks already laid (left and/or top)."""
    m = torch.zeros(1, 1, block, block, device=device)
    if left:
        m[..., :, :ov] = 1
    if top:
        m[..., :ov, :] = 1
    return m


def _pad_to(image: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(1,C,H,W) extended to (1,C,h,w) (h >= H, w >= W) by repeating its last row and column."""
    pad_h, pad_w = h - image.shape[-2], w - image.shape[-1]
    return torch.nn.functional.pad(image, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else image
