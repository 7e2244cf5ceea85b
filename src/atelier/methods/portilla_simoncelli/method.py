"""Portilla & Simoncelli: textures by matching the joint statistics of a complex steerable pyramid.

Portilla & Simoncelli 2000, "A Parametric Texture Model Based on Joint Statistics of Complex Wavelet
Coefficients" (IJCV 40(1):49-71). A texture is described by ~700 statistics per channel of its complex
steerable pyramid (marginals, auto-correlations of the low-passes and of the band magnitudes, correlations
across orientations and scales, the phase statistics; listed and normalised in ``stats.py``); a new
texture is an image with the same statistics. ``texture`` synthesises one from seeded noise; ``stylize``
is the style-transfer variant: it starts from the photo and pulls its statistics towards the painting's
for a few steps, so the photo's structure survives under the painting's texture.

Colour, after the authors' colour code (``textureColorAnalysis`` in their textureSynth toolbox; the IJCV
paper treats grey images): the RGB pixels are rotated onto the principal axes of the sample's colours
(PCA; orthonormal and not whitened, so units stay pixel units) and each principal channel gets the grey
statistics; the correlations across orientations and across scales are taken over (channel, orientation)
pairs, so they tie the channels' band magnitudes and phases together, and the channels' pixel correlations
(the colour covariance, with the per-channel variances) and the zero-lag correlations of their low-pass
images are matched too (all zero on the sample's own axes, so they keep the synthesis decorrelated). A
channel of negligible variance (the chroma of a grey sample) keeps only its mean and spread.

plenoptic (checked for this module: ``pip download plenoptic`` 2.1.1, a pure-Python wheel): its runtime
requirements are numpy>=1.1, torch>=1.8 (!=1.12.0), pyrtools, scipy, matplotlib, tqdm, imageio,
scikit-image, einops, importlib-resources, pooch and lazy_loader; torchvision appears only in its docs,
test and notebook extras. It pins neither numpy<2 nor a torch version: ``pip install --dry-run`` in our
venv would keep torch 2.13 and numpy 2.4 and add 13 packages (pyrtools, scikit-image, imageio, tifffile,
pooch, requests, einops, ...), and it imports and runs there (installed into a throwaway folder). We still
implement the model in torch ourselves, with no new runtime dependency; plenoptic's
``portilla_simoncelli.py`` and ``steerable_pyramid_freq.py`` were read as the reference, and our
statistics agree with its ``PortillaSimoncelli`` to ~1e-5 on grey images (float64).

Synthesis is gradient descent on the pixels, as plenoptic does it (the paper projects onto each
constraint in turn instead): L-BFGS (``engine.optimize.optimize_image``) on the weighted squared error
of the statistics vectors, from Gaussian noise with the sample's colour mean and covariance (drawn from
the given generator). Deviations, each deliberate:
* one stage with every statistic by default: coarse to fine (``--coarse-to-fine``, plenoptic's option:
  the coarsest scale and the marginals first, one finer scale per stage) ended higher in our runs at 256 px,
  from noise (loss 0.029 vs 0.020 after 300 steps, starry_night) and from the photo (18.0 vs 12.3 after 30
  steps, the bundled pair), and looked no better;
* the loss is the squared error, not plenoptic's L2 norm (its square root), which L-BFGS prefers;
* the pixels stay in the RGB box [0,1] (the optimiser's projected steps) instead of matching min and max;
* the sample's periodic component (Moisan 2011) is measured, not the sample itself: the pyramid is
  periodic, and the jump across a sample's wrap-around edges would read as straight horizontal and
  vertical edges (the final loss on reptile_skin: 0.0059 vs 0.0085 after 200 steps at 256 px);
* stylize starts from the photo recoloured to the painting's colour mean and covariance
  (``color.match_color_histogram``): the marginals weigh little beside the correlations (they are in pixel
  units, plenoptic's weighting), so from the photo's own colours 80 steps left it grey-white where the
  painting is blue; the paper's projection onto the marginals would set them first too;
* sizes: the pyramid needs sides divisible by 2^scales. A texture is made at the next such size and
  cropped, or (``tileable``) resampled periodically to the asked size (a stretch of under 2^scales
  pixels); the photo is mirror-padded by at least 2^(scales-1) pixels per side to such a size and cropped
  back, so the periodic pyramid's wrap-around seam falls in the padding; the sample is centre-cropped. A
  texture smaller than the pyramid needs (2^scales x max(4, Na) pixels) is made at that size and cropped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ... import io
from ...engine.optimize import RunClock, optimize_image
from ...errors import InputError, Interrupted, OptionError
from ...events import Done, Progress, Stage, emit
from ...ops import color
from . import stats as ps
from .config import PortillaSimoncelliConfig

logger = logging.getLogger(__name__)

# A principal colour channel whose variance is below this fraction of the first one's (a tenth of its
# standard deviation) is "flat": only its mean and spread are matched. Normalised statistics of a nearly
# constant channel are noise divided by ~0: at 1e-4, the faint chroma axes of dark bark samples (0.06 and 0.02
# of the first axis' spread) made L-BFGS stall after ~23 steps (benchmarks/results/classical_textures.md).
FLAT_FRACTION = 1e-2
# Statistic groups reported in the losses (``info["losses"]``, progress events).
GROUPS = {"pixel": "marginals", "pixel_correlation": "color", "flat": "color", "color_lowpass": "color",
          "highpass_var": "highpass"}


def _group(name: str) -> str:
    return GROUPS.get(name) or name.split("_")[0]  # lowpass_*, magnitude_*, cross_*


@dataclasses.dataclass
class ColorBasis:
    """The sample's principal colour axes (PCA): an orthonormal basis, so values stay in pixel units."""

    mean: torch.Tensor  # (3,) the sample's mean colour
    axes: torch.Tensor  # (3,3) columns: the principal axes, largest variance first
    spread: torch.Tensor  # (3,) the sample's standard deviation along each axis
    textured: int  # the first ``textured`` channels get texture statistics; the rest are flat

    @classmethod
    def of(cls, sample: torch.Tensor) -> ColorBasis:
        """The basis of (1,3,h,w) pixels, computed in float64."""
        pixels = sample[0].flatten(1).double()  # (3, P)
        var, axes = torch.linalg.eigh(torch.cov(pixels))  # ascending
        var, axes = var.flip(0).clamp_min(0), axes.flip(1)
        # A deterministic sign per axis: its largest component positive.
        axes = axes * torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
        textured = max(1, int((var > FLAT_FRACTION * var[0]).sum()))
        return cls(pixels.mean(1), axes, var.sqrt(), textured)

    def statistics(self, image: torch.Tensor, cfg: PortillaSimoncelliConfig) -> dict[str, torch.Tensor]:
        """The statistics dict (``stats.statistics``) of ``image`` (B,3,H,W), in the precision's dtype."""
        image = image.to(_dtype(cfg))
        centred = image - self.mean.to(image)[:, None, None]
        y = torch.einsum("ck,bchw->bkhw", self.axes.to(image), centred)  # (B,3,H,W) on the principal axes
        return ps.statistics(y[:, :self.textured], cfg.n_scales, cfg.n_orientations, cfg.spatial_neighbors,
                             flat=y[:, self.textured:])


