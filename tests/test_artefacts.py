"""The periodic-artefact measure on constructed images: a grid-modulated image against a clean one."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from atelier.metrics import evaluate, grid_energy, grid_ratio


def smooth_image(h: int = 128, w: int = 160, seed: int = 0) -> torch.Tensor:
    """A photo-like image: low-pass noise (no period of its own), (1,3,h,w) in [0,1]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g)
    x = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    return (x + 0.05 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def blocky(image: torch.Tensor, amount: float, period: int = 8) -> torch.Tensor:
    """The image with an additive pattern repeating every ``period`` pixels (a decoder's staircase)."""
    h, w = image.shape[-2:]
    tile = torch.linspace(-1, 1, period)
    pattern = (tile[:, None] + tile[None, :]) / 2  # a ramp inside each 8x8 block
    reps = pattern.repeat(h // period + 1, w // period + 1)[:h, :w]
    return (image + amount * reps[None, None]).clamp(0, 1)


def test_a_grid_raises_the_measure_and_a_clean_image_keeps_it_near_one():
    clean = smooth_image()
    other = smooth_image(seed=1)  # another clean image: the ratio stays near 1
    assert 0.5 < grid_ratio(other, clean) < 2.0
    assert grid_ratio(blocky(clean, 0.05), clean) > 3
    # more grid, more measure; the measure of a clean image is that of natural images (a few units)
    assert grid_energy(blocky(clean, 0.1)) > grid_energy(blocky(clean, 0.02)) > grid_energy(clean)
    assert grid_energy(clean) < 5


def test_another_period_is_not_counted_as_an_8_px_grid():
    clean = smooth_image()
    assert grid_ratio(blocky(clean, 0.05, period=7), clean) < 1.5
    assert grid_ratio(blocky(clean, 0.05, period=7), clean, period=7) > 3


def test_sizes_not_multiple_of_the_period_and_too_small_images():
    clean = smooth_image(101, 133)
    assert grid_ratio(blocky(clean, 0.05), clean) > 3
    with pytest.raises(ValueError, match="at least 32 pixels"):
        grid_energy(torch.rand(1, 3, 24, 64))


def test_evaluate_reports_the_grid_against_the_content(monkeypatch):
    from atelier.features import get_vgg19

    vgg = get_vgg19(weights="random")
    clean = smooth_image(64, 64)
    res = evaluate(blocky(clean, 0.08), content=clean, size=None, vgg=vgg)
    assert res["grid"] > 3
    assert math.isnan(evaluate(clean[..., :24, :24], content=clean[..., :24, :24], size=None, vgg=vgg)["grid"])
