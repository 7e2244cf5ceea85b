"""Efros & Leung 1999, "Texture Synthesis by Non-parametric Sampling" (ICCV).

A texture is grown pixel by pixel from a small seed patch of the sample (§2.1). Each new pixel on the
boundary of what is synthesised gets the centre value of a sample neighbourhood that matches its known
neighbours: the distance is the sum of squared differences over the known pixels, weighted by a Gaussian
centred on the pixel (sigma = window / 6.4), normalised by the total weight; every sample neighbourhood
within (1 + epsilon) of the best is a candidate and one is drawn at random; a pixel whose best match is
worse than MaxErrThreshold waits, and the threshold rises by 10 % when no pixel qualifies. Pixels with the
most known neighbours go first (the "onion" order). Hole filling (§3) is the same growth inside a mask,
with the photo's own intact neighbourhoods as the sample.

Deviations (deliberate):
* the search is vectorised: a batch of front pixels (``batch``, 64 by default) is matched at once, each
  against the image as it was before the batch, by two matrix products against every sample
  neighbourhood (``ops.patches.nearest``'s weighted form). With ``batch = 1`` it is the paper's order;
* the distance is a mean per channel of [0, 1] values, so MaxErrThreshold = 0.3 is the paper's number in
  these units (it rarely binds; epsilon does the choosing);
* candidate neighbourhoods lie wholly inside the sample (the paper's implementations do the same), and
  a tileable texture compares neighbourhoods across the output's wrap-around (the canvas is a torus).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ... import io
from ...engine.optimize import RunClock
from ...errors import InputError
from ...events import Done, Stage, emit
from ...ops import patches
from ...ops.pyramids import gaussian_window
from .config import EfrosLeungConfig

SEED = 3  # side of the seed patch copied from a random place of the sample (§2.1)
SIGMA_DIVISOR = 6.4  # Gaussian of the window: sigma = window / 6.4 (§2.1)
PREVIEWS = 20  # progress events over a run (each carries the current image)


class EfrosLeung:
    """Non-parametric sampling (Efros & Leung 1999); declared in ``spec.py``."""

    def __init__(self, config: EfrosLeungConfig | None = None):
        self.config = config or EfrosLeungConfig()
        self.info: dict = {}

    def texture(self, sample: torch.Tensor, size: tuple[int, int], *, config: EfrosLeungConfig | None = None,
                generator: torch.Generator | None = None, callback=None, tileable: bool = False) -> torch.Tensor:
        """A (1,3,H,W) texture of ``size`` (H, W) grown from ``sample`` (1,3,h,w) in [0,1]."""
        cfg = config or self.config
        if cfg.sample_size:
            sample = io.resize_long_side(sample, cfg.sample_size)
        keys, centres = self._keys(sample, cfg.window)
        h, w = size
        canvas = torch.zeros(1, 3, h, w, device=sample.device)
        known = torch.zeros(h, w, dtype=torch.bool, device=sample.device)
        # The seed: a SEED x SEED patch from a random place of the sample, at the canvas' centre (§2.1).
        sy = int(torch.randint(sample.shape[-2] - SEED + 1, (1,), generator=generator))
        sx = int(torch.randint(sample.shape[-1] - SEED + 1, (1,), generator=generator))
        y0, x0 = (h - SEED) // 2, (w - SEED) // 2
        canvas[..., y0:y0 + SEED, x0:x0 + SEED] = sample[..., sy:sy + SEED, sx:sx + SEED]
        known[y0:y0 + SEED, x0:x0 + SEED] = True
        return self._grow(canvas, known, keys, centres, cfg, generator, callback, wrap=tileable)

    def stylize(self, content: torch.Tensor, style=None, *, config: EfrosLeungConfig | None = None,
                generator: torch.Generator | None = None, callback=None, masks=None) -> torch.Tensor:
        """Hole filling (§3): the region of ``masks[0]`` (white = fill) grown from the rest of ``content``."""
        cfg = config or self.config
        image = io.resize_long_side(content, cfg.size) if cfg.size else content
        hole = io.resize(masks[0], image.shape[-2:])[0, 0] > 0.5  # (H,W)
        # The sample: every window of the photo that touches no hole pixel.
        touches = F.max_pool2d(hole[None, None].float(), cfg.window, stride=1)[0, 0] > 0  # (H-2r, W-2r)
        keys, centres = self._keys(image, cfg.window)
        keys, centres = keys[~touches.flatten()], centres[~touches.flatten()]
        if len(keys) == 0:
            raise InputError(f"The mask leaves no intact {cfg.window}x{cfg.window} neighbourhood of the photo to "
                             "fill the hole from: use a smaller mask or --window.")
        canvas = image * (~hole)
        known = ~hole
        if bool(known.all()):
            self.info = {"filled_pixels": 0, "seconds": 0.0, "iterations": 0}
            return image
        return self._grow(canvas, known, keys, centres, cfg, generator, callback, wrap=False)

    # ------------------------------------------------------------------------------------------ internals

    @staticmethod
    def _keys(sample: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every window x window neighbourhood of the sample (N, 3*window^2) and its centre pixel (N, 3)."""
        if min(sample.shape[-2:]) < window:
            raise InputError(f"The sample is {sample.shape[-1]}x{sample.shape[-2]} pixels, smaller than the "
                             f"{window}x{window} neighbourhood: use a larger sample or a smaller --window.")
        keys = patches.extract(sample, window)[0]  # (N, 3*w*w), channel-major
        centre = (window // 2) * window + window // 2
        centres = keys.view(len(keys), 3, window * window)[:, :, centre]
        return keys.contiguous(), centres

    def _grow(self, canvas, known, keys, centres, cfg: EfrosLeungConfig, generator, callback, wrap: bool):
        """Fill every unknown pixel of ``canvas`` (1,3,H,W) (``known`` (H,W) bool) from the sample's
        neighbourhoods ``keys`` (N, 3*w*w) with centres (N, 3)."""
        t0 = time.perf_counter()
        w, r = cfg.window, cfg.window // 2
        h_img, w_img = known.shape
        total = int((~known).sum())
        # (3*w*w,) channel-major like the keys; its scale cancels in the normalised distance
        gauss = gaussian_window(w, w / SIGMA_DIVISOR, device=canvas.device).flatten().repeat(3)
        ones = torch.ones(1, 1, w, w, device=canvas.device)
        clock = RunClock([(1, total)])
        emit(callback, Stage("growing", 0, 1, (h_img, w_img), total))
        threshold, filled, every = cfg.max_error, 0, max(1, total // PREVIEWS)
        next_report = every
        pad = (r, r, r, r)
        while filled < total:
            # The front: unknown pixels with known neighbours, those with the most known neighbours first.
            k_pad = F.pad(known[None, None].float(), pad, mode="circular" if wrap else "constant")
            counts = F.conv2d(k_pad, ones)[0, 0]  # (H,W) known pixels in each window
            counts[known] = -1
            order = torch.argsort(counts.flatten(), descending=True, stable=True)
            front = order[: cfg.batch]
            front = front[counts.flatten()[front] > 0]
            ys, xs = front // w_img, front % w_img
            c_pad = F.pad(canvas, pad, mode="circular") if wrap else F.pad(canvas, pad)
            queries = patches.windows_at(c_pad, ys, xs, w)  # (B, 3*w*w)
            mask = patches.windows_at(k_pad, ys, xs, w).repeat(1, 3)  # (B, 3*w*w), 1 where known
            weights = mask * gauss
            d = patches.squared_distances(queries, keys, weights) / weights.sum(1, keepdim=True)  # (B,N)
            best = d.min(1, keepdim=True).values
            pick = _draw(d <= best * (1 + cfg.epsilon) + 1e-12, generator)  # (B,)
            ok = best[:, 0] < threshold
            if not bool(ok.any()):
                threshold *= 1.1  # §2.1: no progress -> raise MaxErrThreshold by 10 %
                continue
            ys, xs, pick = ys[ok], xs[ok], pick[ok]
            canvas[0, :, ys, xs] = centres[pick].T
            known[ys, xs] = True
            filled += int(ok.sum())
            if filled >= next_report or filled == total:
                clock.advance(callback, "growing", work=filled - clock.work_done,
                              losses={"match_error": float(best[ok].mean())}, image=canvas.detach(),
                              iterations=filled - clock.iteration)
                next_report = filled + every
        seconds = time.perf_counter() - t0
        self.info = {"filled_pixels": total, "iterations": total, "seconds": round(seconds, 3),
                     "final_threshold": threshold, "losses": {}}
        emit(callback, Done(iterations=total, elapsed=seconds, losses={}))
        return canvas.clamp(0, 1)


def _draw(candidates: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One random True column per row of ``candidates`` (B,N) bool -> (B,) indices (uniform among them)."""
    u = torch.rand(candidates.shape, generator=generator, device="cpu").to(candidates.device)
    return torch.where(candidates, u, -1.0).argmax(1)
