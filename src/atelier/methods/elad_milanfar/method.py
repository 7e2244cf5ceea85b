"""Style transfer via texture synthesis.

Elad & Milanfar 2017, "Style Transfer via Texture Synthesis" (IEEE TIP 26(5), 2338-2351), Algorithm 1,
which extends Kwatra, Essa, Bobick & Kwatra 2005 ("Texture Optimization for Example-based Synthesis"):

    C <- ColorTransfer(C, S); pyramids of C, S and the segmentation weight W; X <- C_Lmax + N(0, sigma)
    for each scale L (coarse to fine), each patch size n (large to small), I_alg times:
        1. patch matching:     z_ij = the nearest painting patch of R_ij X (PCA-reduced patches)
        2. robust aggregation: X~ = argmin sum_ij ||R_ij X - z_ij||^r, by IRLS
        3. content fusion:     X^ = (W + I)^-1 (X~ + W C_L)
        4. colour transfer:    X^ <- ColorTransfer(X^, S_L)
        5. denoising:          X <- Denoise(X^)
    X <- Upscale(X) to the next scale

Shared ops: ``ops.pyramids`` (pyramids, blur, the domain transform), ``ops.patches`` (the covering grid,
extraction, PCA, exact nearest neighbours, weighted aggregation) and ``ops.color``.

Choices and deviations (each also commented where it happens):
* ColorTransfer is ``ops.color.match_color_histogram``: it matches the colour mean and covariance (the
  paper matches the histograms); 'histogram' / 'luminance' colour preservation as in Gatys 2017 §3;
* matching is exact (``ops.patches.nearest``) over a regular sub-grid of at most ``candidates`` painting
  positions, in the PCA space of the patches (the paper searches all patches approximately);
* segmentation weight W: the photo's edges (colour gradient magnitude of the slightly blurred photo
  above a threshold), dilated and blurred into a map in [0,1], times ``content_weight`` -- the paper's simple
  edge-based option; faces and saliency are not detected. 'none' uses ``content_weight`` everywhere;
* Denoise is the domain transform's normalised-convolution filter (Gastal & Oliveira 2011; sigma_s = 5,
  sigma_r = 0.2 by default), an edge-preserving smoothing;
* a patch size larger than a coarse scale's image or painting is skipped at that scale;
* pixels that no mask covers keep the photo (the spatial control of the other methods).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ... import io
from ...engine.optimize import RunClock
from ...errors import InputError, OptionError
from ...events import Done, Stage, emit
from ...ops import color, patches
from ...ops.masks import keep_outside
from ...ops.pyramids import blur, domain_transform, gaussian_pyramid, upsample
from .config import EladMilanfarConfig

logger = logging.getLogger(__name__)

PCA_SAMPLES = 2000  # painting patches the PCA basis is estimated from (random, seeded)
PCA_ENERGY = 0.95  # fraction of the variance the reduced patches keep (at most pca_dims dimensions)
PROJECT_ENTRIES = 1 << 23  # patch values gathered at once while projecting the candidates (32 MiB fp32)
EDGE_THRESHOLD = 0.08  # gradient magnitude (RGB per pixel, after a sigma-1 blur) of an edge
MASK_RADIUS = 0.01  # dilation and blur of the edge map, a fraction of the long side (5 px at 512)
MIN_DISTANCE = 1e-3  # IRLS weights ||x - z||^(r-2) are capped where a patch already equals its match


@dataclass
class Database:
    """The painting's candidate patches of one size at one scale."""

    painting: torch.Tensor  # (1,c,h,w) the scale's painting
    ys: torch.Tensor  # (N,) top-left rows
    xs: torch.Tensor  # (N,) top-left columns
    mean: torch.Tensor  # (D,) PCA centre
    basis: torch.Tensor  # (D,d)
    keys: torch.Tensor  # (N,d) projected candidates


