"""Style transfer by sparse coding over a dictionary learnt from the painting.

Aharon, Elad & Bruckstein 2006, "K-SVD: An Algorithm for Designing Overcomplete Dictionaries for Sparse
Representation" (IEEE TSP) learns the dictionary; the image model is that of Elad & Aharon 2006, "Image
Denoising Via Sparse and Redundant Representations Over Learned Dictionaries" (IEEE TIP), eq. (13):

    X = argmin  w ||X - C||^2 + sum_ij ||D a_ij - R_ij X||^2   s.t. ||a_ij||_0 <= T0,

whose X-step is a per-pixel average of the overlapping coded patches and the photo C. Here D holds the
painting's patches, so every patch of the result is a combination of T0 of the painting's "strokes".

Why our own K-SVD (``ksvd.py``: batch OMP in torch, the atom updates in numpy) rather than scikit-learn:
it is the cited algorithm (OMP codes with an l0 budget and atom-by-atom rank-1 updates; scikit-learn's
MiniBatchDictionaryLearning fits an l1-penalised dictionary by online updates), it needs no optional
dependency, its randomness is the caller's torch.Generator, and coding 60k patches is a few batched
matrix products.

Per scale of a Gaussian pyramid (coarse to fine; a coarser scale's patches are larger strokes):
1. the painting's patches, each minus its mean per channel (the colour stays the photo's, as the DC atom
   of Elad & Aharon), train a K-SVD dictionary (random draws among its textured patches, seeded);
2. the estimate starts as the photo (the coarser result plus the photo's missing band at finer scales)
   plus seeded noise of the painting's patch contrast, so that strokes also grow where the photo is flat;
3. ``iterations`` passes: code every mean-removed patch on the covering grid with OMP (T0 atoms), scale
   the coded patches to the painting's patch contrast (an OMP projection keeps only part of a patch's
   energy: without it the strokes fade pass after pass; this step is ours, denoising wants the opposite),
   put the means back, average the overlaps (``ops.patches.fold``) and fuse with the photo:
   X = (avg + w C) / (1 + w), i.e. eq. 13 with lambda = w x (patches per pixel).
Colour (Gatys 2017 §3, the shared ``ops.color``): the photo is first given the painting's colours and so
is the result ('none'); 'histogram' recolours the painting to the photo instead; 'luminance' works on the
luminance alone and puts the photo's chroma back. Pixels that no mask covers keep the photo.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch

from ... import io
from ...engine.optimize import RunClock
from ...errors import InputError, OptionError
from ...events import Done, Stage, emit
from ...ops import color, patches
from ...ops.masks import keep_outside
from ...ops.pyramids import gaussian_pyramid, upsample
from . import ksvd
from .config import SparseConfig

logger = logging.getLogger(__name__)

# Candidate positions drawn per training patch: the flat ones (mean-removed energy under FLAT of the
# painting's mean) are dropped, the rest feed K-SVD.
DRAWS, FLAT = 2, 0.05
# The contrast gain of a pass is at most this (a pass over an almost flat estimate must not blow noise up).
MAX_GAIN = 8.0
# Relative cost of one K-SVD sweep per training patch against coding one patch (atom updates, measured).
SWEEP_COST = 3.0


def transfer_color(image: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
    """``image`` given ``painting``'s colour statistics (3 channels) or luminance mean and spread (1)."""
    if image.shape[1] == 1:
        return color.match_luminance(image, painting)
    return color.match_color_histogram(image, painting)


