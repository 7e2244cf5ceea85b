"""Tiled loss evaluation: the same terms and gradients as the whole-image loss, in bounded memory."""

from __future__ import annotations

import pytest
import torch

from atelier.engine.tiled import TiledLoss
from atelier.features import VGG19
from atelier.losses import PerceptualLoss
from atelier.ops.tiling import grid, tile_for_budget


@pytest.fixture(scope="module")
def vgg():
    return VGG19(weights="random")


def images(h=80, w=112):
    g = torch.Generator().manual_seed(0)
    return [torch.rand(1, 3, h, w, generator=g) for _ in range(3)]


def make_loss(vgg, content, style, masks=None):
    loss = PerceptualLoss(vgg, style_weight=10.0, tv_weight=0.1)
    loss.set_content(content)
    grams = [loss.style_grams(style)] * (1 if masks is None else len(masks))
    loss.set_styles(grams, [1.0] * len(grams), masks)
    return loss


def value_and_grad(loss_fn, image):
    x = image.clone().requires_grad_(True)
    terms = loss_fn(x)
    terms["total"].backward()
    return {k: float(v.detach()) for k, v in terms.items()}, x.grad


def test_grid_partitions_the_image_and_aligns():
    tiles = grid(100, 70, 32, 16)
    cover = torch.zeros(100, 70)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        assert t.crop[0] % 16 == 0 and t.crop[2] % 16 == 0 and t.crop[0] <= y0 and t.crop[1] >= y1
    assert torch.equal(cover, torch.ones(100, 70))
    assert len(tiles) == 4 * 3
    with pytest.raises(ValueError):
        grid(100, 100, 30, 16)
    assert tile_for_budget(4 * 2**30, 2600, 64) % 16 == 0


@pytest.mark.parametrize("masked", [False, True])
def test_tiles_with_full_context_match_the_whole_image_exactly(vgg, masked):
    """When every crop sees the whole image (halo >= image), tiling only regroups sums: exact match."""
    content, style, image = images()
    masks = None
    if masked:
        m = torch.zeros(1, 1, 80, 112)
        m[..., :, :60] = 1
        masks = [m, 1 - m]
    whole = make_loss(vgg, content, style, masks)
    v1, g1 = value_and_grad(whole, image)
    tiled = TiledLoss(make_loss(vgg, content, style, masks), tile=32, halo=128)
    tiled.set_content(content)
    v2, g2 = value_and_grad(tiled, image)
    for k in ("content", "style", "tv", "total"):
        assert v2[k] == pytest.approx(v1[k], rel=1e-4), k
    assert (g2 - g1).abs().max() <= 1e-4 * g1.abs().max()


def test_a_larger_halo_brings_tiles_closer_and_style_targets_match(vgg):
    content, style, image = images(96, 128)
    whole = make_loss(vgg, content, style)
    v1, g1 = value_and_grad(whole, image)
    errors = []
    for halo in (16, 48):
        tiled = TiledLoss(make_loss(vgg, content, style), tile=32, halo=halo)
        tiled.set_content(content)
        v2, g2 = value_and_grad(tiled, image)
        errors.append((((g2 - g1).norm() / g1.norm()).item(), abs(v2["total"] / v1["total"] - 1)))
    assert errors[1][0] < errors[0][0] and errors[1][1] < errors[0][1], errors
    assert errors[1][0] < 0.5 and errors[1][1] < 0.15, errors
    full = whole.style_grams(style)
    exact = TiledLoss(whole, tile=32, halo=128).style_grams(style)
    for k in full:
        torch.testing.assert_close(exact[k], full[k], rtol=1e-4, atol=1e-6)