@dataclasses.dataclass
class Target:
    """What a synthesis reaches for: a sample's colour basis and statistics vector."""

    basis: ColorBasis
    stats: torch.Tensor  # (N,) the sample's statistics vector
    layout: ps.Layout
    groups: dict[str, torch.Tensor]  # group name -> (N,) bool: which entries it sums in the reported losses


def _dtype(cfg: PortillaSimoncelliConfig) -> torch.dtype:
    return torch.float64 if cfg.precision == "fp64" else torch.float32


def make_target(sample: torch.Tensor, cfg: PortillaSimoncelliConfig, what: str = "sample") -> Target:
    """The target of a sample (1,3,h,w) in [0,1]: centre-cropped to the pyramid's sizes, PCA, statistics."""
    step, need = 2**cfg.n_scales, cfg.min_side()
    h, w = sample.shape[-2:]
    if min(h, w) < need:
        raise InputError(f"The {what} is {w}x{h} pixels; {cfg.n_scales} scales with {cfg.spatial_neighbors}x"
                         f"{cfg.spatial_neighbors} neighbourhoods need at least {need} pixels per side: use a "
                         f"larger {what} or lower --n-scales or --spatial-neighbors.")
    top, left = (h % step) // 2, (w % step) // 2
    sample = sample[..., top:top + h - h % step, left:left + w - w % step].double()
    sample = periodic_component(sample)  # deviation: see the module docstring
    basis = ColorBasis.of(sample)
    if float(basis.spread[0]) < 1e-5:  # (1/255 is 4e-3) nothing to measure; normalised statistics would be 0/0
        raise InputError(f"The {what} is a single flat colour: it has no texture to measure.")
    with torch.no_grad():
        values = basis.statistics(sample, cfg)
    lay = ps.layout(values)
    names = [name for name in values for _ in range(int(lay.keep[name].sum()))]  # one per vector entry
    groups = {g: torch.tensor([_group(n) == g for n in names], device=sample.device)
              for g in dict.fromkeys(map(_group, values))}
    target = Target(basis, ps.flatten(values, lay)[0], lay, groups)
    logger.info("Portilla-Simoncelli %s: %dx%d px measured, %d statistics, %d textured colour channel(s).",
                what, sample.shape[-1], sample.shape[-2], target.stats.numel(), basis.textured)
    return target