def mean_removed(p: torch.Tensor, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches (L, c*s*s) -> (patches minus their mean per channel, the means (L, c, 1))."""
    v = p.view(p.shape[0], channels, -1)
    mean = v.mean(-1, keepdim=True)
    return (v - mean).reshape(p.shape[0], -1), mean


class Sparse:
    """Sparse codes over the painting's K-SVD dictionary; declared in ``spec.py``."""

    def __init__(self, config: SparseConfig | None = None):
        self.config = config or SparseConfig()
        self.info: dict = {}

    def stylize(self, content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
                config: SparseConfig | None = None, generator: torch.Generator | None = None, callback=None,
                masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Content (1,3,H,W) and one style (1,3,h,w) in [0,1] -> (1,3,H',W') with long side ``size``."""
        cfg = config or self.config
        t_start = time.perf_counter()
        painting = style if isinstance(style, torch.Tensor) else next(iter(style))
        out_hw = io.fit_size(*content.shape[-2:], cfg.size)
        photo = io.resize(content.float(), out_hw)
        s_hw = io.fit_size(*painting.shape[-2:], max(1, round(cfg.size * cfg.style_scale)))
        p = cfg.patch_size
        if min(s_hw) < p:
            raise InputError(f"The painting is {s_hw[1]}x{s_hw[0]} pixels at the working scale, smaller than the "
                             f"{p}x{p} patches: use a larger painting, a larger --style-scale or a smaller "
                             "--patch-size.")
        if min(out_hw) < p:
            raise OptionError(f"The output would be {out_hw[1]}x{out_hw[0]} pixels, smaller than the {p}x{p} "
                              "patches: increase --size or use a smaller --patch-size.")
        work_c, (work_s,) = color.prepare_inputs(photo, [io.resize(painting.float(), s_hw)], cfg.preserve_color)
        if cfg.preserve_color == "luminance":  # grey images: one channel is enough
            work_c, work_s = work_c[:, :1], work_s[:, :1]
        work_c = transfer_color(work_c, work_s)  # the photo in the painting's colours
        # Coarse to fine; a scale is used while both images still hold a patch.
        pyr = [(c, s) for c, s in zip(gaussian_pyramid(work_c, cfg.scales, min_size=1),
                                      gaussian_pyramid(work_s, cfg.scales, min_size=1))
               if min(c.shape[-2:]) >= p and min(s.shape[-2:]) >= p][::-1]
        n_train = cfg.training_patches
        plan = []
        for c, _ in pyr:
            plan += [(SWEEP_COST * n_train, cfg.dictionary_iterations),
                     (c.shape[-2] * c.shape[-1] / cfg.stride**2, cfg.iterations)]
        clock = RunClock(plan)
        stages, x, prev_c, losses = [], None, None, {}
        for level, (c, s) in enumerate(pyr):
            hw = tuple(c.shape[-2:])
            # 1. The painting's dictionary at this scale.
            t0 = time.perf_counter()
            name = f"dictionary {level + 1}/{len(pyr)}"
            emit(callback, Stage(name, 2 * level, 2 * len(pyr), tuple(s.shape[-2:]), cfg.dictionary_iterations))
            train, contrast = self._training_set(s, p, n_train, generator)
            atoms = min(cfg.atoms, train.shape[0])
            sweep = plan[2 * level][0]
            dic = ksvd.ksvd(train, atoms, cfg.sparsity, cfg.dictionary_iterations, generator=generator,
                            on_iteration=lambda i, rms, name=name, sweep=sweep: clock.advance(
                                callback, name, work=sweep, losses={"rms_error": rms}))
            stages.append({"name": name, "size": list(s.shape[-2:]), "iterations": cfg.dictionary_iterations,
                           "atoms": atoms, "training_patches": int(train.shape[0]),
                           "seconds": round(time.perf_counter() - t0, 3)})
            # 2. The starting estimate: the photo (or the coarser result and the photo's finer band) + noise.
            t0 = time.perf_counter()
            if x is None:
                x = c.clone()
            else:
                x = upsample(x, hw) + (c - upsample(prev_c, hw))
            if cfg.noise > 0:
                x = x + cfg.noise * contrast * torch.randn(x.shape, generator=generator, device="cpu").to(x)
            name = f"coding {level + 1}/{len(pyr)}"
            emit(callback, Stage(name, 2 * level + 1, 2 * len(pyr), hw, cfg.iterations))
            # 3. Code, aggregate, fuse.
            for _ in range(cfg.iterations):
                x, losses = self._pass(x, c, dic, contrast, cfg)
                clock.advance(callback, name, work=plan[2 * level + 1][0], losses=losses,
                              image=_rgb(x).detach())
            stages.append({"name": name, "size": list(hw), "iterations": cfg.iterations,
                           "seconds": round(time.perf_counter() - t0, 3), "losses": losses})
            prev_c = c
            logger.debug("sparse: scale %s done (%s)", hw, losses)
        x = transfer_color(x, work_s)
        out = color.combine_luminance(_rgb(x), photo) if cfg.preserve_color == "luminance" else x
        out = keep_outside(out, photo, masks)  # pixels that no mask covers keep the photo
        seconds = time.perf_counter() - t_start
        self.info = {"stages": stages, "iterations": clock.iteration, "seconds": round(seconds, 3),
                     "losses": losses}
        emit(callback, Done(iterations=clock.iteration, elapsed=seconds, losses=losses))
        return out.clamp(0, 1).contiguous()

    @staticmethod
    def _training_set(painting: torch.Tensor, p: int, n: int, generator) -> tuple[torch.Tensor, float]:
        """Mean-removed patches of the painting (<= n, textured ones) and its patch contrast (RMS per
        value of mean-removed patches, over all draws)."""
        h, w = painting.shape[-2:]
        count = (h - p + 1) * (w - p + 1)
        if count <= DRAWS * n:  # small painting: every patch, in random order
            cand = patches.extract(painting, p)[0]
            cand = cand[torch.randperm(count, generator=generator).to(cand.device)]
        else:
            ys = torch.randint(h - p + 1, (DRAWS * n,), generator=generator).to(painting.device)
            xs = torch.randint(w - p + 1, (DRAWS * n,), generator=generator).to(painting.device)
            cand = patches.windows_at(painting, ys, xs, p)  # (M, c*p*p)
        sig, _ = mean_removed(cand, painting.shape[1])
        energy = sig.pow(2).mean(1)  # (M,)
        contrast = float(energy.mean().sqrt())
        textured = sig[energy > FLAT * energy.mean()]
        train = textured[:n] if textured.shape[0] >= min(n, 8) else sig[:n]
        return train.contiguous(), contrast

    @staticmethod
    def _pass(x: torch.Tensor, c: torch.Tensor, dic: torch.Tensor, contrast: float,
              cfg: SparseConfig) -> tuple[torch.Tensor, dict]:
        """One pass: OMP codes of x's patches (1,c,h,w) over ``dic`` (d,K), contrast, aggregation, fusion."""
        p, stride, ch = cfg.patch_size, cfg.stride, x.shape[1]
        h, w = x.shape[-2:]
        padded = patches.cover(x, p, stride)  # every pixel in some patch
        sig, means = mean_removed(patches.extract(padded, p, stride)[0], ch)  # (L, c*p*p), (L,c,1)
        coded = ksvd.reconstruct(dic, *ksvd.omp(dic, sig, cfg.sparsity))  # (L, c*p*p)
        rms = float(coded.pow(2).mean().sqrt())
        # Ours (not in K-SVD denoising): back to the painting's patch contrast, which OMP's projection and
        # the averaging of overlaps lower; without it the strokes fade pass after pass.
        gain = min(MAX_GAIN, contrast / rms) if rms > 0 else 1.0
        z = (gain * coded).view(-1, ch, p * p) + means  # (L,c,p*p)
        agg = patches.fold(z.reshape(1, z.shape[0], -1), tuple(padded.shape[-2:]), p, stride)[..., :h, :w]
        wgt = cfg.content_weight
        out = ((agg + wgt * c) / (1 + wgt)).clamp(0, 1)
        err = float((sig - coded).norm() / sig.norm().clamp_min(1e-12))
        return out, {"coding_error": err, "gain": gain, "change": float((out - x).pow(2).mean().sqrt())}


def _rgb(x: torch.Tensor) -> torch.Tensor:
    """(1,c,H,W) working image -> (1,3,H,W) in [0,1] (grey for the luminance-only mode)."""
    return color.gray3(x) if x.shape[1] == 1 else x.clamp(0, 1)


__all__ = ["Sparse"]
