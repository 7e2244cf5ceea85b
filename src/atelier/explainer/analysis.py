"""What a painting's style is made of, in the terms of the Gram style loss (Gatys, Ecker & Bethge 2016,
"Image Style Transfer Using Convolutional Neural Networks", Fig. 1):

* ``reconstruct``: white noise optimised (L-BFGS, ``engine.optimize``) to match the painting's Gram matrices
  of relu1_1, then relu1_1 + relu2_1, ... up to relu1_1 .. relu5_1: the style as each depth of the network
  sees it, from fine colour texture to larger structures;
* ``directions``: the leading eigenvectors of each layer's Gram matrix G = F F^T / HW (the directions of
  feature space that carry most of the style's energy) and where in the painting they respond: the
  projection v^T F at every position;
* ``layer_distances``: a finished stylisation's relative Gram error per layer against the painting, and
  each layer's share of their sum (what remains of the style loss, where).
"""

from __future__ import annotations

import torch

from .. import io
from ..engine.optimize import RunClock, optimize_image
from ..events import Stage
from ..losses import PerceptualLoss, gram_loss, gram_matrix

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Scale of the (relative) Gram loss in the reconstructions: the same as gatys' style weight at strength 1,
# so L-BFGS sees the gradients it sees in a transfer.
STYLE_WEIGHT = 10.0
COARSE_FROM = 3  # reconstructions 3..5 (up to relu3_1 and deeper) run coarse to fine


def reconstruct(vgg, painting: torch.Tensor, iterations: int, *, generator: torch.Generator | None = None,
                callback=None, clock: RunClock | None = None) -> list[dict]:
    """Five style reconstructions of ``painting`` (1,3,H,W) from one seeded white noise, with the Gram
    losses of the first 1..5 of LAYERS: [{"layers", "image" (1,3,H,W), "iterations", "style_loss"}].

    From relu3_1 on (``COARSE_FROM``) each runs coarse to fine like a gatys texture: half of the
    ``iterations`` at half the size (a quarter of the work per step, and the large structures of the deep
    layers settle there), then the rest at full size from the upsampled image. The first two, local
    statistics whose steps are cheap, run at full size only: upsampled, their coarse pixels stayed blocks."""
    hw = tuple(painting.shape[-2:])
    coarse = coarse_size(hw)
    steps = [(coarse, iterations // 2), (hw, iterations - iterations // 2)] if coarse else [(hw, iterations)]
    noise = torch.rand(1, 3, *hw, generator=generator, device="cpu").to(painting.device)
    out = []
    for n in range(1, len(LAYERS) + 1):
        layers = LAYERS[:n]
        image, done, losses = noise, 0, {}
        for size, iters in steps if n >= COARSE_FROM else [(hw, iterations)]:
            image = io.resize(image, size)
            target = io.resize(painting, size)
            loss = PerceptualLoss(vgg, content_layers=(), style_layers=layers, style_weight=STYLE_WEIGHT)
            loss.set_styles([loss.style_grams(target)], [1.0])
            stage = Stage(f"reconstruction {n}/{len(LAYERS)} ({'+'.join(layers)})", n - 1, len(LAYERS), size, iters)
            res = optimize_image(image, loss, iterations=iters, clock=clock, stage=stage, callback=callback)
            image, done, losses = res.image, done + res.iterations, res.losses
        out.append({"layers": list(layers), "image": image, "iterations": done,
                    "style_loss": losses.get("style", float("nan")) / STYLE_WEIGHT})
    return out


def reconstruction_plan(hw: tuple[int, int], iterations: int) -> list[tuple[int, int]]:
    """(pixels, iterations) of every stage of :func:`reconstruct`, for the run's clock."""
    coarse = coarse_size(hw)
    full = (hw[0] * hw[1], iterations)
    if coarse is None:
        return [full] * len(LAYERS)
    split = [(coarse[0] * coarse[1], iterations // 2), (hw[0] * hw[1], iterations - iterations // 2)]
    return [full] * (COARSE_FROM - 1) + split * (len(LAYERS) - COARSE_FROM + 1)


def coarse_size(hw: tuple[int, int]) -> tuple[int, int] | None:
    """Half of ``hw`` (the coarse scale of a reconstruction), or None when relu5_1 would have no feature."""
    half = io.fit_size(*hw, max(hw) // 2)
    return half if min(half) >= 16 else None


@torch.no_grad()
def directions(feats: torch.Tensor, count: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` leading eigenvectors of the Gram matrix of ``feats`` (1,C,h,w) and their responses:
    (maps (count,h,w): v_i^T F at every position, signed so that the map's mean is >= 0 (an eigenvector's
    sign is arbitrary), energy shares (count,): eigenvalue / trace, the fraction of sum_c G_cc, i.e. of
    the mean squared feature norm, that the direction carries)."""
    g = gram_matrix(feats.float())[0].double()  # (C,C), symmetric positive semi-definite
    values, vectors = torch.linalg.eigh(g)  # ascending
    k = min(count, g.shape[0])
    v = vectors[:, -k:].flip(1).float()  # (C,k), leading first
    shares = (values[-k:].flip(0) / values.sum().clamp_min(1e-12)).float()
    f = feats[0].float().flatten(1)  # (C,hw)
    maps = (v.T @ f).view(k, *feats.shape[-2:])  # (k,h,w)
    signs = torch.where(maps.flatten(1).mean(1) < 0, -1.0, 1.0)
    return maps * signs[:, None, None], shares.clamp_min(0)


@torch.no_grad()
def layer_distances(result_feats: dict[str, torch.Tensor], painting_feats: dict[str, torch.Tensor]
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """({layer: relative Gram error of the result against the painting}, {layer: its share of the sum}),
    the error normalised as the style loss is (``losses.gram_loss``); the shares sum to 1 (equal shares
    when every error is 0)."""
    d = {k: float(gram_loss(result_feats[k].float(), gram_matrix(painting_feats[k].float()))) for k in LAYERS}
    total = sum(d.values())
    shares = {k: (v / total if total > 0 else 1 / len(d)) for k, v in d.items()}
    return d, shares