def statistics_loss(target: Target, cfg: PortillaSimoncelliConfig, finest: int = ps.HIGHPASS):
    """loss_fn(image) -> {group: ..., "total": ...}: the weighted squared error of the statistics vectors,
    counting only the statistics of scales >= ``finest`` (coarse-to-fine stages)."""
    weights = (target.layout.weights * (target.layout.labels >= finest)).to(target.stats)

    def loss_fn(image: torch.Tensor) -> dict[str, torch.Tensor]:
        values = ps.flatten(target.basis.statistics(image, cfg), target.layout)  # (B,N)
        err = (weights * (values - target.stats)).square().sum(0)  # (N,)
        terms = {g: err[mask].sum() for g, mask in target.groups.items()}
        terms["total"] = err.sum()
        return terms

    return loss_fn


def stages(cfg: PortillaSimoncelliConfig, iterations: int) -> list[tuple[int, int]]:
    """(finest label, iterations) per stage. Coarse to fine: the coarsest scale (and the marginals) first,
    one finer scale per stage, the high-pass residual with everything at the last stage; half of the steps
    before the last stage, split evenly. Otherwise one stage with every statistic."""
    labels = list(range(cfg.n_scales - 1, -1, -1)) + [ps.HIGHPASS]
    early = iterations // 2 // (len(labels) - 1) if cfg.coarse_to_fine else 0
    plan = [(label, early) for label in labels[:-1] if early > 0]
    return plan + [(labels[-1], iterations - early * len(plan))]


