"""Tests of atelier.ops.color: YIQ conversion, luminance-only transfer helpers, colour histogram matching.

Inputs are mid-range values so that no clamp to [0,1] interferes with the exact properties.
"""

from __future__ import annotations

import pytest
import torch

from atelier.ops.color import (
    combine_luminance,
    gray3,
    luminance,
    match_color_histogram,
    match_luminance,
    prepare_inputs,
    rgb_to_yiq,
    yiq_to_rgb,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def midrange(b: int, h: int, w: int, seed: int, lo: float = 0.35, hi: float = 0.65) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, 3, h, w, generator=gen(seed))


def correlated(h: int, w: int, seed: int, centre, mix) -> torch.Tensor:
    """(1,3,h,w) image with correlated colour channels: centre + mix @ noise, noise uniform in [-.5,.5]."""
    noise = torch.rand(3, h * w, generator=gen(seed)) - 0.5
    px = torch.tensor(centre).view(3, 1) + torch.tensor(mix) @ noise
    return px.view(3, 1, h, w).permute(1, 0, 2, 3).contiguous()


def colour_stats(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean (3,) and colour covariance (3,3) over all pixels, in float64."""
    px = img.double().permute(1, 0, 2, 3).reshape(3, -1)
    return px.mean(1), torch.cov(px, correction=0)


def test_yiq_round_trip():
    """rgb -> yiq -> rgb is the identity (and yiq -> rgb -> yiq too)."""
    x = torch.rand(2, 3, 16, 12, generator=gen(0))
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-5, rtol=0)
    y = rgb_to_yiq(x)
    torch.testing.assert_close(rgb_to_yiq(yiq_to_rgb(y)), y, atol=1e-5, rtol=0)


def test_yiq_of_primaries():
    """White has Y=1 and no chroma; Y of pure red/green/blue is the NTSC luma weight."""
    white = rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten()
    torch.testing.assert_close(white, torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    for c, weight in enumerate((0.299, 0.587, 0.114)):
        prim = torch.zeros(1, 3, 1, 1)
        prim[:, c] = 1
        assert rgb_to_yiq(prim)[0, 0].item() == pytest.approx(weight, abs=1e-6)


@pytest.mark.parametrize("value", [0.0, 0.25, 0.8, 1.0])
def test_luminance_of_gray(value):
    """A grey image's luminance is its grey value, shape (B,1,H,W)."""
    y = luminance(torch.full((2, 3, 4, 5), value))
    assert y.shape == (2, 1, 4, 5)
    torch.testing.assert_close(y, torch.full((2, 1, 4, 5), value), atol=1e-6, rtol=0)


def test_gray3_repeats_and_clamps():
    """gray3 makes a 3-channel grey image from Y, clamped to [0,1]."""
    y = torch.tensor([[-0.5, 0.3], [0.6, 1.5]]).view(1, 1, 2, 2)
    g = gray3(y)
    assert g.shape == (1, 3, 2, 2)
    for c in range(3):
        torch.testing.assert_close(g[:, c : c + 1], y.clamp(0, 1))
    torch.testing.assert_close(luminance(g), y.clamp(0, 1), atol=1e-6, rtol=0)


def test_match_luminance_moments():
    """The style's luminance takes the content's mean and standard deviation."""
    style_y = 0.2 + 0.6 * torch.rand(1, 1, 24, 24, generator=gen(1))
    content_y = 0.45 + 0.1 * torch.rand(1, 1, 16, 20, generator=gen(2))
    out = match_luminance(style_y, content_y)
    assert out.shape == style_y.shape
    assert out.mean().item() == pytest.approx(content_y.mean().item(), abs=1e-5)
    assert out.std().item() == pytest.approx(content_y.std().item(), rel=1e-4)
    # An affine map: the ordering of the style's pixels is kept.
    assert torch.equal(out.flatten().argsort(), style_y.flatten().argsort())


def test_combine_luminance_channels():
    """The result has Y of `result` and I/Q of `content` (where nothing is clamped)."""
    result, content = midrange(1, 16, 16, seed=3), midrange(1, 16, 16, seed=4)
    out = combine_luminance(result, content)
    raw = yiq_to_rgb(torch.cat([luminance(result), rgb_to_yiq(content)[:, 1:]], 1))
    assert raw.min() > 0 and raw.max() < 1  # precondition: the clamp is inactive
    assert out.shape == content.shape
    yiq = rgb_to_yiq(out)
    torch.testing.assert_close(yiq[:, :1], luminance(result), atol=1e-4, rtol=0)
    torch.testing.assert_close(yiq[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-4, rtol=0)


def test_combine_luminance_of_gray_content_is_gray():
    """With a grey content (no chroma) the output is the grey image of the result's luminance."""
    result = midrange(1, 8, 8, seed=5)
    out = combine_luminance(result, torch.full((1, 3, 8, 8), 0.4))
    torch.testing.assert_close(out, luminance(result).expand(-1, 3, -1, -1), atol=1e-5, rtol=0)


def test_combine_luminance_clamps():
    """Out-of-gamut combinations are clamped to [0,1]."""
    result = torch.ones(1, 3, 4, 4)  # Y = 1
    content = torch.zeros(1, 3, 4, 4)
    content[:, 0] = 1  # saturated red chroma
    out = combine_luminance(result, content)
    assert out.min() >= 0 and out.max() <= 1


def test_match_color_histogram_moments():
    """The recoloured style has the content's per-channel mean and colour covariance; style's shape."""
    style = correlated(40, 32, 6, (0.5, 0.45, 0.55), [[0.3, 0.1, 0.0], [0.1, 0.25, 0.05], [0.0, 0.1, 0.2]])
    content = correlated(24, 28, 7, (0.45, 0.55, 0.5), [[0.15, -0.05, 0.02], [0.0, 0.2, 0.0], [0.05, 0.05, 0.1]])
    out = match_color_histogram(style, content)
    assert out.shape == style.shape and out.dtype == style.dtype
    assert out.min() > 0 and out.max() < 1  # precondition: no clamping
    mu_o, cov_o = colour_stats(out)
    mu_c, cov_c = colour_stats(content)
    torch.testing.assert_close(mu_o, mu_c, atol=1e-3, rtol=0)
    torch.testing.assert_close(cov_o, cov_c, atol=1e-3, rtol=0)
    # The covariance really changed: the style's own statistics were far from the content's.
    assert (colour_stats(style)[1] - cov_c).abs().max() > 1e-3


def test_match_color_histogram_identity_on_self():
    """Matching an image to itself leaves it unchanged."""
    img = correlated(16, 16, 8, (0.5, 0.5, 0.5), [[0.2, 0.05, 0.0], [0.05, 0.2, 0.05], [0.0, 0.05, 0.2]])
    torch.testing.assert_close(match_color_histogram(img, img), img, atol=1e-5, rtol=0)


def test_match_color_histogram_batch_shape():
    """A batch of style images keeps its (B,3,H,W) shape and stays in [0,1]."""
    style, content = torch.rand(2, 3, 12, 10, generator=gen(9)), torch.rand(1, 3, 8, 8, generator=gen(10))
    out = match_color_histogram(style, content)
    assert out.shape == (2, 3, 12, 10)
    assert out.min() >= 0 and out.max() <= 1


def test_prepare_inputs_per_mode():
    content, style = midrange(1, 12, 16, seed=1), torch.rand(1, 3, 10, 10, generator=gen(2))
    c, (s,) = prepare_inputs(content, [style], "none")
    assert c is content and s is style
    c, (s,) = prepare_inputs(content, [style], "luminance")
    assert torch.equal(c[:, 0], c[:, 1]) and torch.equal(s[:, 1], s[:, 2])  # grey pictures
    assert torch.allclose(c[:, :1], luminance(content), atol=1e-6)
    assert float(s[:, :1].mean()) == pytest.approx(float(luminance(content).mean()), abs=0.02)
    c, (s,) = prepare_inputs(content, [style], "histogram")
    assert c is content
    assert torch.allclose(s.mean(dim=(2, 3)), content.mean(dim=(2, 3)), atol=0.02)