def transfer_color(image: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
    """Alg. 1's ColorTransfer: ``image`` given ``painting``'s colour mean and covariance (3 channels) or
    luminance mean and spread (1 channel, the luminance-only mode)."""
    if image.shape[1] == 1:
        return color.match_luminance(image, painting)
    return color.match_color_histogram(image, painting)


class EladMilanfar:
    """Texture-synthesis style transfer (Elad & Milanfar 2017); declared in ``spec.py``."""

    def __init__(self, config: EladMilanfarConfig | None = None):
        self.config = config or EladMilanfarConfig()
        self.info: dict = {}

    def stylize(self, content: torch.Tensor, style: torch.Tensor | Sequence[torch.Tensor] | None = None, *,
                config: EladMilanfarConfig | None = None, generator: torch.Generator | None = None,
                callback=None, masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Content (1,3,H,W) and one style (1,3,h,w) in [0,1] -> (1,3,H',W') with long side ``size``."""
        cfg = config or self.config
        t_start = time.perf_counter()
        painting = style if isinstance(style, torch.Tensor) else next(iter(style))
        out_hw = io.fit_size(*content.shape[-2:], cfg.size)
        photo = io.resize(content.float(), out_hw)
        s_hw = io.fit_size(*painting.shape[-2:], max(1, round(cfg.size * cfg.style_scale)))
        n_max = max(cfg.patch_sizes)
        if min(s_hw) < n_max:
            raise InputError(f"The painting is {s_hw[1]}x{s_hw[0]} pixels at the working scale, smaller than the "
                             f"{n_max}x{n_max} patches: use a larger painting, a larger --style-scale or smaller "
                             "--patch-sizes.")
        if min(out_hw) < n_max:
            raise OptionError(f"The output would be {out_hw[1]}x{out_hw[0]} pixels, smaller than the "
                              f"{n_max}x{n_max} patches: increase --size or use smaller --patch-sizes.")
        work_c, (work_s,) = color.prepare_inputs(photo, [io.resize(painting.float(), s_hw)], cfg.preserve_color)
        if cfg.preserve_color == "luminance":  # grey images: one channel is enough
            work_c, work_s = work_c[:, :1], work_s[:, :1]
        work_c = transfer_color(work_c, work_s)  # Alg. 1: C <- ColorTransfer(C, S)
        weight = cfg.content_weight * self._segmentation(photo, cfg)  # (1,1,H,W): W's diagonal
        # Alg. 1: Gaussian pyramids of C, S and W, as deep as the smallest allows, coarsest first.
        pyrs = [gaussian_pyramid(im, cfg.levels, min_size=1) for im in (work_c, work_s, weight)]
        depth = min(map(len, pyrs))
        c_pyr, s_pyr, w_pyr = (pyr[:depth][::-1] for pyr in pyrs)
        # Deviation: a patch size that does not fit a coarse scale's image or painting is skipped there.
        plan = [(lv, n, g) for lv in range(len(c_pyr)) for n, g in zip(cfg.patch_sizes, cfg.gaps)
                if min(c_pyr[lv].shape[-2:]) >= n and min(s_pyr[lv].shape[-2:]) >= n]
        clock = RunClock([(self._work(c_pyr[lv], s_pyr[lv], n, g, cfg), cfg.iterations) for lv, n, g in plan])
        # Alg. 1: X <- C_Lmax + strong noise (sigma = 50 of 255 in the paper).
        x = c_pyr[0] + cfg.noise * torch.randn(c_pyr[0].shape, generator=generator, device="cpu").to(c_pyr[0])
        stages, losses, level = [], {}, 0
        for index, (lv, n, gap) in enumerate(plan):
            while level < lv:  # Alg. 1: X <- Upscale(X) to the next scale
                level += 1
                x = upsample(x, c_pyr[level].shape[-2:])
            c, s, w = c_pyr[lv], s_pyr[lv], w_pyr[lv]
            hw = tuple(c.shape[-2:])
            name = f"scale {lv + 1}/{len(c_pyr)}, {n} px patches"
            emit(callback, Stage(name, index, len(plan), hw, cfg.iterations))
            t0 = time.perf_counter()
            db = self._database(s, n, cfg, generator)
            for _ in range(cfg.iterations):
                x_tilde, match = self._match_and_aggregate(x, db, n, gap, cfg)  # steps 1-2
                x_hat = (x_tilde + w * c) / (1 + w)  # 3. content fusion: (W + I)^-1 (X~ + W C), W diagonal
                # 4. colour transfer to the scale's painting (deviation: mean and covariance, not histograms)
                x_hat = transfer_color(x_hat.clamp(0, 1), s)
                # 5. denoise (sigma_s in the pixels of this scale, as the paper filters each scale's X)
                x = domain_transform(x_hat, cfg.denoise_sigma_s, cfg.denoise_sigma_r)
                losses = {"match_error": match}
                clock.advance(callback, name, work=clock.stages[index][0], losses=losses,
                              image=(color.gray3(x) if x.shape[1] == 1 else x.clamp(0, 1)).detach())
            stages.append({"name": name, "size": list(hw), "patch_size": n, "gap": gap,
                           "candidates": int(db.keys.shape[0]), "pca_dims": int(db.basis.shape[1]),
                           "iterations": cfg.iterations, "seconds": round(time.perf_counter() - t0, 3),
                           "losses": losses})
            logger.debug("elad_milanfar: %s done (%s)", name, losses)
        while level < len(c_pyr) - 1:  # scales where no patch size fitted
            level += 1
            x = upsample(x, c_pyr[level].shape[-2:])
        out = color.combine_luminance(color.gray3(x), photo) if cfg.preserve_color == "luminance" else x
        out = keep_outside(out, photo, masks)  # pixels that no mask covers keep the photo
        seconds = time.perf_counter() - t_start
        self.info = {"stages": stages, "iterations": clock.iteration, "seconds": round(seconds, 3),
                     "losses": losses}
        emit(callback, Done(iterations=clock.iteration, elapsed=seconds, losses=losses))
        return out.clamp(0, 1).contiguous()

    # ------------------------------------------------------------------------------------------ internals

    @staticmethod
    def _segmentation(photo: torch.Tensor, cfg: EladMilanfarConfig) -> torch.Tensor:
        """W's map (1,1,H,W) in [0,1]: the photo's edges, dilated and blurred (1 near edges, 0 far from
        them and on a flat photo, whose pixels then all take the painting's texture); ones for 'none'."""
        if cfg.segmentation == "none":
            return torch.ones_like(photo[:, :1])
        y = blur(photo, 1.0)  # (1,3,H,W): colour edges count too (an orange on a lemon differs little in luma)
        gx = torch.zeros_like(y)
        gy = torch.zeros_like(y)
        gx[..., 1:-1] = (y[..., 2:] - y[..., :-2]) / 2  # central differences
        gy[..., 1:-1, :] = (y[..., 2:, :] - y[..., :-2, :]) / 2
        edges = ((gx.pow(2) + gy.pow(2)).sum(1, keepdim=True).sqrt() > EDGE_THRESHOLD).float()  # (1,1,H,W)
        r = max(1, round(MASK_RADIUS * max(photo.shape[-2:])))
        return blur(F.max_pool2d(edges, 2 * r + 1, stride=1, padding=r), r).clamp(0, 1)

    @staticmethod
    def _work(c: torch.Tensor, s: torch.Tensor, n: int, gap: int, cfg: EladMilanfarConfig) -> float:
        """Relative cost of one iteration (for the ETA): the search, queries x candidates x dims, plus the
        IRLS aggregations, queries x patch values."""
        q = math.prod(-(-(side - n) // gap) + 1 for side in c.shape[-2:])
        cand = min(cfg.candidates, math.prod(side - n + 1 for side in s.shape[-2:]))
        return q * cand * cfg.pca_dims + 4 * q * c.shape[1] * n * n * cfg.irls_iterations

    @staticmethod
    def _database(s: torch.Tensor, n: int, cfg: EladMilanfarConfig, generator) -> Database:
        """The painting's n x n candidates on a regular sub-grid (deviation: the paper searches every
        patch approximately; here an exact search over at most ``candidates``), PCA-reduced."""
        h, w = s.shape[-2:]
        step = max(1, math.ceil(math.sqrt((h - n + 1) * (w - n + 1) / cfg.candidates)))
        rows = torch.arange(0, h - n + 1, step, device=s.device)
        cols = torch.arange(0, w - n + 1, step, device=s.device)
        ys, xs = rows.repeat_interleave(len(cols)), cols.repeat(len(rows))  # (N,)
        pick = torch.randperm(len(ys), generator=generator)[:PCA_SAMPLES].to(s.device)
        mean, basis = patches.pca_basis(patches.windows_at(s, ys[pick], xs[pick], n), cfg.pca_dims,
                                        energy=PCA_ENERGY, generator=generator)
        chunk = max(1, PROJECT_ENTRIES // (s.shape[1] * n * n))
        keys = torch.cat([(patches.windows_at(s, ys[i:i + chunk], xs[i:i + chunk], n) - mean) @ basis
                          for i in range(0, len(ys), chunk)])  # (N,d)
        return Database(s, ys, xs, mean, basis, keys)

    @staticmethod
    def _match_and_aggregate(x: torch.Tensor, db: Database, n: int, gap: int,
                             cfg: EladMilanfarConfig) -> tuple[torch.Tensor, float]:
        """Alg. 1 steps 1-2 on x (1,c,h,w): each patch of the grid at ``gap`` gets its nearest painting
        patch, then X~ = argmin sum ||R_ij X - z_ij||^r by IRLS (Kwatra 2005): weighted averages of the
        matches with weights ||R_ij X - z_ij||^(r-2) from the previous estimate. -> (X~, RMS match error)."""
        h, w = x.shape[-2:]
        padded = patches.cover(x, n, gap)  # the grid reaches the last row and column
        q = patches.extract(padded, n, gap)[0]  # (Q, c*n*n)
        _, idx = patches.nearest((q - db.mean) @ db.basis, db.keys)  # (Q,1) step 1, in PCA space
        idx = idx[:, 0]
        z = patches.windows_at(db.painting, db.ys[idx], db.xs[idx], n)  # (Q, c*n*n) full matches
        match = float((q - z).pow(2).mean().sqrt())
        est = padded
        for _ in range(cfg.irls_iterations):  # step 2: IRLS, starting from the current estimate
            dist = (q - z).norm(dim=1).clamp_min(MIN_DISTANCE)  # (Q,)
            est = patches.fold(z[None], tuple(padded.shape[-2:]), n, gap, weights=dist.pow(cfg.robust - 2)[None])
            q = patches.extract(est, n, gap)[0]
        return est[..., :h, :w], match