def periodic_component(image: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> its periodic component (Moisan 2011, "Periodic plus smooth image decomposition"): the
    image minus the smooth image whose Laplacian cancels the jumps across its wrap-around edges. Same mean;
    the sample's borders no longer read as a strong horizontal and vertical edge to the periodic pyramid."""
    h, w = image.shape[-2:]
    jump = torch.zeros_like(image)  # the boundary image v of Moisan's eq. 9
    jump[..., 0, :] += image[..., -1, :] - image[..., 0, :]
    jump[..., -1, :] += image[..., 0, :] - image[..., -1, :]
    jump[..., :, 0] += image[..., :, -1] - image[..., :, 0]
    jump[..., :, -1] += image[..., :, 0] - image[..., :, -1]
    q = torch.arange(h, dtype=image.dtype, device=image.device)[:, None]
    r = torch.arange(w, dtype=image.dtype, device=image.device)[None, :]
    denom = 2 * torch.cos(2 * math.pi * q / h) + 2 * torch.cos(2 * math.pi * r / w) - 4  # (H,W), 0 at DC
    denom[0, 0] = 1.0
    smooth_spec = torch.fft.fft2(jump) / denom
    smooth_spec[..., 0, 0] = 0  # the smooth part has mean 0
    return image - torch.fft.ifft2(smooth_spec).real


def periodic_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B,C,h,w) periodic image -> (B,C,H,W) covering the same period (bicubic on the wrapped image), so a
    tileable image stays tileable."""
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return image
    pad = 3  # bicubic reads 2 pixels either side
    wrapped = F.pad(image, (pad, pad, pad, pad), mode="circular")

    def axis(n_out: int, n_in: int) -> torch.Tensor:  # normalised sample positions (align_corners=False)
        u = pad + (torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5
        return ((2 * u + 1) / (n_in + 2 * pad) - 1).to(image)

    gy, gx = torch.meshgrid(axis(size[0], h), axis(size[1], w), indexing="ij")
    grid = torch.stack([gx, gy], -1).expand(image.shape[0], -1, -1, -1)
    return F.grid_sample(wrapped, grid, mode="bicubic", align_corners=False).clamp(0, 1)


class PortillaSimoncelli:
    """Texture synthesis and its style-transfer variant (Portilla & Simoncelli 2000); declared in spec.py."""

    def __init__(self, config: PortillaSimoncelliConfig | None = None):
        self.config = config or PortillaSimoncelliConfig()
        self.info: dict = {}

    def texture(self, sample: torch.Tensor, size: tuple[int, int], *, config: PortillaSimoncelliConfig | None = None,
                generator: torch.Generator | None = None, callback=None, tileable: bool = False) -> torch.Tensor:
        """A texture (1,3,H,W) in [0,1], (H, W) = ``size``, with the statistics of ``sample`` (1,3,h,w)."""
        cfg = config or self.config
        step, need = 2**cfg.n_scales, cfg.min_side()
        h, w = size
        work = tuple(max(need, math.ceil(n / step) * step) for n in (h, w))
        if tileable and min(h, w) < need:
            raise OptionError(f"A tileable {w}x{h} texture is too small for {cfg.n_scales} scales with "
                              f"{cfg.spatial_neighbors}x{cfg.spatial_neighbors} neighbourhoods (at least {need} "
                              "pixels per side): make it larger or lower --n-scales.")
        target = make_target(sample, cfg)
        generator = generator or torch.Generator().manual_seed(0)
        # Gaussian noise with the sample's colour mean and covariance: (1,3,H,W) on the principal axes.
        noise = torch.randn((1, 3, *work), generator=generator, dtype=torch.float64)
        mean, axes, spread = (t.cpu() for t in (target.basis.mean, target.basis.axes, target.basis.spread))
        start = mean[:, None, None] + torch.einsum("ck,bkhw->bchw", axes, noise * spread[:, None, None])
        start = start.float().clamp(0, 1).to(sample.device)

        def finish(image: torch.Tensor) -> torch.Tensor:  # the working size -> the asked size
            return periodic_resize(image, (h, w)) if tileable else image[..., :h, :w]

        return finish(self._optimize(start, target, cfg, cfg.iterations, callback, "texture", finish))

    def stylize(self, content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
                config: PortillaSimoncelliConfig | None = None, generator: torch.Generator | None = None,
                callback=None, masks=None) -> torch.Tensor:
        """Content (1,3,H,W) and one style (1,3,h,w) in [0,1] -> (1,3,H',W'), long side ``size``: the photo
        with the painting's texture statistics (no randomness: ``generator`` is not used)."""
        cfg = config or self.config  # checked by atelier.api.prepare (one style, no masks)
        style = style if isinstance(style, torch.Tensor) else style[0]
        out_hw = io.fit_size(*content.shape[-2:], cfg.size)
        work_content, (painting,) = color.prepare_inputs(content, [style], cfg.preserve_color)
        # The painting at the output's scale (its long side the output's), so its strokes keep their size.
        painting = io.resize(painting, io.fit_size(*painting.shape[-2:], max(out_hw)))
        target = make_target(painting, cfg, "painting")
        # Start from the photo recoloured to the painting's colour mean and covariance: the marginals, whose
        # weights (in pixel units) are small beside the correlations', then start right, as the paper's
        # projection onto the marginals would set them (a no-op for --preserve-color: colours already agree).
        photo = color.match_color_histogram(io.resize(work_content, out_hw), painting)
        padded, (top, left) = self._pad(photo, cfg)

        def finish(image: torch.Tensor) -> torch.Tensor:  # crop the padding, put the colours back
            image = image[..., top:top + out_hw[0], left:left + out_hw[1]]
            if cfg.preserve_color == "luminance":
                image = color.combine_luminance(image, io.resize(content, out_hw))
            return image.clamp(0, 1)

        return finish(self._optimize(padded, target, cfg, cfg.stylize_iterations, callback, "stylize", finish))

    @staticmethod
    def _pad(photo: torch.Tensor, cfg: PortillaSimoncelliConfig) -> tuple[torch.Tensor, tuple[int, int]]:
        """The photo mirror-padded to sides divisible by 2^scales, with at least 2^(scales-1) pixels of padding
        per side; returns it and the photo's top-left corner in it."""
        step, need = 2**cfg.n_scales, cfg.min_side()
        h, w = photo.shape[-2:]
        margin = step // 2
        ph, pw = (max(need, math.ceil((n + 2 * margin) / step) * step) - n for n in (h, w))
        if ph // 2 >= h or pw // 2 >= w or (ph - ph // 2) >= h or (pw - pw // 2) >= w:
            raise OptionError(f"The output would be {w}x{h} pixels, too small for {cfg.n_scales} scales with "
                              f"{cfg.spatial_neighbors}x{cfg.spatial_neighbors} neighbourhoods: increase --size "
                              "or lower --n-scales.")
        padded = F.pad(photo, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="reflect")
        return padded, (ph // 2, pw // 2)

    def _optimize(self, start: torch.Tensor, target: Target, cfg: PortillaSimoncelliConfig, iterations: int,
                  callback, kind: str, finish) -> torch.Tensor:
        """Optimise ``start`` (1,3,H,W), the working size, towards ``target``; fills ``self.info``. The progress
        events show ``finish(image)`` (the output as it would be now), as does an interruption's partial."""
        plan = stages(cfg, iterations)

        def report(event) -> None:
            if callback is not None and isinstance(event, Progress) and event.image is not None:
                event = dataclasses.replace(event, image=finish(event.image))
            emit(callback, event)

        pixels = start.shape[-2] * start.shape[-1]
        clock = RunClock([(pixels, it) for _, it in plan])
        image, records = start, []
        for i, (finest, iters) in enumerate(plan):
            t0 = time.perf_counter()
            name = kind if finest == ps.HIGHPASS else f"{kind}: coarsest {cfg.n_scales - finest} of {cfg.n_scales} scales"
            stage = Stage(name, i, len(plan), tuple(start.shape[-2:]), iters)
            res = optimize_image(image, statistics_loss(target, cfg, finest), iterations=iters,
                                 tolerance=cfg.tolerance, clock=clock, stage=stage, callback=report)
            image = res.image
            records.append({"finest_scale": finest, "iterations": res.iterations,
                            "stopped_early": res.stopped_early, "seconds": round(time.perf_counter() - t0, 3),
                            "losses": res.losses})
            if res.interrupted:
                self.info = self._info(records, clock, target, start, kind, interrupted=True)
                raise Interrupted("Interrupted by the user; the current image was kept.", partial=finish(image))
        self.info = self._info(records, clock, target, start, kind, interrupted=False)
        emit(callback, Done(iterations=clock.iteration, elapsed=clock.elapsed(), losses=records[-1]["losses"]))
        return image

    @staticmethod
    def _info(records, clock: RunClock, target: Target, start, kind: str, interrupted: bool) -> dict:
        return {
            "kind": kind,
            "stages": records,
            "iterations": clock.iteration,
            "seconds": round(clock.elapsed(), 3),
            "losses": records[-1]["losses"] if records else {},
            "interrupted": interrupted,
            "working_size": list(start.shape[-2:]),
            "color": {"axes": target.basis.axes.T.tolist(), "textured_channels": target.basis.textured},
            "statistics": int(target.stats.numel()),
        }
